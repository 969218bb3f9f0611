"""Imagination start states: real episodes encoded into the world model's posterior states.

:func:`encode_start_bank` makes the bank a checkpoint ships (zero-history states at first
rows and at random rows); :func:`encode_history_starts` the loop's starts, each state with its
episode's whole real history.
"""

from __future__ import annotations

import numpy as np
import torch

from latentworld.data import EpisodeDataset, SequenceSampler

from .world_model import ModelState, WorldModel, batch_to_torch


@torch.no_grad()
def encode_start_bank(model: WorldModel, ds: EpisodeDataset, episodes: list[int], size: int,
                      device: torch.device, seed: int) -> dict[str, torch.Tensor]:
    """Posterior states of real episodes: their first rows ("initial.*") and random rows ("any.*")."""
    model.eval()
    sampler = SequenceSampler(ds, seq_len=8, seed=seed, episodes=episodes)
    out: dict[str, list[torch.Tensor]] = {}
    for kind in ("initial", "any"):
        for lo in range(0, size, 64):
            b = min(64, size - lo)
            if kind == "initial":
                eps = sampler.rng.choice(len(sampler.episodes), size=b)
                batch = sampler.gather(eps, np.zeros(b, int))
            else:
                batch = sampler.sample(b)
            states, _ = model.observe(batch_to_torch(batch, device))
            first = states.at_time(0)  # [b, N, ...]: the posterior at each window's first row
            for key, v in first.to_tensors().items():
                out.setdefault(f"{kind}.{key}", []).append(v.cpu())
    model.train()
    return {k: torch.cat(v) for k, v in out.items()}


@torch.no_grad()
def encode_history_starts(model: WorldModel, sampler: SequenceSampler, episodes: int,
                          rng: np.random.Generator, device: torch.device | str = "cpu",
                          history: int | None = None) -> ModelState:
    """Imagination starts with their real history: the posterior state at every non-final row of
    ``episodes`` episodes drawn from ``sampler``, each encoded from its episode's first row
    (``history`` None) or from at most ``history`` rows before it, from a zero state, as the
    model's training windows start.

    Returns [K, N, ...] (K = the rows kept). Unlike :func:`encode_start_bank`, whose states are
    encoded at the first row of a window (zero history), a state here has seen its episode so
    far, as the policy's features do when it is deployed.
    """
    eps = rng.choice(len(sampler), size=min(episodes, len(sampler)), replace=False)  # [B]
    T = int(sampler.lengths[eps].max())
    batch = sampler.gather(eps, np.zeros(len(eps), int), seq_len=T)  # [B, T, ...] from row 0
    keep = batch["valid"] & ~batch["terminated"] & ~batch["truncated"]  # [B, T]: a next step exists
    if history is None:
        states, _ = model.observe(batch_to_torch(batch, device))  # [B, T, N, ...]
        keep = torch.as_tensor(keep, device=states.h_a.device)
        return states.map(lambda x: x[keep])  # [K, N, ...]
    bi, ti = np.nonzero(keep)  # [K]
    t0 = np.maximum(ti - int(history), 0)  # [K] each window's first row
    states, _ = model.observe(batch_to_torch(sampler.gather(eps[bi], t0, seq_len=int(history) + 1), device))
    at = torch.as_tensor(ti - t0, device=states.h_a.device)  # [K] the start's row in its window
    k = torch.arange(len(bi), device=at.device)
    return states.map(lambda x: x[k, at])  # [K, N, ...]
