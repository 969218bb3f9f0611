"""A SMAC-style (StarCraft2Env-like) object over the learned env, for PyMARL / EPyMARL code.

Those codebases drive an env with ``reset()``, ``step(actions) -> (reward, terminated,
info)`` and ``get_obs() / get_state() / get_avail_actions() / get_env_info()``; this class
maps that API onto :class:`LatentParallelEnv` (mask in infos). As in SMAC, ``terminated``
is True at any episode end and ``info["episode_limit"]`` is True when the end was a
truncation; ``info["battle_won"]`` is always False (the model does not predict wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .parallel import LatentParallelEnv


class LatentSMACEnv:
    """StarCraft2Env's method names over a learned env (agents by index, lists of arrays)."""

    def __init__(self, env: LatentParallelEnv):
        if env.action_mask_place != "info":
            raise ValueError("LatentSMACEnv needs the learned env made with action_mask='info'")
        self.env = env
        spec = env.env_spec
        self.n_agents, self.n_actions, self.episode_limit = spec.n_agents, spec.n_actions, env.core.limit
        self._agents = list(env.possible_agents)
        self._obs: dict[str, np.ndarray] = {}
        self._infos: dict[str, dict] = {}

    def reset(self, seed: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Start an imagined episode; returns (observations, state) as SMAC does."""
        self._obs, self._infos = self.env.reset(seed=seed)
        return self.get_obs(), self.get_state()

    def step(self, actions: Sequence[int] | np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        """One imagined step with every agent's action; returns (reward, terminated, info) as SMAC does."""
        acts = np.asarray(actions).reshape(-1)
        if acts.shape[0] != self.n_agents:
            raise ValueError(f"step() needs one action per agent ({self.n_agents}), got {acts.shape[0]}")
        self._obs, rew, term, trunc, self._infos = self.env.step(
            {a: acts[i] for i, a in enumerate(self._agents)})
        a0 = self._agents[0]
        info = {"battle_won": False, "episode_limit": bool(trunc[a0]),
                "invalid_actions": sum(bool(i.get("invalid_action")) for i in self._infos.values())}
        return float(rew[a0]), bool(term[a0] or trunc[a0]), info

    def get_obs(self) -> list[np.ndarray]:
        """Every agent's observation."""
        return [self._obs[a] for a in self._agents]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        """Agent ``agent_id``'s observation."""
        return self._obs[self._agents[agent_id]]

    def get_state(self) -> np.ndarray:
        """The centralized state."""
        return self.env.state()

    def get_avail_actions(self) -> list[np.ndarray]:
        """Every agent's available actions (0/1 per action)."""
        return [self._infos[a]["action_mask"] for a in self._agents]

    def get_avail_agent_actions(self, agent_id: int) -> np.ndarray:
        """Agent ``agent_id``'s available actions (0/1 per action)."""
        return self._infos[self._agents[agent_id]]["action_mask"]

    def get_obs_size(self) -> int:
        """Size of one agent's observation."""
        return int(self.env.core.obs_dim)

    def get_state_size(self) -> int:
        """Size of the state."""
        return int(self.env.state_space.shape[0])

    def get_total_actions(self) -> int:
        """Number of actions per agent."""
        return self.n_actions

    def get_env_info(self) -> dict[str, int]:
        """SMAC's env info: shapes, agents, actions and the episode limit."""
        return {"state_shape": self.get_state_size(), "obs_shape": self.get_obs_size(),
                "n_actions": self.n_actions, "n_agents": self.n_agents, "episode_limit": self.episode_limit}

    def close(self) -> None:
        """Close the learned env."""
        self.env.close()
