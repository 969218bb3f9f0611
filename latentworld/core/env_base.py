"""A ParallelEnv base that holds every PettingZoo convention latentworld promises.

Concrete adapters only move arrays: they implement ``_reset_arrays`` and ``_step_arrays``
over a fixed agent order; this class turns them into PettingZoo dicts, validates actions,
applies the ``invalid_action`` policy, keeps dead agents in the env with only their no-op
available, and empties ``agents`` once the episode is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .spec import EnvSpec

INVALID_ACTION_MODES = ("noop", "raise")


@dataclass
class ArrayStep:
    """One observation of the whole team as arrays (N agents, in ``spec.agents`` order)."""

    obs: np.ndarray  # [N, obs_dim] float32
    state: np.ndarray  # [state_dim] float32
    action_mask: np.ndarray  # [N, n_actions] int8
    alive: np.ndarray  # [N] bool
    rewards: np.ndarray | None = None  # [N] float32, None on reset
    terminated: bool = False
    truncated: bool = False
    won: bool | None = None  # set on the last step of envs with wins


def check_action(agent: str, action: Any, n_actions: int) -> int:
    """Convert one agent's action to int, or raise a ValueError naming agent and range."""
    if type(action) is int and 0 <= action < n_actions:  # the common case, without a numpy conversion
        return action
    arr = np.asarray(action)
    if arr.size != 1 or not (np.issubdtype(arr.dtype, np.integer) or _is_integral_float(arr)):
        raise ValueError(
            f"action for {agent!r} must be a single integer in [0, {n_actions - 1}], "
            f"got {action!r} (shape {arr.shape}, dtype {arr.dtype})"
        )
    a = int(arr.reshape(()))
    if not 0 <= a < n_actions:
        raise ValueError(f"action {a} for {agent!r} is out of range: valid actions are 0..{n_actions - 1}")
    return a


def _is_integral_float(arr: np.ndarray) -> bool:
    return np.issubdtype(arr.dtype, np.floating) and bool(np.all(np.isfinite(arr))) and bool(
        np.all(arr == np.round(arr))
    )


def safe_mask(mask: np.ndarray, noop: int) -> np.ndarray:
    """Masks as int8 with at least one available action per agent (the no-op as fallback)."""
    mask = (np.asarray(mask) > 0).astype(np.int8)  # [N, A]
    empty = mask.sum(-1) == 0
    mask[empty, noop] = 1
    return mask


class DiscreteParallelEnv(ParallelEnv):
    """PettingZoo ParallelEnv over array-level ``_reset_arrays`` / ``_step_arrays`` hooks."""

    metadata: dict[str, Any] = {"name": "latentworld_env", "render_modes": [], "is_parallelizable": True}

    def __init__(self, spec: EnvSpec, *, invalid_action: str = "noop", render_mode: str | None = None):
        if invalid_action not in INVALID_ACTION_MODES:
            raise ValueError(f"invalid_action must be one of {INVALID_ACTION_MODES}, got {invalid_action!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} is not supported; supported: {self.metadata['render_modes']}"
            )
        self.env_spec = spec
        self.invalid_action = invalid_action
        self.render_mode = render_mode
        self.possible_agents = list(spec.agents)
        self.agents: list[str] = []
        # One space object per env, returned for every agent on every call.
        self._obs_space = spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32)
        self._act_space = spaces.Discrete(spec.n_actions)
        self.state_space = spaces.Box(-np.inf, np.inf, (spec.state_dim,), np.float32)
        self._last: ArrayStep | None = None
        self._episode_return = np.zeros(spec.n_agents, np.float64)

    # ---- hooks for concrete adapters -------------------------------------------------------
    def _reset_arrays(self, seed: int | None) -> ArrayStep:
        raise NotImplementedError

    def _step_arrays(self, actions: np.ndarray) -> ArrayStep:
        """Advance with ``actions`` [N] int64 (already valid and available)."""
        raise NotImplementedError

    # ---- PettingZoo API ---------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        self._check_agent_name(agent)
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        self._check_agent_name(agent)
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        step = self._reset_arrays(seed)
        self._last = step
        self.agents = list(self.possible_agents)
        self._episode_return[:] = 0.0
        return self._obs_dict(step), self._info_dict(step)

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError(
                "step() called after the episode ended (agents == []); call reset() to start a new one"
            )
        acts, invalid = self._validate(actions)
        step = self._step_arrays(acts)
        self._last = step
        rewards = np.asarray(step.rewards, np.float32)
        self._episode_return += rewards
        done = step.terminated or step.truncated
        obs = self._obs_dict(step)
        infos = self._info_dict(step)
        for i, a in enumerate(self.possible_agents):
            infos[a]["invalid_action"] = bool(invalid[i])  # every step: libraries build specs from reset()
            if done and self.env_spec.has_wins and step.won is not None:
                infos[a]["won"] = bool(step.won)
        rew = {a: float(rewards[i]) for i, a in enumerate(self.possible_agents)}
        term = {a: bool(step.terminated) for a in self.possible_agents}
        trunc = {a: bool(step.truncated and not step.terminated) for a in self.possible_agents}
        if done:
            self.agents = []
        return obs, rew, term, trunc, infos

    def state(self) -> np.ndarray:
        if self._last is None:
            raise RuntimeError("state() called before reset()")
        return self._last.state.astype(np.float32, copy=True)

    def render(self):
        return None

    def close(self):
        pass

    # ---- helpers ----------------------------------------------------------------------------
    @property
    def last_arrays(self) -> ArrayStep:
        """The most recent step as arrays (used by the collector to avoid dict round trips)."""
        if self._last is None:
            raise RuntimeError("no step yet: call reset() first")
        return self._last

    def _check_agent_name(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; agents are {self.possible_agents}")

    def _validate(self, actions: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(actions, dict):
            raise ValueError(f"actions must be a dict {{agent: int}}, got {type(actions).__name__}")
        unknown = sorted(set(actions) - set(self.possible_agents))
        missing = [a for a in self.agents if a not in actions]
        if unknown or missing:
            raise ValueError(
                f"actions must have exactly one entry per agent in env.agents; "
                f"unknown keys: {unknown}, missing keys: {missing}; agents are {self.agents}"
            )
        spec = self.env_spec
        mask = self._last.action_mask  # [N, A]
        acts = np.empty(spec.n_agents, np.int64)
        invalid = np.zeros(spec.n_agents, bool)
        for i, a in enumerate(self.possible_agents):
            act = check_action(a, actions[a], spec.n_actions)
            if not mask[i, act]:
                if self.invalid_action == "raise":
                    allowed = np.flatnonzero(mask[i]).tolist()
                    raise ValueError(
                        f"action {act} for {a!r} is not available (masked); available actions: {allowed}. "
                        f"Sample from infos[{a!r}]['action_mask'], or make the env with "
                        f"invalid_action='noop' to replace masked actions with the no-op"
                    )
                invalid[i] = True
                act = spec.noop_action
            acts[i] = act
        return acts, invalid

    def _obs_dict(self, step: ArrayStep) -> dict[str, np.ndarray]:
        return {a: step.obs[i].astype(np.float32, copy=True) for i, a in enumerate(self.possible_agents)}

    def _info_dict(self, step: ArrayStep) -> dict[str, dict]:
        return {
            a: {"action_mask": step.action_mask[i].copy(), "alive": bool(step.alive[i]), "invalid_action": False}
            for i, a in enumerate(self.possible_agents)
        }
