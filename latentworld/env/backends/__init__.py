"""The learned env's imagined step, and which implementation runs it.

- the reference: :meth:`latentworld.model.WorldModel.step` (torch, any latent, any device);
- :mod:`.torch_fast`: the same step with one-hot inputs as lookups (categorical latents, any
  device, batched): what :class:`~latentworld.env.LatentVectorEnv` runs;
- :mod:`.jit`: the whole step of one env (or a few) as one numba-compiled call (categorical
  latents, CPU, no reward / termination hooks): what :class:`~latentworld.env.LatentParallelEnv`
  runs, where torch's per-op dispatch would cost more than the arithmetic.

Both fast paths are tested equal to the reference (to float rounding, ~1e-5). The selectors
below are the only place that chooses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from latentworld.model import WorldModel

from .step import CoreStep


def batched_step(model: WorldModel) -> Callable:
    """The step function the batched core runs for ``model``: ``(state, actions, sample, noise)
    -> (next state, agent features, global features, reward, cont, mask, P(win))``."""
    if model.cfg.latent == "categorical":
        from .torch_fast import FastStepper

        return FastStepper(model).step
    return lambda state, actions, sample=True, noise=None: model.step(state, actions, sample, None, noise)


def single_env_step(core: Any) -> Any | None:
    """The compiled one-env step for a :class:`~latentworld.env.core.LatentCore`, or None where
    it does not apply (Gaussian latents, a GPU, reward / termination hooks, no numba): the
    single env then runs the batched step with E = 1."""
    from .jit import JitCore

    return JitCore(core) if JitCore.supported(core) else None


__all__ = ["CoreStep", "batched_step", "single_env_step"]
