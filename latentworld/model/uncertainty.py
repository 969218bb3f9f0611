"""The scales that make an uncertainty penalty mean the same on every map.

A penalty ``λ · u`` (u: the ensemble's disagreement about a step) is in reward units, but
the reward per step and the model's uncertainty on real data both vary across maps by an
order of magnitude, so one λ means a small cost on one map and most of the reward on
another. :func:`real_data_scales` measures both on real episodes, so a penalty can be
given relative to them (``LoopConfig.relative_penalty``): at λ_rel = 1, a step as uncertain
as the model is on average about real data costs the real data's mean reward per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentworld.data import SequenceSampler

from .world_model import WorldModel, batch_to_torch


@dataclass
class DataScales:
    """Mean |team reward| per real step and the model's mean uncertainty about real steps."""

    reward_per_step: float
    uncertainty: float
    steps: int  # the real transitions measured

    def penalty(self, relative: float) -> float:
        """The absolute penalty weight for ``relative`` (0 when there is nothing to compare)."""
        if relative == 0 or self.uncertainty <= 0:
            return 0.0
        return relative * self.reward_per_step / self.uncertainty


@torch.no_grad()
def real_data_scales(model: WorldModel, sampler: SequenceSampler, episodes: int,
                     rng: np.random.Generator, device: torch.device | str = "cpu") -> DataScales:
    """Encode ``episodes`` real episodes from their first row, step the prior one step from
    every posterior state with the action really taken, and average the ensemble's
    disagreement about those steps (alive agents, mean over agents) and the real team reward
    (mean over agents) per step. Needs a model with an ensemble (``WorldModelConfig.ensemble``)."""
    if not len(model.ens):
        raise ValueError("a relative uncertainty penalty needs a world model with a disagreement ensemble "
                         "(WorldModelConfig.ensemble > 0), or set it to 0")
    was_training = model.training
    model.eval()
    eps = rng.choice(len(sampler), size=min(episodes, len(sampler)), replace=False)  # [B]
    T = int(sampler.lengths[eps].max())
    b = batch_to_torch(sampler.gather(eps, np.zeros(len(eps), int), seq_len=T), device)  # [B, T, ...]
    states, _ = model.observe(b)  # [B, T, N, ...]
    N = model.N
    prev = states.map(lambda x: x[:, :-1].reshape(-1, *x.shape[2:]))  # [B*(T-1), N, ...]
    nxt = model.step(prev, b["actions"][:, :-1].reshape(-1, N), sample=False)[0]
    u = model.disagreement(nxt).view(len(eps), T - 1, N)  # [B, T-1, N]
    alive = (b["alive"][:, 1:] & b["valid"][:, 1:, None]).float()  # [B, T-1, N]
    u_step = (u * alive).sum(-1) / alive.sum(-1).clamp(min=1)  # [B, T-1]
    moved = b["valid"][:, 1:]  # [B, T-1]: a real transition reached row t+1
    reward = b["rewards"][:, 1:].float().mean(-1).abs()  # [B, T-1] the reward received on reaching t+1
    n = int(moved.sum())
    if was_training:
        model.train()
    if n == 0:
        return DataScales(0.0, 0.0, 0)
    return DataScales(float(reward[moved].mean()), float(u_step[moved].mean()), n)
