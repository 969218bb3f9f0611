"""LatentParallelEnv: a trained world model behind the PettingZoo ParallelEnv API.

It is a :class:`~latentworld.core.env_base.DiscreteParallelEnv` like every real adapter,
so action checking, the ``invalid_action`` policy, SMAC-style death, int8 masks in infos and
``agents == []`` after the end are the very same code. What is learned:

- observations: agent features [h^a, z^a] (``obs="latent"``) or the obs head's prediction
  (``obs="decoded"``, in the real env's observation space);
- rewards: the reward head's per-agent prediction, averaged over agents and given to every
  agent (the envs here are cooperative with a team reward, as SMAX/SMAC report it);
- termination: the drawn outcome (models with ``outcome``: continue / win / end without a
  win, probabilities averaged over agents), or the continuation probability below 0.5;
  truncation after ``horizon`` steps or the env's episode limit, whichever comes first;
- action masks: the avail head (never all zero: falls back to the no-op); an agent whose
  only available action is the no-op is dead (``infos[a]["alive"] = False``) but stays;
- wins: a model with ``outcome`` draws each step's outcome, and ``infos[a]["won"]`` is set on
  the last step as the real env sets it (older checkpoints do not predict wins: never set);
- ``infos[a]["uncertainty"]``: the model's uncertainty about the agent's last step (its
  disagreement ensemble's variance; 0 after reset or without an ensemble), subtracted from
  the reward with ``uncertainty_penalty``.

Randomness: ``reset(seed=s)`` starts episode 0 of seed ``s``; a reset without a seed moves
to the next episode of the same seed. Noise is counter-based (see :mod:`.core`), so the
same seed and actions give identical trajectories, and env e of a
:class:`~latentworld.env.vector.LatentVectorEnv` seeded ``s`` equals this env seeded ``s + e``
(to float rounding: batched matmuls round differently).

Speed: one step is ~100 small array operations; on a CPU with a categorical-latent model the
whole step is one compiled call (:mod:`.backends`, the same numbers as the torch step to
~1e-5). Many envs belong in :class:`~latentworld.env.vector.LatentVectorEnv`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from latentworld.core.env_base import ArrayStep, DiscreteParallelEnv

from . import noise
from .backends import single_env_step
from .core import CoreStep, LatentCore, LatentEnvConfig, env_config
from .source import ModelLike, load_source

ACTION_MASK_PLACES = ("info", "obs", "rllib")
# Dict-observation key of the features: PettingZoo's convention ("observation"), or RLlib's
# ActionMaskingTorchRLModule's ("observations")
_OBS_KEY = {"obs": "observation", "rllib": "observations"}


def _entropy_seed() -> int:
    return int(np.random.SeedSequence().entropy) & 0xFFFFFFFF


class LatentParallelEnv(DiscreteParallelEnv):
    """One imagined episode at a time; see the module docstring for what is predicted."""

    metadata = {"name": "latentworld_latent_v0", "render_modes": ["rgb_array", "ansi"], "is_parallelizable": True}

    def __init__(self, model: ModelLike, *, env_id: str | None = None, config: LatentEnvConfig | None = None,
                 action_mask: str = "info", device: str | torch.device = "cpu", seed: int | None = None,
                 render_mode: str | None = None, **options: Any):
        """``options``: fields of :class:`~latentworld.env.core.LatentEnvConfig` (``obs``,
        ``horizon``, ...), set on ``config``. ``action_mask``: where the masks are served
        (``"info"``, ``"obs"``: PettingZoo's dict observation, ``"rllib"``: RLlib's keys)."""
        if action_mask not in ACTION_MASK_PLACES:
            raise ValueError(f"action_mask must be one of {ACTION_MASK_PLACES}, got {action_mask!r}")
        cfg = env_config(config, **options)
        self.core = LatentCore(load_source(model, env_id, start=cfg.start, device=device), cfg)
        spec = self.core.spec
        super().__init__(spec, invalid_action=cfg.invalid_action, render_mode=render_mode)
        self.config, self.action_mask_place = cfg, action_mask
        N, F, A = spec.n_agents, self.core.obs_dim, spec.n_actions
        feat = spaces.Box(-np.inf, np.inf, (F,), np.float32)
        self._obs_space = feat if action_mask == "info" else spaces.Dict(
            {_OBS_KEY[action_mask]: feat, "action_mask": spaces.Box(0, 1, (A,), np.int8)})
        self.state_space = spaces.Box(-np.inf, np.inf, (N * self.core.global_dim,), np.float32)
        self._seed = seed
        self._episode = 0
        self._key: torch.Tensor | None = None  # [1] int64 key of the current episode
        self._t = 0
        self._model_state = None
        self._compiled = single_env_step(self.core)  # None: the batched torch step with E = 1
        self._step_fn = self._compiled.step if self._compiled is not None else self.core.step
        self._compiled_step = self._step_fn

    @property
    def model(self):
        return self.core.model

    # ---- hooks of DiscreteParallelEnv ------------------------------------------------------
    def _reset_arrays(self, seed: int | None) -> ArrayStep:
        if seed is not None:
            self._seed, self._episode = seed, 0
        elif self._seed is None:
            self._seed, self._episode = _entropy_seed(), 0
        elif self._key is not None:
            self._episode += 1
        dev = self.core.device
        self._key = noise.episode_keys(
            torch.tensor([noise.seed_to_int(self._seed)], device=dev),
            torch.tensor([self._episode], device=dev))  # [1]
        self._t = 0
        with torch.inference_mode():
            return self._arrays(self.core.start(self._key))

    def _step_arrays(self, actions: np.ndarray) -> ArrayStep:
        core = self.core
        fast = self._compiled if self._step_fn is self._compiled_step and self._compiled is not None else None
        if fast is not None:  # the compiled step hands back numpy: no tensors in between
            t = np.array([self._t], np.int64)
            self._model_state, out = fast.run(self._model_state, actions[None], self._key.numpy(), t)
            step = self._array_step(*out[:-1], bool(out[-1][0]) if self.core.model.outcome else None)
        else:
            with torch.inference_mode():
                acts = torch.from_numpy(actions).to(core.device).unsqueeze(0)  # [1, N]
                t = torch.tensor([self._t], device=core.device)
                out = self._step_fn(self._model_state, acts, self._key, t)
                step = self._arrays(out)
        if not np.isfinite(step.obs).all() or not np.isfinite(step.rewards).all():
            raise FloatingPointError(
                f"the world model produced NaN/inf at step {self._t + 1} of the episode; the checkpoint "
                f"may be corrupted or diverged, or the actions drove it far off its training data")
        self._t += 1
        return step

    def _arrays(self, out: CoreStep) -> ArrayStep:
        self._model_state = out.state
        if self.core.device.type == "cpu":
            np_ = lambda x: x.numpy()[0]  # noqa: E731  env 0 as numpy (zero-copy; inference tensors)
        else:
            np_ = lambda x: x[0].detach().cpu().numpy()  # noqa: E731
        won = None if out.won is None else bool(out.won[0])
        return self._array_step(np_(out.obs), np_(out.global_features), np_(out.reward), out.terminated,
                                out.truncated, np_(out.mask), np_(out.uncertainty), won)

    def _array_step(self, obs: np.ndarray, glob: np.ndarray, reward: np.ndarray, terminated, truncated,
                    mask: np.ndarray, unc: np.ndarray, won: bool | None = None) -> ArrayStep:
        """Env 0's step from obs [N, F], global features [N, Fg], rewards [N], terminated /
        truncated [1], mask [N, A] bool and uncertainty [N]."""
        self._uncertainty = unc  # [N]
        noop = self.env_spec.noop_action
        return ArrayStep(
            obs=obs.astype(np.float32, copy=False),  # [N, F]
            state=glob.reshape(-1),  # [N * Fg] = global features
            action_mask=mask.astype(np.int8),  # [N, A]
            alive=~(mask[:, noop] & (mask.sum(-1) == 1)),  # [N] SMAC-style: only the no-op left is dead
            rewards=np.full(self.env_spec.n_agents, reward.mean(), np.float32),
            terminated=bool(terminated[0]), truncated=bool(truncated[0]), won=won,
        )

    # ---- rendering -------------------------------------------------------------------------
    def render(self) -> np.ndarray | str | None:
        """The current imagined step from the model's decoded observations: an RGB frame
        [256, 256, 3] uint8 (``render_mode="rgb_array"``; SMAX maps: units where the decoded
        observations place them, with health bars) or text (``"ansi"``); None without a
        render mode. See :mod:`latentworld.env.render`."""
        from . import render as draw

        if self.render_mode is None:
            return None
        if self._last is None or self._model_state is None:
            raise RuntimeError("render() before reset(): nothing has been imagined yet")
        if self.config.obs == "decoded":
            obs = self._last.obs  # [N, F]
        else:
            with torch.inference_mode():
                obs = self.core.model.obs_head(self._model_state.agent_features())[0].float().cpu().numpy()
        alive = np.asarray(self._last.alive, bool)
        if self.render_mode == "rgb_array":
            return draw.rgb_frame(self.env_spec, obs, alive)
        return draw.ansi_text(self.env_spec, obs, alive, self._t, float(self._last.rewards[0]), self._uncertainty)

    # ---- observation layout ----------------------------------------------------------------
    def _obs_dict(self, step: ArrayStep) -> dict[str, Any]:
        if self.action_mask_place == "info":
            return super()._obs_dict(step)
        key = _OBS_KEY[self.action_mask_place]
        return {a: {key: step.obs[i].copy(), "action_mask": step.action_mask[i].copy()}
                for i, a in enumerate(self.possible_agents)}

    def _info_dict(self, step: ArrayStep) -> dict[str, dict]:
        infos = super()._info_dict(step)
        for i, info in enumerate(infos.values()):
            info["uncertainty"] = float(self._uncertainty[i])  # the model's doubt about this step
        if self.action_mask_place != "info":
            for info in infos.values():
                del info["action_mask"]
        return infos
