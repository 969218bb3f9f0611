"""Real SMAX rollouts branched from saved real states: imagination's shape with a perfect model.

A diagnostic for the loop (``LoopConfig.oracle_branch``). :class:`StatePool` keeps the jax
states a batched real env passes through; :func:`branch_env` is a real vector env whose
episodes start from states drawn from the pool and are cut (truncated, so a learner
bootstraps from its critic) after ``horizon`` steps, as imagined rollouts are. Run beside the
plain oracle (full episodes from reset), it separates what the rollouts' shape costs from
what the world model's errors cost. Batched (SMAX) ids only: their state is a jax pytree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .real_vector import RealVectorEnv, _BatchBackend


class StatePool:
    """The states (and the observations served there) of ``real``'s envs after each step, from
    the last :meth:`clear` on; ``real`` must be a batched env (SMAX)."""

    def __init__(self, real: RealVectorEnv):
        backend = real._backend
        if not isinstance(backend, _BatchBackend):
            raise ValueError(f"{real.env_id!r} has no batched real env: branching needs its jax state")
        self._snaps: list[tuple] = []
        step = backend.step

        def tapped(actions: np.ndarray) -> dict[str, np.ndarray]:
            out = step(actions)
            self._snaps.append((backend._batch._state, out["obs"], out["state"], out["mask"], out["alive"]))
            return out

        backend.step = tapped

    def clear(self) -> None:
        """Forget the saved states (a new round saves its own)."""
        self._snaps = []

    def __len__(self) -> int:
        """Saved rows (env states)."""
        return sum(len(s[1]) for s in self._snaps)

    def stacked(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every saved row: (state pytree [P, ...], obs [P, N, F], world state [P, S], mask [P, N, A],
        alive [P, N])."""
        import jax
        import jax.numpy as jnp

        if not self._snaps:
            raise RuntimeError("the state pool is empty: step the real env first")
        states = jax.tree.map(lambda *xs: jnp.concatenate(xs), *[s[0] for s in self._snaps])
        return (states, *(np.concatenate([s[k] for s in self._snaps]) for k in range(1, 5)))


class _BranchBackend(_BatchBackend):
    """SMAX envs that (re)start from pool rows and are truncated after ``horizon`` steps."""

    def __init__(self, env_id: str, num_envs: int, seed: int, horizon: int):
        super().__init__(env_id, num_envs, seed)
        self.horizon = horizon
        self.rng = np.random.default_rng(seed)
        self.t = np.zeros(num_envs, np.int64)  # [E] steps since the branch began
        self.pool: tuple | None = None

    def set_pool(self, pool: StatePool) -> None:
        """Branch from ``pool``'s rows from the next reset or restart on."""
        self.pool = pool.stacked()

    def _draw(self, n: int) -> tuple:
        import jax

        idx = self.rng.integers(0, len(self.pool[1]), n)  # [n]
        return (jax.tree.map(lambda x: x[idx], self.pool[0]), *(a[idx] for a in self.pool[1:]))

    def reset(self, seed):
        if self.pool is None:
            raise RuntimeError("set_pool() before reset(): branches start from saved real states")
        state, obs, ws, mask, alive = self._draw(self._n)
        self._batch._state = state
        self.t[:] = 0
        return obs, ws, mask, alive

    def step(self, actions):
        import jax

        out = super().step(actions)
        self.t += 1
        cut = (self.t >= self.horizon) & ~out["truncated"]  # "truncated" here: the episode ended at all
        end = out["truncated"] | cut
        if end.any():
            rows = np.flatnonzero(end)
            state, obs, ws, mask, alive = self._draw(len(rows))
            self._batch._state = jax.tree.map(lambda a, b: a.at[rows].set(b), self._batch._state, state)
            for key, new in (("obs", obs), ("state", ws), ("mask", mask), ("alive", alive)):
                out[key] = out[key].copy()
                out[key][rows] = new
            self.t[rows] = 0
        return {**out, "truncated": end}


def branch_env(env_id: str, num_envs: int, horizon: int, *, seed: int = 0, device: str = "cpu") -> RealVectorEnv:
    """A real vector env whose episodes branch from a :class:`StatePool`'s rows (``set_pool``
    on its ``_backend``) for at most ``horizon`` steps."""
    env = RealVectorEnv(env_id, 1, seed=seed, device=device)  # a shell: its backend is replaced
    env.num_envs = num_envs
    env._backend = _BranchBackend(env_id, num_envs, seed, horizon)
    env._ret = np.zeros(num_envs, np.float64)
    env._len = np.zeros(num_envs, np.int64)
    return env
