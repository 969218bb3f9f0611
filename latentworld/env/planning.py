"""Model-based use of a learned env: snapshots, resets to given states, and scoring of action
sequences (the call a planner such as random shooting or CEM makes at every real step).

Shapes: K candidate rows, H steps ahead, N agents, A actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from latentworld.model import ModelState

from . import noise
from .core import LatentCore


@dataclass
class PlanScores:
    """What :func:`score_action_sequences` returns."""

    returns: Tensor  # [K] discounted sum of predicted team rewards until the predicted end
    rewards: Tensor  # [K, H] predicted team reward of each step (0 after the end)
    ended: Tensor  # [K, H] bool: the episode had ended by this step (terminated, or the limit)
    uncertainty: Tensor  # [K, H] the model's uncertainty of each step (mean over agents)
    invalid: Tensor  # [K, H, N] bool: the candidate's action was masked (played as the no-op)


@torch.inference_mode()
def score_action_sequences(core: LatentCore, start: ModelState, actions: Tensor, *, gamma: float = 0.99,
                           seed: int = 0, penalty: float | None = None) -> PlanScores:
    """Roll each of K joint action sequences ``actions`` [K, H, N] from ``start`` (one state
    [N, ...] shared by all candidates, or one per candidate [K, N, ...]) through the model's
    priors and score them. Masked actions become the no-op, as in the env; the same ``seed``
    gives every candidate the same latent noise (common random numbers: candidates differ by
    their actions only). ``penalty`` (default: the env's ``uncertainty_penalty``) subtracts the
    model's uncertainty from each reward."""
    if actions.dim() != 3 or actions.shape[-1] != core.spec.n_agents:
        raise ValueError(f"actions must be [K, H, {core.spec.n_agents}] integers, got {tuple(actions.shape)}")
    K, H, _ = actions.shape
    dev = core.device
    actions = actions.to(dev).long()
    if bool(((actions < 0) | (actions >= core.spec.n_actions)).any()):
        raise ValueError(f"actions must lie in [0, {core.spec.n_actions - 1}]")
    state = start.to(dev)
    if state.h_a.dim() == 2:  # one state for all candidates
        state = state.map(lambda x: x.unsqueeze(0).expand(K, *x.shape).contiguous())
    if state.h_a.shape[0] != K:
        raise ValueError(f"start must be [N, ...] or [K={K}, N, ...], got {tuple(state.h_a.shape)}")
    penalty = core.cfg.uncertainty_penalty if penalty is None else penalty
    m = core.model
    mask = m.avail_mask(m.predict_heads(state, obs=False)["avail_probs"])  # [K, N, A]
    keys = torch.full((K,), noise.seed_to_int(seed), dtype=torch.int64, device=dev)
    alive = torch.ones(K, dtype=torch.bool, device=dev)
    rewards = torch.zeros(K, H, device=dev)
    ended = torch.zeros(K, H, dtype=torch.bool, device=dev)
    unc = torch.zeros(K, H, device=dev)
    invalid = torch.zeros(K, H, actions.shape[-1], dtype=torch.bool, device=dev)
    ret, disc = torch.zeros(K, device=dev), torch.ones(K, device=dev)
    for t in range(H):
        a = actions[:, t]  # [K, N]
        bad = ~mask.gather(-1, a.unsqueeze(-1)).squeeze(-1)  # [K, N]
        a = torch.where(bad, core.spec.noop_action, a)
        out = core.step(state, a, keys, torch.full((K,), t, dtype=torch.int64, device=dev))
        r = out.reward.mean(-1)  # [K] team reward (penalised by the env's setting)
        u = out.uncertainty.mean(-1)  # [K]
        if penalty != core.cfg.uncertainty_penalty:
            r = r + (core.cfg.uncertainty_penalty - penalty) * u
        rewards[:, t] = torch.where(alive, r, 0.0)
        unc[:, t] = torch.where(alive, u, 0.0)
        invalid[:, t] = bad & alive[:, None]
        ret += torch.where(alive, disc * r, 0.0)
        disc = disc * gamma
        alive = alive & ~out.terminated & ~out.truncated
        ended[:, t] = ~alive
        state, mask = out.state, out.mask
    return PlanScores(ret, rewards, ended, unc, invalid)
