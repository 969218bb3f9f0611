"""How far to trust a world model, measured on real episodes it has not trained on.

Two numbers, both from the same fresh episodes (the loop scores each round's model on the
real episodes just collected, before they train it):

- ``reward_skill``: the model's prediction of the discounted H-step team return that followed
  each real state, given the actions really taken (the prior rolled open-loop from the
  posterior state), scored against the best constant: 1 - MSE / variance. 1 is perfect, 0 no
  better than the mean, below 0 worse. This is what imagined policy updates rely on.
- ``doubt_limit``: a quantile of the ensemble's disagreement about those real steps: the
  range of doubt the model has on real data. Imagined rollouts are cut where their doubt
  leaves it (MACURA, arXiv 2405.19014; M2AC, arXiv 2010.04893).

B = episodes, T = rows, K = start states, N = agents, H = horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentworld.data import SequenceSampler

from .world_model import WorldModel, batch_to_torch


@dataclass
class ModelTrust:
    """A model scored on real episodes (see the module docstring)."""

    reward_skill: float
    """1 - MSE / variance of the predicted discounted H-step team return (nan: too few steps)."""
    doubt_limit: float
    """The ``quantile`` of the ensemble's disagreement about real steps (inf: no ensemble)."""
    starts: int
    """Real states scored."""


@torch.no_grad()
def score_model(model: WorldModel, sampler: SequenceSampler, *, horizon: int = 15, gamma: float = 0.99,
                quantile: float = 0.95, max_starts: int = 1024, seed: int = 0,
                device: torch.device | str = "cpu") -> ModelTrust:
    """Score ``model`` on every episode of ``sampler`` (encoded from its first row)."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    was_training = model.training
    model.eval()
    try:
        eps = np.arange(len(sampler))
        T = int(sampler.lengths.max())
        b = batch_to_torch(sampler.gather(eps, np.zeros(len(eps), int), seq_len=T), device)  # [B, T, ...]
        states, _ = model.observe(b, sample=False)  # [B, T, N, ...]
        act = b["has_action"] & b["valid"]  # [B, T]: a real step leaves row t
        bi, ti = torch.nonzero(act, as_tuple=True)  # [K]
        if bi.numel() > max_starts:
            keep = torch.as_tensor(np.random.default_rng(seed).choice(bi.numel(), max_starts, replace=False),
                                   device=bi.device)
            bi, ti = bi[keep], ti[keep]
        state = states.map(lambda x: x[bi, ti])  # [K, N, ...]
        team_r = b["rewards"].float().mean(-1)  # [B, T]: reward on arriving at row t
        g_model = torch.zeros(bi.numel(), device=team_r.device)  # [K]
        g_real = torch.zeros_like(g_model)
        going = torch.ones_like(g_model, dtype=torch.bool)  # [K]: the real episode goes on
        doubt = None
        for k in range(horizon):
            t = (ti + k).clamp(max=T - 1)
            going = going & act[bi, t] & (ti + k < T)
            if not bool(going.any()):
                break
            state, _, _, reward, *_ = model.step(state, b["actions"][bi, t], sample=False)
            w = going.float() * gamma**k
            g_model += w * reward.mean(-1)
            g_real += w * team_r[bi, (t + 1).clamp(max=T - 1)]
            if k == 0 and len(model.ens):
                alive = b["alive"][bi, (t + 1).clamp(max=T - 1)].float()  # [K, N]
                u = model.disagreement(state)  # [K, N]
                doubt = (u * alive).sum(-1) / alive.sum(-1).clamp(min=1)  # [K]
        var = float(g_real.var(unbiased=False)) if g_real.numel() > 1 else 0.0
        mse = float(((g_model - g_real) ** 2).mean()) if g_real.numel() else float("nan")
        skill = 1.0 - mse / var if var > 1e-12 else float("nan")
        limit = float(torch.quantile(doubt, quantile)) if doubt is not None and doubt.numel() else float("inf")
        return ModelTrust(reward_skill=skill, doubt_limit=limit, starts=int(bi.numel()))
    finally:
        if was_training:
            model.train()
