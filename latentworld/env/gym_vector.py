"""A ``gymnasium.vector.VectorEnv`` view of :class:`LatentVectorEnv` for single-agent learners.

Parameter sharing: every (env, agent) pair is one slot, so ``num_envs = E * N``, slot
``e * N + i`` is agent i of env e, ``single_observation_space`` is Box(F) and
``single_action_space`` Discrete(A). Every slot of env e gets env e's team reward and done
flags. Auto-reset happens in the same step (``AutoresetMode.SAME_STEP``): the observation
an episode ended on is in ``infos["final_obs"]`` where ``infos["_final_obs"]`` is True.
``infos["action_mask"]`` [E*N, A] int8 and ``infos["alive"]`` [E*N] describe the next step;
``infos["state"]`` [E*N, S] is the global state of each slot's env (repeated for its N agents)
for a centralized critic (``infos["final_state"]`` beside ``final_obs``); ``infos["invalid_action"]`` [E*N] bool flags masked actions (all
False after ``reset``).

This is the fast path for Gymnasium-style learners without SuperSuit; SB3 itself needs its
own VecEnv class, so SB3 users go through SuperSuit (see examples/sb3_supersuit.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .protocol import VecStep
from .vector import LatentVectorEnv


class LatentGymVectorEnv(VectorEnv):
    """Agents x envs as slots of one Gymnasium VectorEnv; numpy in and out."""

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, venv: LatentVectorEnv):
        self.venv = venv
        self.E, self.N = venv.num_envs, venv.n_agents
        self.num_envs = self.E * self.N
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (venv.obs_dim,), np.float32)
        self.single_action_space = spaces.Discrete(venv.n_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._np_random, self._np_random_seed = np.random.default_rng(seed), seed
        out = self.venv.reset(seed=seed)
        return self._flat(out.obs), self._infos(out, with_final=False)

    def step(self, actions: np.ndarray):
        acts = torch.as_tensor(np.asarray(actions), device=self.venv.device).reshape(self.E, self.N)
        out = self.venv.step(acts)
        rep = lambda x: x.repeat_interleave(self.N).cpu().numpy()  # noqa: E731  [E] -> [E*N]
        return (self._flat(out.obs), rep(out.reward).astype(np.float32), rep(out.terminated),
                rep(out.truncated), self._infos(out, with_final=True))

    def _flat(self, x: torch.Tensor) -> np.ndarray:
        return x.reshape(self.num_envs, -1).float().cpu().numpy()  # [E*N, F]

    def _infos(self, out: VecStep, with_final: bool) -> dict[str, Any]:
        infos: dict[str, Any] = {
            "action_mask": out.action_mask.reshape(self.num_envs, -1).to(torch.int8).cpu().numpy(),
            "alive": out.alive.reshape(-1).cpu().numpy(),
            "state": out.state.repeat_interleave(self.N, 0).float().cpu().numpy(),  # [E*N, S]
        }
        if with_final:
            done = out.done.repeat_interleave(self.N).cpu().numpy()  # [E*N]
            if done.any():
                infos["final_obs"] = self._flat(out.final_obs)
                infos["final_state"] = out.final_state.repeat_interleave(self.N, 0).float().cpu().numpy()
                infos["_final_obs"] = done
            infos["invalid_action"] = out.info["invalid"].reshape(-1).cpu().numpy()  # [E*N]
        else:
            infos["invalid_action"] = np.zeros(self.num_envs, bool)
        return infos

    def close_extras(self, **kwargs: Any) -> None:
        self.venv.close()
