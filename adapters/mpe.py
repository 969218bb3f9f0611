"""MPE (mpe2) environments with discrete actions behind the latentworld conventions.

mpe2's own ParallelEnvs already pass the PettingZoo API test; this adapter adds what
latentworld promises on top: one shared observation space (shorter observations are
zero-padded to the longest, e.g. adversaries vs good agents), one shared Discrete action
space (agents with fewer actions, such as a listener beside a speaker, get the extra actions
masked out), ``np.int8`` masks, a fixed agent set and a flat ``state()``.
"""

from __future__ import annotations

import importlib

import numpy as np

from latentworld.core.env_base import ArrayStep, DiscreteParallelEnv
from latentworld.core.spec import EnvSpec

MPE_NAMES = (
    "simple_v3", "simple_spread_v3", "simple_adversary_v3", "simple_crypto_v3", "simple_push_v3",
    "simple_reference_v3", "simple_speaker_listener_v4", "simple_tag_v3", "simple_world_comm_v3",
)
KNOWN_NAMES = {"mpe": MPE_NAMES}
NOOP = 0  # mpe2 discrete actions: 0 no-op, 1-4 move (world_comm leaders also speak)


class MPEParallelEnv(DiscreteParallelEnv):
    """An mpe2 environment (``continuous_actions=False``) as a latentworld ParallelEnv."""

    metadata = {"name": "mpe_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, name: str, *, invalid_action: str = "noop", render_mode: str | None = None, **env_kwargs):
        module = importlib.import_module(f"mpe2.{name}")
        self._env = module.parallel_env(continuous_actions=False, **env_kwargs)
        agents = tuple(self._env.possible_agents)
        self._n_acts = [int(self._env.action_space(a).n) for a in agents]
        self._obs_dims = [int(np.prod(self._env.observation_space(a).shape)) for a in agents]
        max_cycles = int(getattr(self._env.unwrapped, "max_cycles", env_kwargs.get("max_cycles", 25)))
        spec = EnvSpec(
            env_id=f"mpe-{name}",
            agents=agents,
            obs_dim=max(self._obs_dims),
            state_dim=sum(self._obs_dims),
            n_actions=max(self._n_acts),
            episode_limit=max_cycles,
            noop_action=NOOP,
            has_wins=False,
            extra={"name": name, "obs_dims": self._obs_dims, **{k: v for k, v in env_kwargs.items()}},
        )
        super().__init__(spec, invalid_action=invalid_action, render_mode=render_mode)
        self._mask = np.zeros((spec.n_agents, spec.n_actions), np.int8)  # [N, A]
        for i, n in enumerate(self._n_acts):
            self._mask[i, :n] = 1
        self._t = 0

    def _arrays(self, obs: dict) -> ArrayStep:
        spec = self.env_spec
        o = np.zeros((spec.n_agents, spec.obs_dim), np.float32)  # [N, obs_dim], zero-padded
        for i, a in enumerate(spec.agents):
            o[i, : self._obs_dims[i]] = obs[a]
        state = np.concatenate([o[i, : d] for i, d in enumerate(self._obs_dims)])  # [state_dim]
        return ArrayStep(
            obs=o,
            state=state.astype(np.float32),
            action_mask=self._mask.copy(),
            alive=np.ones(spec.n_agents, bool),
        )

    def _reset_arrays(self, seed: int | None) -> ArrayStep:
        obs, _ = self._env.reset(seed=seed)
        self._t = 0
        return self._arrays(obs)

    def _step_arrays(self, actions: np.ndarray) -> ArrayStep:
        agents = self.env_spec.agents
        obs, rew, term, trunc, _ = self._env.step({a: int(actions[i]) for i, a in enumerate(agents)})
        self._t += 1
        step = self._arrays(obs)
        step.rewards = np.array([rew[a] for a in agents], np.float32)
        step.terminated = any(term.values())
        step.truncated = any(trunc.values()) or self._t >= self.env_spec.episode_limit
        return step

    def close(self):
        self._env.close()


def make_mpe(name: str, **kwargs) -> MPEParallelEnv:
    """The mpe2 env ``name`` (for example ``simple_spread_v3``) with discrete actions as a ParallelEnv; ``kwargs`` go to mpe2."""
    return MPEParallelEnv(name, **kwargs)
