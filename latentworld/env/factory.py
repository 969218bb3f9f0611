"""``make`` / ``make_vec``: the learned env for an env id, from a checkpoint or the default one."""

from __future__ import annotations

from typing import Any

import torch

from .core import LatentEnvConfig
from .parallel import LatentParallelEnv
from .source import ModelLike
from .vector import LatentVectorEnv


def _resolve(env_id: str, model: ModelLike | None) -> ModelLike:
    from latentworld.registry import default_checkpoint, no_checkpoint_error

    if model is not None:
        return model
    path = default_checkpoint(env_id)
    if path is None:
        raise no_checkpoint_error(env_id)
    return path


def make(env_id: str, model: ModelLike | None = None, *, config: LatentEnvConfig | None = None,
         action_mask: str = "info", device: str | torch.device = "cpu", seed: int | None = None,
         render_mode: str | None = None, **options: Any) -> LatentParallelEnv:
    """The learned env for ``env_id`` as a PettingZoo ParallelEnv (see :class:`LatentParallelEnv`).

    ``model``: a checkpoint directory, a ``(WorldModel, meta)`` pair from ``load_model``, or a
    WorldModel; None uses the default checkpoint registered or shipped for ``env_id``.
    ``options`` (or ``config``): the learned env's options, the fields of
    :class:`~latentworld.env.core.LatentEnvConfig`, for example ``obs="decoded"``,
    ``horizon=15``, ``reward_fn=...``. ``action_mask``: where masks are served (``"info"``,
    ``"obs"``, ``"rllib"``). ``render_mode``: ``"rgb_array"`` or ``"ansi"``
    (:meth:`LatentParallelEnv.render`).
    """
    return LatentParallelEnv(_resolve(env_id, model), env_id=env_id, config=config, action_mask=action_mask,
                             device=device, seed=seed, render_mode=render_mode, **options)


def make_vec(env_id: str, model: ModelLike | None, num_envs: int, *, config: LatentEnvConfig | None = None,
             device: str | torch.device = "cpu", seed: int | None = None, **options: Any) -> LatentVectorEnv:
    """``num_envs`` learned envs as one batched tensor env (see :class:`LatentVectorEnv`);
    ``options`` / ``config`` as for :func:`make`."""
    return LatentVectorEnv(_resolve(env_id, model), num_envs, env_id=env_id, config=config, device=device,
                           seed=seed, **options)
