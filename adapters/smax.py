"""SMAX (jaxmarl's JAX re-implementation of SMAC) as a ParallelEnv and as a vmapped batch.

Allies are the learning agents (``ally_0`` …); enemies follow jaxmarl's built-in heuristic
(``HeuristicEnemySMAX``). One ParallelEnv step costs a jitted call (~700 steps/s on a CPU
core); :class:`SMAXBatch` steps many envs in one vmapped call for fast data collection.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from functools import cache

import numpy as np

from latentworld.core.env_base import ArrayStep, DiscreteParallelEnv, safe_mask
from latentworld.core.spec import EnvSpec

SMAX_MAPS = (
    "3m", "2s3z", "3s5z", "8m", "25m", "5m_vs_6m", "10m_vs_11m", "27m_vs_30m",
    "3s5z_vs_3s6z", "3s_vs_5z", "6h_vs_8z", "smacv2_5_units", "smacv2_10_units", "smacv2_20_units",
)
KNOWN_NAMES = {"smax": SMAX_MAPS}
NOOP = 4  # SMAX: 0-3 move, 4 stop, 5.. attack enemy k


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send file descriptor 1 to stderr (a module on jaxmarl's import path resets sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _enable_compilation_cache(jax) -> None:
    """Keep compiled SMAX programs on disk: the second process starts in seconds, not ~15 s.

    ``LATENTWORLD_JAX_CACHE`` picks the folder ("" disables it); a cache the user already
    configured for jax is left alone.
    """
    path = os.environ.get("LATENTWORLD_JAX_CACHE", os.path.expanduser("~/.cache/latentworld/jax"))
    if path and not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", path)


@cache
def _jax_env(name: str):
    """Build the jaxmarl env and its jitted functions once per map (compilation is slow)."""
    import jax
    import jax.numpy as jnp

    _enable_compilation_cache(jax)
    with _stdout_to_stderr():  # jaxmarl prints on import; keep stdout clean for --json output
        from jaxmarl import make
        from jaxmarl.environments.smax import map_name_to_scenario

    env = make("HeuristicEnemySMAX", scenario=map_name_to_scenario(name))
    agents = list(env.agents)

    def pack(obs, state):
        o = jnp.stack([obs[a] for a in agents])  # [N, obs_dim]
        avail = env.get_avail_actions(state)
        m = jnp.stack([avail[a] for a in agents])  # [N, A]
        alive = state.state.unit_alive[: env.num_allies]  # [N]
        return o, obs["world_state"], m, alive

    def reset(key):
        obs, state = env.reset(key)
        return (state, *pack(obs, state))

    def step(key, state, actions):  # actions [N] int
        acts = {a: actions[i] for i, a in enumerate(agents)}
        obs, nstate, rew, dones, _ = env.step_env(key, state, acts)
        r = jnp.stack([rew[a] for a in agents])  # [N]
        s = nstate.state
        enemies_dead = ~jnp.any(s.unit_alive[env.num_allies :])
        allies_dead = ~jnp.any(s.unit_alive[: env.num_allies])
        done = dones["__all__"]
        terminated = done & (enemies_dead | allies_dead)
        return (nstate, *pack(obs, nstate), r, done, terminated, enemies_dead & ~allies_dead)

    def step_autoreset(key, state, actions):
        k_step, k_reset = jax.random.split(key)
        out = step(k_step, state, actions)
        r_state, *r_pack = reset(k_reset)
        done = out[6]
        nxt_state = jax.tree.map(lambda a, b: jnp.where(done, a, b), r_state, out[0])
        nxt = [jnp.where(done, a, b) for a, b in zip(r_pack, out[1:5])]
        return (*out[1:], nxt_state, *nxt)

    reset_j, step_j = jax.jit(reset), jax.jit(step)
    # Compile once here so that the first episode (and any timing of it) runs at full speed.
    # Two steps: reset's state holds a weakly-typed field that the first step makes strong.
    state, *_ = reset_j(jax.random.PRNGKey(0))
    for _ in range(2):
        state, *_ = step_j(jax.random.PRNGKey(0), state, jnp.full(len(agents), NOOP, jnp.int32))
    return env, agents, reset_j, step_j, jax.jit(jax.vmap(reset)), jax.jit(jax.vmap(step_autoreset))


def smax_spec(name: str) -> EnvSpec:
    """The EnvSpec of an SMAX map (agents, observation and world-state sizes, actions, episode limit)."""
    env, agents, *_ = _jax_env(name)
    obs_dim = int(env.observation_space(agents[0]).shape[0])
    n_units = env.num_allies + env.num_enemies
    return EnvSpec(
        env_id=f"smax-{name}",
        agents=tuple(agents),
        obs_dim=obs_dim,
        state_dim=12 * n_units,  # jaxmarl's world_state: 12 features per unit
        n_actions=int(env.action_space(agents[0]).n),
        episode_limit=int(env.max_steps),
        noop_action=NOOP,
        has_wins=True,
        extra={"map": name, "n_allies": env.num_allies, "n_enemies": env.num_enemies},
    )


class SMAXParallelEnv(DiscreteParallelEnv):
    """One SMAX episode at a time behind the PettingZoo ParallelEnv API."""

    metadata = {"name": "smax_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, name: str, *, invalid_action: str = "noop", render_mode: str | None = None):
        import jax

        super().__init__(smax_spec(name), invalid_action=invalid_action, render_mode=render_mode)
        self._jax = jax
        _, _, self._reset_fn, self._step_fn, _, _ = _jax_env(name)
        self._key = jax.random.PRNGKey(0)
        self._state = None

    def _reset_arrays(self, seed: int | None) -> ArrayStep:
        if seed is not None:
            self._key = self._jax.random.PRNGKey(seed)
        self._key, k = self._jax.random.split(self._key)
        self._state, obs, ws, mask, alive = self._reset_fn(k)
        return self._arrays(obs, ws, mask, alive)

    def _step_arrays(self, actions: np.ndarray) -> ArrayStep:
        self._key, k = self._jax.random.split(self._key)
        out = self._step_fn(k, self._state, actions.astype(np.int32))
        self._state, obs, ws, mask, alive, rew, done, term, won = out
        step = self._arrays(obs, ws, mask, alive)
        step.rewards = np.asarray(rew, np.float32)
        step.terminated = bool(term)
        step.truncated = bool(done) and not bool(term)
        step.won = bool(won) if bool(done) else None
        return step

    def _arrays(self, obs, ws, mask, alive) -> ArrayStep:
        return ArrayStep(
            obs=np.asarray(obs, np.float32),
            state=np.asarray(ws, np.float32),
            action_mask=safe_mask(np.asarray(mask), NOOP),
            alive=np.asarray(alive, bool),
        )


def make_smax(name: str, **kwargs) -> SMAXParallelEnv:
    """The SMAX map ``name`` (for example ``3m``) as a ParallelEnv; ``kwargs`` go to its constructor."""
    return SMAXParallelEnv(name, **kwargs)


@dataclass
class BatchStep:
    """A step of E envs as arrays; rows where ``done`` hold the terminal step, and
    ``reset_*`` hold the first step of the episode that replaced it (auto-reset)."""

    obs: np.ndarray  # [E, N, obs_dim]
    state: np.ndarray  # [E, state_dim]
    action_mask: np.ndarray  # [E, N, A] int8
    alive: np.ndarray  # [E, N] bool
    rewards: np.ndarray  # [E, N]
    done: np.ndarray  # [E] bool
    terminated: np.ndarray  # [E] bool
    won: np.ndarray  # [E] bool (meaningful where done)


class SMAXBatch:
    """E independent SMAX envs stepped in one ``jax.vmap``-ed call, with auto-reset."""

    def __init__(self, name: str, num_envs: int, seed: int = 0):
        import jax
        import jax.numpy as jnp

        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self._jax, self._jnp = jax, jnp
        self.spec = smax_spec(name)
        self.num_envs = num_envs
        _, _, _, _, self._vreset, self._vstep = _jax_env(name)
        self._key = jax.random.PRNGKey(seed)
        # Compile for this batch size now rather than inside the first timed step.
        state, *_ = self._vreset(self._keys())
        noop = jnp.full((num_envs, self.spec.n_agents), NOOP, jnp.int32)
        for _ in range(2):  # see _jax_env: the second step compiles for the strongly-typed state
            state = self._vstep(self._keys(), state, noop)[8]
        self._key = jax.random.PRNGKey(seed)

    def _keys(self):
        self._key, k = self._jax.random.split(self._key)
        return self._jax.random.split(k, self.num_envs)

    def reset(self) -> ArrayStep:
        """Reset all envs; returns arrays with a leading E axis."""
        self._state, obs, ws, mask, alive = self._vreset(self._keys())
        return ArrayStep(
            np.asarray(obs, np.float32), np.asarray(ws, np.float32),
            _safe_batch_mask(mask), np.asarray(alive, bool),
        )

    def step(self, actions: np.ndarray) -> tuple[BatchStep, ArrayStep]:
        """Step all envs with ``actions`` [E, N]; finished envs are reset.

        Returns the step (terminal rows included) and the observations to act on next
        (equal to the step's rows except where an env was reset).
        """
        jnp = self._jnp
        out = self._vstep(self._keys(), self._state, jnp.asarray(actions, jnp.int32))
        obs, ws, mask, alive, rew, done, term, won, self._state, n_obs, n_ws, n_mask, n_alive = out
        step = BatchStep(
            np.asarray(obs, np.float32), np.asarray(ws, np.float32), _safe_batch_mask(mask),
            np.asarray(alive, bool), np.asarray(rew, np.float32), np.asarray(done, bool),
            np.asarray(term, bool), np.asarray(won, bool),
        )
        nxt = ArrayStep(
            np.asarray(n_obs, np.float32), np.asarray(n_ws, np.float32),
            _safe_batch_mask(n_mask), np.asarray(n_alive, bool),
        )
        return step, nxt


def _safe_batch_mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    return safe_mask(m.reshape(-1, m.shape[-1]), NOOP).reshape(m.shape)


def smax_ally_block(spec: EnvSpec) -> int:
    """The per-unit block length of a SMAX observation (``MFConfig.ally_block`` of the
    mean-field learners, which find the nearest allies in it), from an
    :class:`~latentworld.core.spec.EnvSpec` whose ``extra`` names ``n_allies`` and ``n_enemies``.
    SMAX: obs = (N−1+M) unit blocks of 7+b features, then 4+b own features (b type bits)."""
    try:
        others = spec.extra["n_allies"] - 1 + spec.extra["n_enemies"]
    except KeyError as e:
        raise ValueError(f"{spec.env_id}: spec.extra has no {e}; smax_ally_block needs a SMAX env spec") from None
    bits, rest = divmod(spec.obs_dim - 7 * others - 4, others + 1)
    if rest or bits < 0:
        raise ValueError(f"{spec.env_id}: obs_dim {spec.obs_dim} does not fit SMAX's layout for {others} other units")
    return 7 + bits
