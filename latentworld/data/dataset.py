"""Append-only, crash-safe episode datasets on disk.

Layout of a dataset directory::

    meta.json                 env id, EnvSpec, format and package version (written once)
    episodes/ep_0000000.npz   one file per finished episode (numpy arrays, no pickles)

Every file is written to a temporary name, flushed, fsync-ed and then renamed into place,
so a crash or SIGKILL mid-collection loses at most the episode in flight: readers only ever
see complete files. Only one writer may append at a time (an exclusive lock file).

Time layout of one episode with L steps (T = L + 1 rows): row t holds the observation
``obs[t]`` the agents saw, the ``actions[t]`` they took there (the last row has no action:
it holds the no-op and ``has_action[t] = False``) and the ``rewards[t]`` received on
arriving at row t (``rewards[0] = 0``), so (obs[t], actions[t]) → (rewards[t+1], obs[t+1]).
``terminated``/``truncated`` are set on the last row only.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentworld._io import atomic_write_bytes, fsync_dir
from latentworld._version import __version__
from latentworld.core.spec import EnvSpec

FORMAT_VERSION = 1
_EP_RE = re.compile(r"^ep_(\d{7})\.npz$")
# field → (dtype, shape given the spec and T)
FIELDS = ("obs", "state", "actions", "action_mask", "rewards", "alive", "has_action",
          "terminated", "truncated", "won")


class DatasetError(RuntimeError):
    """A dataset directory is missing, corrupted or belongs to another environment."""


@dataclass
class Episode:
    """One finished episode (T = steps + 1 rows, N agents)."""

    obs: np.ndarray  # [T, N, obs_dim] float32
    state: np.ndarray  # [T, state_dim] float32
    actions: np.ndarray  # [T, N] int64 (last row: no-op)
    action_mask: np.ndarray  # [T, N, A] int8
    rewards: np.ndarray  # [T, N] float32 (row 0: 0)
    alive: np.ndarray  # [T, N] bool
    has_action: np.ndarray  # [T] bool (False on the last row)
    terminated: np.ndarray  # [T] bool (last row only)
    truncated: np.ndarray  # [T] bool (last row only)
    won: np.ndarray  # [] bool (False for envs without wins)

    @property
    def steps(self) -> int:
        return int(self.obs.shape[0]) - 1

    @property
    def team_return(self) -> float:
        """Sum over time of the mean reward over agents."""
        return float(self.rewards.mean(axis=1).sum())

    def validate(self, spec: EnvSpec) -> None:
        """Raise ValueError naming the first field whose shape, dtype or values are wrong."""
        T, N = self.obs.shape[0], spec.n_agents
        want = {
            "obs": (T, N, spec.obs_dim), "state": (T, spec.state_dim), "actions": (T, N),
            "action_mask": (T, N, spec.n_actions), "rewards": (T, N), "alive": (T, N),
            "has_action": (T,), "terminated": (T,), "truncated": (T,), "won": (),
        }
        if T < 2:
            raise ValueError(f"an episode needs at least one step (2 rows), got {T} rows")
        for name, shape in want.items():
            got = np.shape(getattr(self, name))
            if got != shape:
                raise ValueError(f"episode field {name!r} has shape {got}, expected {shape} for {spec.env_id}")
        for name in ("obs", "state", "rewards"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"episode field {name!r} contains NaN or inf")
        if self.actions.min() < 0 or self.actions.max() >= spec.n_actions:
            raise ValueError(f"actions must lie in 0..{spec.n_actions - 1}")


class EpisodeDataset:
    """A directory of episodes for one env id. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, root: Path, spec: EnvSpec, meta: dict):
        self.root = root
        self.spec = spec
        self.meta = meta
        self._lock_fd: int | None = None
        self._next_idx = 0

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike, spec: EnvSpec) -> EpisodeDataset:
        """Open ``root`` for appending episodes of ``spec.env_id``, creating it if needed.

        An existing dataset of another env id or other shapes is refused, never mixed.
        """
        root = Path(root)
        if (root / "meta.json").exists():
            ds = cls.open(root)
            diff = ds.spec.shape_mismatch(spec)
            if diff:
                raise DatasetError(
                    f"{root} holds a dataset of {ds.spec.env_id!r} that differs in {diff} from "
                    f"{spec.env_id!r}; write to another directory (datasets are never mixed)"
                )
            return ds
        if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".")):
            raise DatasetError(
                f"{root} exists and is not a latentworld dataset (no meta.json); "
                f"choose an empty or new directory"
            )
        (root / "episodes").mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "env_id": spec.env_id,
            "spec": spec.to_dict(),
            "latentworld_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write_bytes(root / "meta.json", json.dumps(meta, indent=2, sort_keys=True).encode())
        return cls(root, spec, meta)

    @classmethod
    def open(cls, root: str | os.PathLike) -> EpisodeDataset:
        """Open an existing dataset for reading (and appending)."""
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise DatasetError(f"{root} is not a latentworld dataset: {meta_path} is missing")
        try:
            meta = json.loads(meta_path.read_text())
            spec = EnvSpec.from_dict(meta["spec"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{meta_path} is corrupted ({e}); the episode files may still be intact") from e
        if meta.get("format_version") != FORMAT_VERSION:
            raise DatasetError(
                f"{root} has dataset format {meta.get('format_version')}, this latentworld reads {FORMAT_VERSION}"
            )
        return cls(root, spec, meta)

    # ---- reading ----------------------------------------------------------------------------
    def episode_paths(self) -> list[Path]:
        """The episode files in index order."""
        d = self.root / "episodes"
        return sorted(p for p in d.iterdir() if _EP_RE.match(p.name)) if d.is_dir() else []

    def __len__(self) -> int:
        return len(self.episode_paths())

    def load(self, path: Path) -> Episode:
        """Read one episode file (checked against the dataset's spec)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                ep = Episode(**{k: z[k] for k in FIELDS})
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            raise DatasetError(f"episode file {path} is unreadable ({e}); delete it to use the rest") from e
        return ep

    def __getitem__(self, i: int) -> Episode:
        return self.load(self.episode_paths()[i])

    def __iter__(self) -> Iterator[Episode]:
        for p in self.episode_paths():
            yield self.load(p)

    def fingerprint(self, n_episodes: int | None = None) -> str:
        """A short hash naming this dataset's env id and episode files (first ``n_episodes``).

        Files never change once written, so names and sizes identify the content.
        """
        h = hashlib.sha256(self.spec.env_id.encode())
        for p in self.episode_paths()[:n_episodes]:
            h.update(f"{p.name}:{p.stat().st_size};".encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict:
        """Counts and returns over all episodes (reads every file)."""
        eps = list(self)
        steps = [e.steps for e in eps]
        rets = [e.team_return for e in eps]
        out = {
            "path": str(self.root), "env_id": self.spec.env_id, "episodes": len(eps),
            "steps": int(sum(steps)), "agent_steps": int(sum(steps)) * self.spec.n_agents,
            "mean_return": float(np.mean(rets)) if eps else None,
            "mean_length": float(np.mean(steps)) if eps else None,
            "win_rate": float(np.mean([bool(e.won) for e in eps])) if eps and self.spec.has_wins else None,
            "latentworld_version": self.meta.get("latentworld_version"),
        }
        return out

    # ---- writing ----------------------------------------------------------------------------
    def append(self, ep: Episode, *, sync: bool = True) -> Path:
        """Validate and atomically write one episode; returns its path.

        The file appears under its final name only once complete (write to a temporary
        name, then rename), so a killed process never leaves a partial episode. ``sync``
        also forces it to the disk (fsync) before the rename, which guards against power
        loss; fast collectors pass ``sync=False`` and call :meth:`sync` now and then.
        """
        ep.validate(self.spec)
        self._acquire_lock()
        path = self.root / "episodes" / f"ep_{self._next_idx:07d}.npz"
        arrays = {k: np.asarray(getattr(ep, k)) for k in FIELDS}
        buf = io.BytesIO()  # zipped in memory: a full disk then fails one plain write, not numpy's zip writer
        np.savez(buf, **arrays)  # uncompressed: writing is on the collection hot path
        atomic_write_bytes(path, buf.getvalue(), sync=sync)
        self._next_idx += 1
        return path

    def sync(self) -> None:
        """Force every episode appended with ``sync=False`` to the disk."""
        os.sync()
        fsync_dir(self.root / "episodes")

    def _acquire_lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.root / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatasetError(f"another process is writing to {self.root}; wait for it or use another directory") from None
        self._lock_fd = fd
        existing = self.episode_paths()
        self._next_idx = int(_EP_RE.match(existing[-1].name).group(1)) + 1 if existing else 0
        # Leftovers of a writer that died mid-episode: never visible to readers, safe to drop.
        for p in (self.root / "episodes").glob(".tmp-*"):
            p.unlink(missing_ok=True)

    def close(self) -> None:
        """Flush pending episodes to the disk and release the writer lock."""
        if self._lock_fd is not None:
            self.sync()
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> EpisodeDataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
