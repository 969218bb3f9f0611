"""Wrappers of a :class:`TensorVecEnv` used by the loop: record its episodes, serve obs as state.

:class:`RecordingVecEnv` lets a learner train on a real vector env exactly as it would
without it (same steps, same random streams) while every episode that finishes is appended
to an :class:`~latentworld.data.EpisodeDataset`: the loop's model-free backbone and its
world model's data are then one and the same stream of real steps.

:class:`ObsStateVecEnv` replaces the env's state by every agent's observation, flattened:
a critic then reads the same kind of input in the real env (real observations) and in the
learned env with ``obs="decoded"`` (predicted observations), where the real state and the
model's global features would differ in kind and size.

E = envs, N = agents, F = obs size, S = state size, A = actions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from latentworld.core.spec import EnvSpec
from latentworld.data import EpisodeDataset
from latentworld.data.collector import EpisodeBuilder

from .protocol import TensorVecEnv, VecStep


class RecordingVecEnv:
    """``env`` unchanged, with its finished episodes appended to ``dataset``.

    Needs ``info["agent_rewards"]`` [E, N], ``info["final_action_mask"]`` and
    ``info["final_alive"]`` from ``env.step`` (:class:`~latentworld.env.real_vector.RealVectorEnv`
    serves them). Episodes under way when recording stops are not written. ``new_episodes``
    lists the dataset indices written since the last :meth:`take_new` call.
    """

    def __init__(self, env: TensorVecEnv, dataset: EpisodeDataset, spec: EnvSpec):
        self.env, self.dataset, self.spec = env, dataset, spec
        for name in ("num_envs", "n_agents", "n_actions", "obs_dim", "state_dim", "device"):
            setattr(self, name, getattr(env, name))
        self._builders = [EpisodeBuilder(spec) for _ in range(env.num_envs)]
        self._started = np.zeros(env.num_envs, bool)  # [E] an episode is being recorded
        self._new: list[int] = []
        self.returns: list[float] = []  # team returns of the episodes written since take_new()
        self.wins: list[bool] = []

    def reset(self, seed: int | None = None) -> VecStep:
        """Reset the wrapped env and start recording an episode in every env."""
        step = self.env.reset(seed=seed)
        rows = _np(step.obs, step.state, step.action_mask, step.alive)
        for e, b in enumerate(self._builders):
            b.start(*(x[e] for x in rows))
        self._started[:] = True
        return step

    def step(self, actions: Tensor) -> VecStep:
        """Step the wrapped env; every episode that ends is written to the dataset."""
        step = self.env.step(actions)
        info = step.info
        acts = _np(actions)[0]  # [E, N]
        rew = _np(info["agent_rewards"])[0]  # [E, N]
        done = _np(step.done)[0]  # [E]
        final = _np(step.final_obs, step.final_state, info["final_action_mask"], info["final_alive"])
        nxt = _np(step.obs, step.state, step.action_mask, step.alive)
        term, won = _np(step.terminated, step.won)
        for e, b in enumerate(self._builders):
            if not self._started[e]:
                continue
            b.add(acts[e], rew[e], *(x[e] for x in final))
            if done[e]:
                ep = b.finish(bool(term[e]), not bool(term[e]), bool(won[e]) if self.spec.has_wins else None)
                self._new.append(int(self.dataset.append(ep, sync=False).stem[3:]))  # ep_0000042 -> 42
                self.returns.append(ep.team_return)
                self.wins.append(bool(ep.won))
                b.start(*(x[e] for x in nxt))
        return step

    def take_new(self) -> list[int]:
        """Dataset indices of the episodes finished since the last call (and forget them)."""
        self.dataset.sync()
        new, self._new = self._new, []
        self.returns, self.wins = [], []
        return new

    def close(self) -> None:
        """Close the wrapped env (the dataset stays open: its owner closes it)."""
        self.env.close()


class ObsStateVecEnv:
    """``env`` with ``state`` (and ``final_state``) replaced by the observations flattened: [E, N*F]."""

    def __init__(self, env: Any):
        self.env = env
        for name in ("num_envs", "n_agents", "n_actions", "obs_dim", "device"):
            setattr(self, name, getattr(env, name))
        self.state_dim = env.n_agents * env.obs_dim

    def __getattr__(self, name: str) -> Any:  # set_starts, stats, ... of the wrapped env
        return getattr(self.env, name)

    def reset(self, seed: int | None = None) -> VecStep:
        """Reset the wrapped env; the state is the flattened observations."""
        return self._swap(self.env.reset(seed=seed))

    def step(self, actions: Tensor) -> VecStep:
        """Step the wrapped env; the state is the flattened observations."""
        return self._swap(self.env.step(actions))

    @staticmethod
    def _swap(step: VecStep) -> VecStep:
        step.state = step.obs.flatten(1)  # [E, N*F]
        step.final_state = step.final_obs.flatten(1)  # [E, N*F]
        return step

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()


def _np(*xs: Tensor) -> list[np.ndarray]:
    return [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in xs]
