"""E real environments behind the batched tensor protocol (:class:`TensorVecEnv`).

Ids whose adapter has a batched real env step all E envs in one call
(:func:`latentworld.registry.make_real_batch`: SMAX's vmapped jax env); every other id (MPE,
Flatland, user registrations) loops over E :func:`latentworld.make_real` instances.
Either way finished envs restart automatically and the episode they ended on is kept in
``final_obs`` / ``final_state`` / ``info["final_action_mask"]`` / ``info["final_alive"]``
(``info["agent_rewards"]`` [E, N] holds the rewards before the team mean), so a learner sees the same
thing here as in imagination and a model-free baseline needs no code of its own.

E = envs, N = agents, F = obs size, S = state size, A = actions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from latentworld.core.spec import EnvSpec

from .protocol import VecStep


class RealVectorEnv:
    """``num_envs`` auto-resetting copies of the real env ``env_id`` (tensors in and out).

    Team reward = mean of the agents' rewards. Masked (unavailable) actions are replaced by
    the env's no-op and counted in ``info["invalid_actions"]``. Episodes that ended at a step
    are summarised in ``info["episode_returns"]``, ``["episode_lengths"]``, ``["episode_wins"]``.
    """

    def __init__(self, env_id: str, num_envs: int, *, seed: int = 0, device: str | torch.device = "cpu",
                 env_kwargs: dict[str, Any] | None = None):
        from latentworld.registry import has_real_batch

        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.env_id = env_id
        self.num_envs = num_envs
        self.device = torch.device(device)
        self._seed = seed
        if has_real_batch(env_id):
            if env_kwargs:
                raise ValueError(f"{env_id!r} runs as a batched env, which takes no env_kwargs; "
                                 f"got {sorted(env_kwargs)}")
            self._backend: _Backend = _BatchBackend(env_id, num_envs, seed)
        else:
            self._backend = _LoopBackend(env_id, num_envs, seed, env_kwargs or {})
        self.spec: EnvSpec = self._backend.spec
        self.n_agents = self.spec.n_agents
        self.n_actions = self.spec.n_actions
        self.obs_dim = self.spec.obs_dim
        self.state_dim = self.spec.state_dim
        self._mask: np.ndarray | None = None  # [E, N, A] bool: what the current obs allows
        self._ret = np.zeros(num_envs, np.float64)  # [E] running episode returns
        self._len = np.zeros(num_envs, np.int64)  # [E] running episode lengths

    def reset(self, seed: int | None = None) -> VecStep:
        """Start all E envs afresh (``seed`` re-seeds them; None continues the random stream)."""
        obs, state, mask, alive = self._backend.reset(seed)
        self._mask = mask
        self._ret[:] = 0.0
        self._len[:] = 0
        E = self.num_envs
        zeros_b = np.zeros(E, bool)
        return self._pack(obs, state, mask, alive, np.zeros(E, np.float32), zeros_b, zeros_b, zeros_b,
                          obs, state, {"final_action_mask": self._t(mask)})

    def step(self, actions: Tensor | np.ndarray) -> VecStep:
        """Advance every env with ``actions`` [E, N] (ints in [0, A)); finished envs restart."""
        if self._mask is None:
            raise RuntimeError("step() called before reset()")
        acts = self._validate(actions)  # [E, N] int64 numpy
        invalid = ~np.take_along_axis(self._mask, acts[..., None], -1)[..., 0]  # [E, N]
        acts = np.where(invalid, self.spec.noop_action, acts)
        out = self._backend.step(acts)
        reward = out["rewards"].mean(-1).astype(np.float32)  # [E] team reward
        terminated, truncated = out["terminated"], out["truncated"] & ~out["terminated"]
        done = terminated | truncated
        self._ret += reward
        self._len += 1
        ended = np.flatnonzero(done)
        info = {
            "invalid_actions": int(invalid.sum()),
            "final_action_mask": self._t(out["final_mask"]),  # [E, N, A] mask of the step just reached
            "final_alive": self._t(out["final_alive"], torch.bool),  # [E, N] who is alive there
            "agent_rewards": self._t(out["rewards"], torch.float32),  # [E, N] before the team mean
            "episode_returns": [float(self._ret[e]) for e in ended],
            "episode_lengths": [int(self._len[e]) for e in ended],
            "episode_wins": [bool(out["won"][e]) for e in ended],
        }
        self._ret[done] = 0.0
        self._len[done] = 0
        self._mask = out["mask"]
        return self._pack(out["obs"], out["state"], out["mask"], out["alive"], reward, terminated, truncated,
                          out["won"] & done, out["final_obs"], out["final_state"], info)

    def close(self) -> None:
        """Close the real envs."""
        self._backend.close()

    # ---- helpers ----------------------------------------------------------------------------
    def _validate(self, actions: Tensor | np.ndarray) -> np.ndarray:
        arr = actions.detach().cpu().numpy() if isinstance(actions, Tensor) else np.asarray(actions)
        shape = (self.num_envs, self.n_agents)
        if arr.shape != shape:
            raise ValueError(f"actions must have shape [E, N] = {list(shape)}, got {list(arr.shape)}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"actions must be integers (int64 tensor), got dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= self.n_actions)
        if bad.any():
            e, i = np.argwhere(bad)[0]
            raise ValueError(f"action {int(arr[e, i])} for env {e}, agent {i} is out of range: "
                             f"valid actions are 0..{self.n_actions - 1}")
        return arr.astype(np.int64)

    def _t(self, x: np.ndarray, dtype: torch.dtype | None = None) -> Tensor:
        # A copy: arrays from jax are read-only, and the caller may keep the tensor across steps.
        return torch.tensor(x, dtype=dtype, device=self.device)

    def _pack(self, obs, state, mask, alive, reward, term, trunc, won, final_obs, final_state, info) -> VecStep:
        f32 = torch.float32
        return VecStep(
            obs=self._t(obs, f32), state=self._t(state, f32), action_mask=self._t(mask, torch.bool),
            alive=self._t(alive, torch.bool), reward=self._t(reward, f32),
            terminated=self._t(term, torch.bool), truncated=self._t(trunc, torch.bool),
            won=self._t(won, torch.bool), final_obs=self._t(final_obs, f32),
            final_state=self._t(final_state, f32), info=info,
        )


class _Backend:
    """Array-level E envs: reset → (obs, state, mask, alive); step → dict of [E, ...] arrays."""

    spec: EnvSpec

    def reset(self, seed: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _BatchBackend(_Backend):
    """The adapter's batched env: one call per step, finished rows already auto-reset."""

    def __init__(self, env_id: str, num_envs: int, seed: int):
        from latentworld.registry import make_real_batch

        self._env_id, self._n = env_id, num_envs
        self._batch = make_real_batch(env_id, num_envs, seed=seed)
        self.spec = self._batch.spec

    def reset(self, seed):
        if seed is not None:  # a fresh batch is the only public way to re-seed (compiled code is cached)
            from latentworld.registry import make_real_batch

            self._batch = make_real_batch(self._env_id, self._n, seed=seed)
        r = self._batch.reset()
        return r.obs, r.state, r.action_mask > 0, r.alive

    def step(self, actions):
        cur, nxt = self._batch.step(actions)
        return {
            "obs": nxt.obs, "state": nxt.state, "mask": nxt.action_mask > 0, "alive": nxt.alive,
            "rewards": cur.rewards, "terminated": cur.terminated, "truncated": cur.done, "won": cur.won,
            "final_obs": cur.obs, "final_state": cur.state, "final_mask": cur.action_mask > 0,
            "final_alive": cur.alive,
        }


class _LoopBackend(_Backend):
    """E ParallelEnvs in a Python loop, each reset as soon as its episode ends."""

    def __init__(self, env_id: str, num_envs: int, seed: int, env_kwargs: dict[str, Any]):
        from latentworld.data.collector import spec_from_env
        from latentworld.registry import make_real

        self.envs = [make_real(env_id, **env_kwargs) for _ in range(num_envs)]
        self.spec = spec_from_env(env_id, self.envs[0])
        self._seed = seed
        self._episodes = 0  # seeds of later episodes follow on, so every episode differs

    def _reset_one(self, e: int, seed: int | None):
        from latentworld.data.collector import env_arrays

        env = self.envs[e]
        obs, infos = env.reset(seed=seed)
        return env_arrays(env, self.spec, obs, infos)

    def _next_seed(self) -> int:
        self._episodes += 1
        return self._seed + self._episodes

    def reset(self, seed):
        if seed is not None:
            self._seed, self._episodes = seed, 0
        rows = [self._reset_one(e, self._next_seed()) for e in range(len(self.envs))]
        obs, state, mask, alive = (np.stack(x) for x in zip(*rows))
        return obs, state, mask > 0, alive

    def step(self, actions):
        from latentworld.data.collector import env_arrays

        spec = self.spec
        E = len(self.envs)
        out = {k: [] for k in ("obs", "state", "mask", "alive", "final_obs", "final_state", "final_mask",
                               "final_alive")}
        rewards = np.zeros((E, spec.n_agents), np.float32)  # [E, N]
        term, trunc, won = np.zeros(E, bool), np.zeros(E, bool), np.zeros(E, bool)  # [E]
        for e, env in enumerate(self.envs):
            act = {a: int(actions[e, i]) for i, a in enumerate(spec.agents) if a in env.agents}
            obs, rew, te, tr, infos = env.step(act)
            rewards[e] = [rew.get(a, 0.0) for a in spec.agents]
            o, s, m, al = env_arrays(env, spec, obs, infos)
            for k, v in zip(("final_obs", "final_state", "final_mask", "final_alive"), (o, s, m > 0, al)):
                out[k].append(v)
            if not env.agents or all(te.get(a, False) or tr.get(a, False) for a in te):
                term[e] = any(te.values())
                trunc[e] = not term[e]
                won[e] = any(bool(i.get("won", False)) for i in infos.values())
                o, s, m, al = self._reset_one(e, self._next_seed())
            for k, v in zip(("obs", "state", "mask", "alive"), (o, s, m > 0, al)):
                out[k].append(v)
        res = {k: np.stack(v) for k, v in out.items()}
        res.update(rewards=rewards, terminated=term, truncated=trunc, won=won)
        return res

    def close(self):
        for env in self.envs:
            env.close()
