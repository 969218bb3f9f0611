"""How faithful a world model is to real episodes it has not trained on, measured the way
imagination uses it.

From every kept real state (the posterior with the real history before it, or with at most
``history`` rows of it, as training windows see), the prior is rolled open-loop for H steps
with the actions really taken, ``samples`` times with sampled latents (as imagination runs)
and once with the latents' modes. Measured against what really followed:

- **reward skill**: 1 - MSE / variance of the discounted H-step team return, the model's return
  being the expectation over its sampled rollouts (and, apart, the mode rollout's). The model's
  return discounts each step by its own survival (product of its continuation probabilities),
  and stops where the real episode stopped (no real actions exist beyond it);
- **win calibration**: Brier score of the model's probability that the episode is won within
  H steps (sum over steps of survival x P(win now); models without an outcome head: survival x
  P(end) where the team reward predicted is at least half the win bonus of 1), next to the
  Brier score of the base rate;
- **observation error** at step k (1, 5, H) of the mode rollout over real-alive agents, as a
  ratio to the trivial predictor's (the observation at the start, copied);
- **doubt**: the ensemble's disagreement per step averaged over the agents the model itself
  holds alive (what imagination knows), its running maximum along each sampled rollout, and
  per-step limits on it (:func:`calibrated_limits`) that cut ``1 - quantile`` of these
  rollouts over the whole horizon: what a doubt cut in imagination uses.

K = start states, S = samples, N = agents, H = horizon.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from latentworld.data import SequenceSampler

from .world_model import ModelState, WorldModel, batch_to_torch


def default_horizon(n_agents: int) -> int:
    """MATWM's imagination horizon by team size: 15 for up to 3 agents, 12 for 4-6, 8 for more
    (larger teams compound the model's errors faster)."""
    return 15 if n_agents <= 3 else 12 if n_agents <= 6 else 8


@dataclass
class Fidelity:
    """A model measured on real episodes (see the module docstring); nan where not measurable."""

    reward_skill: float
    """1 - MSE / variance of the H-step return, model: mean over sampled rollouts."""
    reward_skill_mode: float
    """The same for the rollout with the latents' modes."""
    win_brier: float
    """Brier score of P(win within H) (nan for envs without wins)."""
    win_brier_base: float
    """Brier score of the base rate of wins within H on these starts."""
    obs_error: dict[int, float]
    """Step k → MSE of the decoded observation / MSE of copying the start observation."""
    doubt_limits: list[float]
    """Per step k (0..H-1): limits on the running maximum of doubt that cut ``1 - quantile`` of the
    sampled rollouts (:func:`calibrated_limits`; empty: no ensemble)."""
    starts: int
    """Real states scored."""
    groups: dict[str, float] = field(default_factory=dict)
    """Reward skill (sampled) within each group of episodes, when groups were given."""
    seconds: float = 0.0


@torch.no_grad()
def encode_starts(model: WorldModel, sampler: SequenceSampler, *, history: int | None = None,
                  max_starts: int = 1024, seed: int = 0, device: torch.device | str = "cpu"
                  ) -> tuple[ModelState, dict[str, Tensor]]:
    """Posterior states (modes) at up to ``max_starts`` real rows that have a next step, each
    encoded from its episode's first row (``history`` None) or from at most ``history`` rows
    before it (zero state there, as a training window starts). Returns the states [K, N, ...]
    and the real data after each start: ``actions`` [K, H', N], ``rewards`` [K, H', N] (the
    reward on arriving at the next row), ``going`` [K, H'] (a real step leaves row t+k),
    ``obs`` [K, H'+1, N, D], ``alive`` [K, H'+1, N], ``won_in`` [K] rows to the won end (-1: not
    won), ``episode`` [K]; H' = the longest episode."""
    eps = np.arange(len(sampler))
    T = int(sampler.lengths.max())
    full = batch_to_torch(sampler.gather(eps, np.zeros(len(eps), int), seq_len=T), device)  # [B, T, ...]
    act = full["has_action"] & full["valid"]  # [B, T]
    bi, ti = torch.nonzero(act, as_tuple=True)  # [K]
    if bi.numel() > max_starts:
        keep = torch.as_tensor(np.sort(np.random.default_rng(seed).choice(bi.numel(), max_starts, replace=False)),
                               device=bi.device)
        bi, ti = bi[keep], ti[keep]
    if history is None:
        states, _ = model.observe(full, sample=False)  # [B, T, N, ...]
        start = states.map(lambda x: x[bi, ti])  # [K, N, ...]
    else:
        t0 = (ti - history).clamp(min=0)  # [K]
        win = sampler.gather(bi.cpu().numpy(), t0.cpu().numpy(), seq_len=history + 1)
        states, _ = model.observe(batch_to_torch(win, device), sample=False)  # [K, history+1, N, ...]
        k = torch.arange(bi.numel(), device=bi.device)
        start = states.map(lambda x: x[k, ti - t0])
    ahead = torch.arange(T, device=bi.device)  # [T]
    rows = (ti[:, None] + ahead).clamp(max=T - 1)  # [K, T]
    inside = ti[:, None] + ahead < T  # [K, T]
    going = act[bi[:, None], rows] & inside  # [K, T]
    going = going.cumprod(1).bool()  # a real step leaves row t+k, for every k before too
    nxt = (rows + 1).clamp(max=T - 1)  # [K, T]
    last = full["valid"].sum(1) - 1  # [B]
    won_in = torch.where(full["won"][bi] & full["terminated"][bi, last[bi]], last[bi] - ti, -1)  # [K]
    real = {
        "actions": full["actions"][bi[:, None], rows],  # [K, T, N]
        "rewards": torch.where(going[..., None], full["rewards"][bi[:, None], nxt], 0.0),  # [K, T, N]
        "going": going,
        "obs": full["obs"][bi[:, None], torch.cat([ti[:, None], nxt], 1)],  # [K, T+1, N, D]
        "alive": full["alive"][bi[:, None], torch.cat([ti[:, None], nxt], 1)],  # [K, T+1, N]
        "mask": full["action_mask"][bi[:, None], torch.cat([ti[:, None], nxt], 1)].bool(),  # [K, T+1, N, A]
        "won_in": won_in, "episode": bi,
    }
    return start, real


@torch.no_grad()
def measure(model: WorldModel, sampler: SequenceSampler, *, horizon: int = 15, samples: int = 8,
            gamma: float = 0.99, quantile: float = 0.95, history: int | None = None, max_starts: int = 1024,
            seed: int = 0, groups: dict[str, list[int]] | None = None, obs_steps: tuple[int, ...] = (1, 5),
            device: torch.device | str = "cpu") -> Fidelity:
    """Measure ``model`` on every episode of ``sampler`` (see the module docstring). ``groups``
    names sets of the sampler's episode positions (for example levels of play) to score apart."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    if samples < 1 or horizon < 1:
        raise ValueError(f"samples and horizon must be >= 1, got {samples} and {horizon}")
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    try:
        start, real = encode_starts(model, sampler, history=history, max_starts=max_starts, seed=seed,
                                    device=device)
        K, H = start.h_a.shape[0], min(horizon, real["going"].shape[1])
        disc = gamma ** torch.arange(H, device=real["going"].device, dtype=torch.float32)  # [H]
        going = real["going"][:, :H].float()  # [K, H]
        g_real = (real["rewards"][:, :H].mean(-1) * going * disc).sum(1)  # [K]
        # S sampled rollouts and the mode one, side by side: [(S + 1) K, N, ...], the mode one last
        state = start.map(lambda x: x.repeat(samples + 1, *([1] * (x.dim() - 1))))
        SK = samples * K
        ret, survive, p_win = (torch.zeros((samples + 1) * K, device=g_real.device) for _ in range(3))
        survive += 1.0
        doubt, obs_err = [], {}
        ens = len(model.ens) > 0
        for k in range(H):
            a = real["actions"][:, k].repeat(samples + 1, 1)  # [(S+1) K, N]
            s_out = model.step(state.index(slice(0, SK)), a[:SK], sample=True, generator=gen)
            m_out = model.step(state.index(slice(SK, None)), a[SK:], sample=False)
            state = ModelState.cat([s_out[0], m_out[0]])
            reward, cont, mask, win = (torch.cat([x, y]) for x, y in zip(s_out[3:], m_out[3:]))
            live = going[:, k].repeat(samples + 1)  # [(S+1) K]
            team = reward.mean(-1)  # [(S+1) K]
            ret += live * disc[k] * survive * team
            if model.outcome:
                p_win += live * survive * win
            else:
                p_win += live * survive * (1 - cont) * (team >= 0.5).float()
            survive = survive * cont
            if ens:
                alive = ~(mask[..., model.spec.noop_action] & (mask.sum(-1) == 1))  # [(S+1) K, N] model-alive
                u = model.disagreement(state)  # [(S+1) K, N]
                doubt.append((u * alive).sum(-1) / alive.sum(-1).clamp(min=1))
            kk = k + 1
            if kk in set(obs_steps) | {H}:
                pred = model.obs_head(state.index(slice(SK, None)).agent_features())  # [K, N, D] the mode rollout
                tgt, o0 = real["obs"][:, kk], real["obs"][:, 0]
                ok = (real["alive"][:, kk] & real["going"][:, k, None]).float()  # [K, N]
                e_m = (((pred - tgt) ** 2).sum(-1) * ok).sum()
                e_t = (((o0 - tgt) ** 2).sum(-1) * ok).sum()
                obs_err[kk] = float(e_m / e_t) if float(e_t) > 0 else float("nan")
        g_s = ret.view(samples + 1, K)
        skill = _skill(g_s[:-1].mean(0), g_real)
        skill_mode = _skill(g_s[-1], g_real)
        won_h = ((real["won_in"] >= 0) & (real["won_in"] <= H)).float()  # [K] the win lands within H
        if model.spec.has_wins:
            pw = p_win.view(samples + 1, K)[:-1].mean(0).clamp(0, 1)
            brier = float(((pw - won_h) ** 2).mean())
            brier_base = float(((won_h.mean() - won_h) ** 2).mean())
        else:
            brier = brier_base = float("nan")
        limits: list[float] = []
        if doubt:
            run_max = torch.stack(doubt, 1).view(samples + 1, K, H)[:-1].cummax(-1).values  # [S, K, H]
            limits = calibrated_limits(run_max, going.bool(), quantile)
        per_group = {}
        for name, members in (groups or {}).items():
            sel = torch.isin(real["episode"], torch.as_tensor(members, device=real["episode"].device))
            if int(sel.sum()) > 1:
                per_group[name] = _skill(g_s[:-1].mean(0)[sel], g_real[sel])
        return Fidelity(skill, skill_mode, brier, brier_base, obs_err, limits, K, per_group,
                        time.perf_counter() - t0)
    finally:
        if was_training:
            model.train()


@torch.no_grad()
def policy_shift(model: WorldModel, policy: Any, sampler: SequenceSampler, *, horizon: int = 15,
                 history: int | None = None, max_starts: int = 1024, seed: int = 0,
                 device: torch.device | str = "cpu") -> dict[int, dict[str, float]]:
    """How differently a memoryless ``policy`` (``action_probs(obs, mask)``, as MAPPO's) acts on
    the observations the learned env serves than on the real ones of the same states: per step k
    of an open-loop rollout from each real start with the real actions (mode latents; k = 0: the
    start's own reconstruction), over the agents alive in the real episode, the mean
    KL(pi(real obs) || pi(decoded obs)), the share of equal greedy actions, and the entropy of
    pi on each. Both sides use the real action masks, so only the observations differ."""
    was_training = model.training
    model.eval()
    try:
        start, real = encode_starts(model, sampler, history=history, max_starts=max_starts, seed=seed,
                                    device=device)
        H = min(horizon, real["going"].shape[1])
        state, out = start, {}
        for k in range(H + 1):
            ok = real["alive"][:, k] & (real["going"][:, k - 1, None] if k else True)  # [K, N]
            if k and not bool(ok.any()):
                break
            dec = model.obs_head(state.agent_features())  # [K, N, D]
            mask = real["mask"][:, k]  # [K, N, A]
            p_r = policy.action_probs(real["obs"][:, k], mask).clamp_min(1e-8)  # [K, N, A]
            p_d = policy.action_probs(dec, mask).clamp_min(1e-8)  # [K, N, A]
            kl = (p_r * (p_r.log() - p_d.log())).sum(-1)  # [K, N]
            same = (p_r.argmax(-1) == p_d.argmax(-1)).float()  # [K, N]
            ent = lambda p: -(p * p.log()).sum(-1)  # noqa: E731
            w = ok.float()
            n = w.sum().clamp(min=1)
            out[k] = {"kl": float((kl * w).sum() / n), "greedy_agree": float((same * w).sum() / n),
                      "entropy_real": float((ent(p_r) * w).sum() / n),
                      "entropy_decoded": float((ent(p_d) * w).sum() / n), "agents": int(w.sum())}
            if k < H:
                state = model.step(state, real["actions"][:, k], sample=False)[0]
        return out
    finally:
        if was_training:
            model.train()


def calibrated_limits(run_max: Tensor, live: Tensor, quantile: float) -> list[float]:
    """Per-step doubt limits [H] from the running maximum of doubt along rollouts ``run_max``
    [S, K, H] (``live`` [K, H]: the rollout still has real actions at step k) such that the share
    of these rollouts cut at some live step is at most ``1 - quantile``.

    A quantile per step alone cuts more: a rollout passes H limits, and the rollouts alive at
    step k are not those alive at step 0. So the per-step quantile q' >= ``quantile`` is found by
    bisection; the limits are made non-decreasing (a cut of the running maximum is then a cut
    of the step's own doubt)."""
    S, K, H = run_max.shape

    def at(q: float) -> Tensor:
        lim = torch.stack([torch.quantile(run_max[:, live[:, k], k].flatten(), q) if bool(live[:, k].any())
                           else run_max.new_tensor(float("inf")) for k in range(H)])  # [H]
        return lim.cummax(0).values

    def cut(lim: Tensor) -> float:
        return float(((run_max > lim) & live[None]).any(-1).float().mean())

    if quantile >= 1.0:
        return at(1.0).tolist()
    lo, hi = quantile, 1.0
    for _ in range(12):  # cut(at(q)) falls as q rises
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cut(at(mid)) > 1 - quantile else (lo, mid)
    return at(hi).tolist()


@torch.no_grad()
def cut_share(model: WorldModel, sampler: SequenceSampler, limits: list[float], *, horizon: int = 15,
              samples: int = 4, history: int | None = None, max_starts: int = 1024, seed: int = 1,
              device: torch.device | str = "cpu") -> tuple[float, float]:
    """(share of sampled real-action rollouts that a per-step doubt cut with ``limits`` stops,
    mean steps kept): how the cut acts on rollouts like the real ones. A rollout ends at the
    step where its doubt (over the agents the model holds alive) first passes that step's limit,
    or where the real episode ended."""
    start, real = encode_starts(model, sampler, history=history, max_starts=max_starts, seed=seed, device=device)
    K, H = start.h_a.shape[0], min(horizon, real["going"].shape[1], len(limits))
    gen = torch.Generator(device=device).manual_seed(seed)
    state = start.map(lambda x: x.repeat(samples, *([1] * (x.dim() - 1))))  # [S K, N, ...]
    cut = torch.zeros(samples * K, dtype=torch.bool, device=start.h_a.device)  # [S K]
    kept = torch.zeros(samples * K, device=start.h_a.device)  # [S K]
    running = torch.ones_like(cut)  # neither cut nor out of real actions
    for k in range(H):
        running &= real["going"][:, k].repeat(samples)
        state, _, _, _, _, mask, _ = model.step(state, real["actions"][:, k].repeat(samples, 1), sample=True,
                                                generator=gen)
        alive = ~(mask[..., model.spec.noop_action] & (mask.sum(-1) == 1))  # [S K, N]
        u = (model.disagreement(state) * alive).sum(-1) / alive.sum(-1).clamp(min=1)  # [S K]
        kept += running.float()
        now = running & (u > limits[k])
        cut |= now
        running &= ~now
    return float(cut.float().mean()), float(kept.mean())


def _skill(pred: Tensor, real: Tensor) -> float:
    var = float(real.var(unbiased=False)) if real.numel() > 1 else 0.0
    if var <= 1e-12:
        return float("nan")
    return 1.0 - float(((pred - real) ** 2).mean()) / var
