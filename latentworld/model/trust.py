"""How far to trust a world model, measured on real episodes it has not trained on.

The loop scores each round's model on the real episodes just collected, before they train
it, with :func:`latentworld.model.fidelity.measure` run the way imagination runs (sampled
latents, the imagination horizon, starts with their real history):

- ``reward_skill``: the model's expected discounted H-step team return from each real state,
  given the actions really taken (mean over sampled rollouts), scored against the best
  constant: 1 - MSE / variance. 1 is perfect, 0 no better than the mean, below 0 worse. This
  is what imagined policy updates rely on; the mode alone predicts a two-valued outcome (a
  win within H or not) all or nothing, where the expectation is what a learner averages.
- ``doubt_limits``: per rollout step k, a limit on the running maximum of the ensemble's
  disagreement along those sampled rollouts (averaged over the agents the model holds alive),
  calibrated so that ``1 - quantile`` of them are cut somewhere within the horizon
  (:func:`latentworld.model.fidelity.calibrated_limits`): the range of doubt the model has on
  real-like rollouts, step by step. Imagined rollouts are cut where their doubt leaves it
  (MACURA, arXiv 2405.19014; M2AC, arXiv 2010.04893).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentworld.data import SequenceSampler

from .fidelity import measure
from .world_model import WorldModel


@dataclass
class ModelTrust:
    """A model scored on real episodes (see the module docstring)."""

    reward_skill: float
    """1 - MSE / variance of the expected discounted H-step team return (nan: too few steps)."""
    doubt_limits: list[float]
    """Per rollout step: the limit on the running maximum of doubt (empty: no ensemble)."""
    starts: int
    """Real states scored."""


def score_model(model: WorldModel, sampler: SequenceSampler, *, horizon: int = 15, gamma: float = 0.99,
                quantile: float = 0.95, samples: int = 4, history: int | None = None, max_starts: int = 1024,
                seed: int = 0, device: torch.device | str = "cpu") -> ModelTrust:
    """Score ``model`` on every episode of ``sampler`` (starts with their history from row 0, or
    at most ``history`` rows of it)."""
    f = measure(model, sampler, horizon=horizon, samples=samples, gamma=gamma, quantile=quantile, history=history,
                max_starts=max_starts, seed=seed, obs_steps=(), device=device)
    return ModelTrust(reward_skill=f.reward_skill, doubt_limits=f.doubt_limits, starts=f.starts)
