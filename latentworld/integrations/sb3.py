"""An SB3 ``VecEnv`` view of :class:`LatentVectorEnv`: agents x envs as slots, masks included.

Stable-Baselines3 learners are single-agent; with parameter sharing every (env, agent) pair
is one slot (``num_envs = E * N``, slot ``e * N + i`` is agent i of env e), each slot gets its
env's team reward, and the whole batch steps as one tensor call: no per-env Python loop.
``action_masks()`` returns [E*N, A] bool, which is what sb3-contrib's ``MaskablePPO`` reads
(through ``env_method("action_masks")``), so masked actions are never chosen.

Episode ends follow SB3's convention: a done slot's ``infos[k]["terminal_observation"]`` is the
observation the episode ended on and ``infos[k]["TimeLimit.truncated"]`` tells truncation
(imagination horizon) from termination; the returned observation is already the next
episode's first. ``infos[k]["state"]`` is not added (SB3 has no centralized critic).

SB3 is an optional dependency (extra ``sb3``); importing this module needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from latentworld.env.vector import LatentVectorEnv


class LatentSB3VecEnv(VecEnv):
    """E learned envs x N agents as SB3 slots; numpy in and out."""

    def __init__(self, venv: LatentVectorEnv):
        self.venv = venv
        self.E, self.N = venv.num_envs, venv.n_agents
        obs_space = spaces.Box(-np.inf, np.inf, (venv.obs_dim,), np.float32)
        self.render_mode = None
        super().__init__(self.E * self.N, obs_space, spaces.Discrete(venv.n_actions))
        self._actions: np.ndarray | None = None
        self._mask = np.ones((self.num_envs, venv.n_actions), bool)

    def reset(self) -> np.ndarray:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        out = self.venv.reset(seed=seed)
        self._reset_seeds()
        self._mask = self._flat(out.action_mask).astype(bool)
        return self._flat(out.obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(); call step(actions)")
        acts = torch.as_tensor(self._actions.reshape(self.E, self.N), device=self.venv.device).long()
        self._actions = None
        out = self.venv.step(acts)
        obs = self._flat(out.obs)  # [E*N, F]
        rep = lambda x: x.repeat_interleave(self.N).cpu().numpy()  # noqa: E731  [E] -> [E*N]
        rewards = rep(out.reward).astype(np.float32)
        dones, truncs = rep(out.terminated | out.truncated), rep(out.truncated)
        invalid = out.info["invalid"].reshape(-1).cpu().numpy()  # [E*N]
        unc = out.info["uncertainty"].reshape(-1).cpu().numpy()  # [E*N]
        final = self._flat(out.final_obs) if dones.any() else None
        infos: list[dict[str, Any]] = []
        for k in range(self.num_envs):
            info: dict[str, Any] = {"invalid_action": bool(invalid[k]), "uncertainty": float(unc[k])}
            if dones[k]:
                info["terminal_observation"] = final[k]
                info["TimeLimit.truncated"] = bool(truncs[k])
            infos.append(info)
        self._mask = self._flat(out.action_mask).astype(bool)
        return obs, rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """[E*N, A] bool: the actions each slot may take next."""
        return self._mask.copy()

    def _flat(self, x: torch.Tensor) -> np.ndarray:
        return x.reshape(self.num_envs, -1).float().cpu().numpy()

    # ---- the VecEnv plumbing: one batched env behind every slot ----------------------------
    def _indices(self, indices: None | int | Sequence[int]) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        idx = self._indices(indices)
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in idx]
        fn = getattr(self.venv, method_name)
        value = fn(*method_args, **method_kwargs)
        return [value for _ in idx]

    def has_attr(self, attr_name: str) -> bool:
        return hasattr(self, attr_name) or hasattr(self.venv, attr_name)

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        value = getattr(self, attr_name) if attr_name == "render_mode" else getattr(self.venv, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.venv, attr_name, value)

    def env_is_wrapped(self, wrapper_class: type, indices=None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def close(self) -> None:
        self.venv.close()
