"""``make`` / ``make_vec``: the learned env for an env id, from a checkpoint or the default one."""

from __future__ import annotations

import torch

from .core import HookFn
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


def make(env_id: str, model: ModelLike | None = None, *, obs: str = "latent", action_mask: str = "info",
         horizon: int | None = None, start: str = "initial", deterministic: bool = False,
         device: str | torch.device = "cpu", seed: int | None = None, invalid_action: str = "noop",
         uncertainty_penalty: float = 0.0, reward_fn: HookFn | None = None,
         termination_fn: HookFn | None = None, render_mode: str | None = None) -> LatentParallelEnv:
    """The learned env for ``env_id`` as a PettingZoo ParallelEnv (see :class:`LatentParallelEnv`).

    ``model``: a checkpoint directory, a ``(WorldModel, meta)`` pair from ``load_model``, or a
    WorldModel; None uses the default checkpoint registered or shipped for ``env_id``.
    ``reward_fn`` / ``termination_fn`` replace the model's reward / termination (see
    :class:`~latentworld.env.core.LatentEnvConfig`). ``render_mode``: ``"rgb_array"`` or ``"ansi"``
    (:meth:`LatentParallelEnv.render`).
    """
    return LatentParallelEnv(_resolve(env_id, model), env_id=env_id, obs=obs, action_mask=action_mask,
                             horizon=horizon, start=start, deterministic=deterministic, device=device,
                             seed=seed, invalid_action=invalid_action, uncertainty_penalty=uncertainty_penalty,
                             reward_fn=reward_fn, termination_fn=termination_fn, render_mode=render_mode)


def make_vec(env_id: str, model: ModelLike | None, num_envs: int, *, obs: str = "latent",
             horizon: int | None = None, start: str = "initial", deterministic: bool = False,
             device: str | torch.device = "cpu", seed: int | None = None, invalid_action: str = "noop",
             uncertainty_penalty: float = 0.0, reward_fn: HookFn | None = None,
             termination_fn: HookFn | None = None) -> LatentVectorEnv:
    """``num_envs`` learned envs as one batched tensor env (see :class:`LatentVectorEnv`)."""
    return LatentVectorEnv(_resolve(env_id, model), num_envs, env_id=env_id, obs=obs, horizon=horizon,
                           start=start, deterministic=deterministic, device=device, seed=seed,
                           invalid_action=invalid_action, uncertainty_penalty=uncertainty_penalty,
                           reward_fn=reward_fn, termination_fn=termination_fn)
