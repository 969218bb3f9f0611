"""Fixed-length sequence batches from an episode dataset, padded past episode ends."""

from __future__ import annotations

import numpy as np

from .dataset import FIELDS, Episode, EpisodeDataset

_PER_STEP = [f for f in FIELDS if f != "won"]


class SequenceSampler:
    """Samples windows of ``seq_len`` rows from episodes held in memory.

    ``sample(batch_size)`` returns a dict of numpy arrays with leading axes [B, T]
    (B = batch_size, T = seq_len): every per-step episode field, plus

    - ``valid`` [B, T] bool: the row holds real data (False for padding after the episode);
    - ``is_first`` [B, T] bool: the row is the first of its episode;
    - ``won`` [B] bool; ``episode`` [B] and ``start`` [B] int: where the window came from.

    Windows start uniformly over all rows of all episodes (longer episodes are drawn more
    often); a window that runs past its episode's end is zero-padded, ``valid`` False there.
    Call :meth:`refresh` after more episodes were appended.

    ``recency_half_life`` > 0 draws recent episodes more often: an episode's weight halves for
    every that many rows appended after it (MATWM keeps its model aligned with the changing
    policy this way). 0: every row equally likely.

    ``reward_trend=(sigma, window)`` serves each episode's rewards smoothed along time
    (:func:`reward_trend`) instead of the raw ones: GAWM's reward-trend targets.
    """

    def __init__(self, dataset: EpisodeDataset, seq_len: int, *, seed: int = 0,
                 episodes: list[int] | None = None, reward_trend: tuple[float, int] | None = None,
                 recency_half_life: float = 0.0):
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if reward_trend is not None and not reward_trend[0] > 0:
            raise ValueError(f"reward_trend sigma must be > 0, got {reward_trend[0]}")
        self.dataset = dataset
        self.seq_len = seq_len
        self.reward_trend = reward_trend
        if not recency_half_life >= 0:
            raise ValueError(f"recency_half_life must be >= 0 (0: uniform), got {recency_half_life}")
        self.recency_half_life = float(recency_half_life)
        self.rng = np.random.default_rng(seed)
        self._subset = episodes
        self.episodes: list[Episode] = []
        self.refresh()

    def refresh(self, episodes: list[int] | None = None) -> None:
        """Load episodes appended since the last call (files never change once written).

        ``episodes``: the new subset of dataset indices when the sampler was built on one; it
        must extend the old subset (appending keeps a fixed held-out split, so it does).
        """
        if episodes is not None:
            if self._subset is None or list(episodes[: len(self._subset)]) != list(self._subset):
                raise ValueError("refresh(episodes=...) must extend the sampler's episode subset")
            self._subset = list(episodes)
        paths = self.dataset.episode_paths()
        if self._subset is not None:
            paths = [paths[i] for i in self._subset]
        for p in paths[len(self.episodes):]:
            ep = self.dataset.load(p)
            if self.reward_trend is not None:
                ep.rewards = reward_trend(ep.rewards, *self.reward_trend)
            self.episodes.append(ep)
        if not self.episodes:
            raise ValueError(f"dataset {self.dataset.root} has no episodes to sample from")
        self._lengths = np.array([e.obs.shape[0] for e in self.episodes])  # rows per episode

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def lengths(self) -> np.ndarray:
        """Rows of each loaded episode: [len(self)] int."""
        return self._lengths

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A batch of ``batch_size`` windows: arrays shaped [B, T, ...]."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        p = self.episode_weights()
        eps = self.rng.choice(len(self.episodes), size=batch_size, p=p)
        starts = np.array([self.rng.integers(0, self._lengths[e]) for e in eps])
        return self.gather(eps, starts)

    def episode_weights(self) -> np.ndarray:
        """Probability of drawing each loaded episode: [len(self)], summing to 1."""
        w = self._lengths.astype(np.float64)
        if self.recency_half_life > 0:
            after = np.cumsum(self._lengths[::-1])[::-1] - self._lengths  # rows appended after each
            w = w * np.exp2(-after / self.recency_half_life)
        return w / w.sum()

    def iter_windows(self, batch_size: int):
        """Every episode cut into consecutive windows, in order (for evaluation)."""
        idx = [(e, s) for e in range(len(self.episodes)) for s in range(0, self._lengths[e], self.seq_len)]
        for k in range(0, len(idx), batch_size):
            eps, starts = zip(*idx[k : k + batch_size])
            yield self.gather(np.array(eps), np.array(starts))

    def gather(self, eps: np.ndarray, starts: np.ndarray, seq_len: int | None = None) -> dict[str, np.ndarray]:
        """Windows starting at row ``starts[b]`` of loaded episode ``eps[b]``: [B, T, ...]
        (T = ``seq_len``, by default the sampler's)."""
        B, T = len(eps), seq_len or self.seq_len
        first = self.episodes[0]
        out = {f: np.zeros((B, T) + getattr(first, f).shape[1:], getattr(first, f).dtype) for f in _PER_STEP}
        valid = np.zeros((B, T), bool)  # [B, T]
        is_first = np.zeros((B, T), bool)  # [B, T]
        for b, (e, s) in enumerate(zip(eps, starts)):
            ep = self.episodes[e]
            n = min(T, ep.obs.shape[0] - s)
            for f in _PER_STEP:
                out[f][b, :n] = getattr(ep, f)[s : s + n]
            valid[b, :n] = True
            is_first[b, 0] = s == 0
        out["valid"] = valid
        out["is_first"] = is_first
        out["won"] = np.array([bool(self.episodes[e].won) for e in eps])  # [B]
        out["episode"] = np.asarray(eps)
        out["start"] = np.asarray(starts)
        return out


def reward_trend(rewards: np.ndarray, sigma: float, window: int = 0) -> np.ndarray:
    """Rewards [T, N] (row 0: none) smoothed along time with a Gaussian kernel (GAWM eqs. 4-5):
    row t gets sum_k g_k r[t+k] / sum_k g_k over |k| <= ``window`` (0: ceil(3 sigma)) and rows
    1..T-1 of the same episode, g_k = exp(-k^2 / (2 sigma^2)). Row 0 stays 0."""
    w = int(window) if window > 0 else int(np.ceil(3 * sigma))
    r = rewards[1:].astype(np.float64)  # [T-1, N] the rows that carry a reward
    n = r.shape[0]
    k = np.arange(-w, w + 1)
    g = np.exp(-(k**2) / (2.0 * sigma**2))  # [2w+1]
    num = np.zeros_like(r)
    den = np.zeros((n, 1))
    for j, off in enumerate(k):  # shift-and-add: only rows inside the episode count
        lo, hi = max(0, -off), min(n, n - off)
        if lo < hi:
            num[lo:hi] += g[j] * r[lo + off:hi + off]
            den[lo:hi] += g[j]
    out = np.zeros_like(rewards)
    out[1:] = (num / np.maximum(den, 1e-12)).astype(rewards.dtype)
    return out
