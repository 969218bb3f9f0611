"""A Tianshou vector env over :class:`LatentVectorEnv`: agents x envs as slots, masks included.

Tianshou's multi-agent route (``PettingZooEnv`` over an AEC env) hands each agent the reward
that arrived after its *own* move; converted from a parallel env, only the last agent of a
cycle ever sees the team reward, so the other agents learn from zeros. Here, as for SB3, every
(env, agent) pair is one slot of one vector env (``len(env) = E * N``, slot ``e * N + i`` is
agent i of env e) with its env's team reward, the policy is shared, and the whole batch steps
as one tensor call.

Observations are Tianshou ``Batch`` es with ``obs`` [S, F] and ``mask`` [S, A] bool, the keys
Tianshou's Q-learning policies read (``DiscreteQLearningPolicy`` never picks a masked action,
and its ε-exploration draws only available ones). A done slot returns the observation its
episode ended on; Tianshou then calls ``reset(env_id=...)``, which returns the next episode's
first observation (the learned env restarted it already).

Collect with ``n_step`` (a multiple of ``len(env)``): every slot steps together, since the
agents of one env act at once; a step of only some slots is refused with a clear error.
Tianshou is an optional dependency (extra ``tianshou``); importing this module needs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from tianshou.data import Batch

from latentworld.env.vector import LatentVectorEnv


class LatentTianshouVectorEnv:
    """E learned envs x N agents as Tianshou env slots; numpy in and out."""

    is_async = False
    waiting_id: list[int] = []

    def __init__(self, venv: LatentVectorEnv):
        self.venv = venv
        self.E, self.N = venv.num_envs, venv.n_agents
        self.S = self.E * self.N
        self.single_action_space = spaces.Discrete(venv.n_actions)
        self.single_observation_space = spaces.Dict({
            "obs": spaces.Box(-np.inf, np.inf, (venv.obs_dim,), np.float32),
            "mask": spaces.MultiBinary(venv.n_actions),
        })
        self.action_space = [self.single_action_space] * self.S  # Tianshou samples random actions per slot
        self.observation_space = [self.single_observation_space] * self.S
        self._next_first: Batch | None = None  # [S] first observations of the episodes restarted at the last step
        self._closed = False
        self.invalid_actions = 0  # masked actions received so far (replaced by the no-op)

    def __len__(self) -> int:
        return self.S

    def _flat(self, x: torch.Tensor) -> np.ndarray:
        return x.reshape(self.S, *x.shape[2:]).cpu().numpy()  # [E, N, ...] -> [S, ...]

    def _batch(self, obs: torch.Tensor, mask: torch.Tensor) -> Batch:
        return Batch(obs=self._flat(obs).astype(np.float32), mask=self._flat(mask).astype(bool))

    def _ids(self, env_id: Any) -> np.ndarray:
        return np.arange(self.S) if env_id is None else np.atleast_1d(np.asarray(env_id, dtype=np.int64))

    def reset(self, env_id: Any = None, **kwargs: Any) -> tuple[Batch, np.ndarray]:
        """All slots afresh (``env_id`` None; ``seed`` in kwargs re-seeds), or the first
        observations of slots whose episode just ended (already restarted by the learned env)."""
        if env_id is None or self._next_first is None:
            out = self.venv.reset(seed=kwargs.get("seed"))
            self._next_first = self._batch(out.obs, out.action_mask)
        ids = self._ids(env_id)
        return self._next_first[ids], np.array([{"env_id": int(i)} for i in ids])

    def step(self, action: Any, id: Any = None) -> tuple[Batch, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Actions for every slot [S] (ints); returns obs, rewards, terminated, truncated, infos [S]."""
        ids = self._ids(id)
        if len(ids) != self.S or not np.array_equal(ids, np.arange(self.S)):
            raise ValueError(f"LatentTianshouVectorEnv steps all {self.S} slots together (the agents of an env act "
                             f"at once), got {len(ids)} slot ids; collect with n_step=k*{self.S}, not n_episode")
        acts = np.asarray(action)
        if acts.shape != (self.S,):
            raise ValueError(f"expected {self.S} actions (one per slot), got shape {acts.shape}")
        out = self.venv.step(torch.as_tensor(acts.reshape(self.E, self.N), device=self.venv.device).long())
        done = out.done.cpu().numpy()  # [E]
        self._next_first = self._batch(out.obs, out.action_mask)
        ended = self._batch(out.final_obs, out.info["final_action_mask"])  # what each slot's episode ended on (= obs if not done)
        rep = lambda x: np.repeat(x.cpu().numpy(), self.N)  # noqa: E731  [E] -> [S]
        invalid = self._flat(out.info["invalid"])  # [S] a masked action was replaced by the no-op
        self.invalid_actions += int(invalid.sum())
        infos = np.array([{"env_id": k, "invalid_action": bool(invalid[k])} for k in range(self.S)])
        obs = Batch(obs=np.where(np.repeat(done, self.N)[:, None], ended.obs, self._next_first.obs),
                    mask=np.where(np.repeat(done, self.N)[:, None], ended.mask, self._next_first.mask))
        return obs, rep(out.reward).astype(np.float32), rep(out.terminated), rep(out.truncated), infos

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed every env's next reset."""
        return [seed] * self.S

    def render(self, **kwargs: Any) -> list[Any]:
        """No rendering of the batched learned env."""
        return []

    def close(self) -> None:
        """Close the learned envs."""
        self._closed = True
