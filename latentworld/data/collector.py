"""Run a policy in a real environment and append the finished episodes to a dataset.

Two paths share one episode builder: any PettingZoo ParallelEnv, one episode at a time,
and SMAX vmapped over many environments (``num_envs > 1``), ~20x faster on a CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv
from tqdm.auto import tqdm

from latentworld._io import writer_lock
from latentworld.core.spec import EnvSpec

from .dataset import Episode, EpisodeDataset

# What collection plays: policy(obs [E, N, obs_dim], action_mask [E, N, A]) -> actions [E, N] on
# numpy arrays (a learner, :class:`latentworld.algos.Policy`, acts on tensors; execution.as_deployed
# turns one into this). A policy with memory
# (a recurrent actor, or one that encodes latents from past observations) may also define
# ``reset(starting: np.ndarray [E] bool)``: called before the first action of every episode,
# with True for the envs whose episode is starting.
ArrayPolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _reset_policy(policy: ArrayPolicy, starting: np.ndarray) -> None:
    if hasattr(policy, "reset") and starting.any():
        policy.reset(starting)


def random_policy(seed: int = 0) -> ArrayPolicy:
    """Uniformly random among each agent's available actions."""
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        scores = rng.random(mask.shape) * (mask > 0) + (mask > 0)  # masked actions score 0
        return scores.argmax(-1)

    return act


@dataclass
class CollectStats:
    episodes: int
    steps: int
    mean_return: float
    win_rate: float | None
    steps_per_s: float
    path: str

    def to_dict(self) -> dict:
        """The statistics as a JSON-ready dict."""
        return asdict(self)


class EpisodeBuilder:
    """Accumulates one episode's rows; :meth:`finish` returns an :class:`Episode`."""

    def __init__(self, spec: EnvSpec):
        self.spec = spec
        self.rows: dict[str, list] = {}

    def start(self, obs, state, mask, alive) -> None:
        """Begin an episode at its first observation (obs [N, F], state [S], mask [N, A], alive [N])."""
        n = self.spec.n_agents
        self.rows = {"obs": [obs], "state": [state], "action_mask": [mask], "alive": [alive],
                     "rewards": [np.zeros(n, np.float32)], "actions": []}

    def add(self, actions, rewards, obs, state, mask, alive) -> None:
        """Append one step: the actions taken, the rewards received and what the agents see next."""
        r = self.rows
        r["actions"].append(np.asarray(actions, np.int64))
        r["rewards"].append(np.asarray(rewards, np.float32))
        r["obs"].append(obs)
        r["state"].append(state)
        r["action_mask"].append(mask)
        r["alive"].append(alive)

    def finish(self, terminated: bool, truncated: bool, won: bool | None) -> Episode:
        """The episode so far as an :class:`Episode`, ended by termination or truncation."""
        r = self.rows
        T = len(r["obs"])  # steps + 1
        actions = r["actions"] + [np.full(self.spec.n_agents, self.spec.noop_action, np.int64)]
        end = np.zeros(T, bool)
        end[-1] = True
        return Episode(
            obs=np.stack(r["obs"]).astype(np.float32),  # [T, N, obs_dim]
            state=np.stack(r["state"]).astype(np.float32),  # [T, state_dim]
            actions=np.stack(actions),  # [T, N]
            action_mask=np.stack(r["action_mask"]).astype(np.int8),  # [T, N, A]
            rewards=np.stack(r["rewards"]),  # [T, N]
            alive=np.stack(r["alive"]).astype(bool),  # [T, N]
            has_action=~end,
            terminated=end & bool(terminated),
            truncated=end & bool(truncated and not terminated),
            won=np.array(bool(won)),
        )


def spec_from_env(env_id: str, env: ParallelEnv) -> EnvSpec:
    """The EnvSpec of a latentworld adapter, or one inferred from any ParallelEnv."""
    spec = getattr(env, "env_spec", None)
    if isinstance(spec, EnvSpec):
        return spec
    agents = tuple(env.possible_agents)
    obs_spaces = [env.observation_space(a) for a in agents]
    act_spaces = [env.action_space(a) for a in agents]
    if any(not hasattr(s, "n") for s in act_spaces) or len({int(s.n) for s in act_spaces}) != 1:
        raise ValueError(f"{env_id}: latentworld needs one shared Discrete action space, got {act_spaces}")
    shapes = {tuple(s.shape or ()) for s in obs_spaces}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"{env_id}: latentworld needs one shared flat Box observation space, got {obs_spaces}")
    obs_dim = next(iter(shapes))[0]
    state_space = getattr(env, "state_space", None)
    state_dim = int(np.prod(state_space.shape)) if state_space is not None else obs_dim * len(agents)
    return EnvSpec(env_id=env_id, agents=agents, obs_dim=obs_dim, state_dim=state_dim,
                   n_actions=int(act_spaces[0].n), episode_limit=int(getattr(env, "max_cycles", 1000)),
                   noop_action=int(getattr(env, "noop_action", 0)), has_wins=False)


def env_arrays(env: ParallelEnv, spec: EnvSpec, obs: dict, infos: dict):
    """Dict observations of a generic ParallelEnv → (obs [N,D], state [S], mask [N,A], alive [N])."""
    o = np.zeros((spec.n_agents, spec.obs_dim), np.float32)
    mask = np.ones((spec.n_agents, spec.n_actions), np.int8)
    alive = np.zeros(spec.n_agents, bool)
    for i, a in enumerate(spec.agents):
        if a in obs:
            o[i] = np.asarray(obs[a], np.float32).reshape(-1)
        if "action_mask" in infos.get(a, {}):
            mask[i] = np.asarray(infos[a]["action_mask"], np.int8)
        alive[i] = bool(infos.get(a, {}).get("alive", a in env.agents))
    try:
        state = np.asarray(env.state(), np.float32).reshape(-1)
    except NotImplementedError:
        state = o.reshape(-1)
    return o, state, mask, alive


def run_episode(env: ParallelEnv, spec: EnvSpec, policy: ArrayPolicy, seed: int | None) -> Episode:
    """Play one episode of a ParallelEnv with ``policy``; returns it as arrays."""
    obs, infos = env.reset(seed=seed)
    builder = EpisodeBuilder(spec)
    o, s, m, al = env_arrays(env, spec, obs, infos)
    builder.start(o, s, m, al)
    _reset_policy(policy, np.ones(1, bool))
    terminated = truncated = False
    won = None
    for _ in range(10 * spec.episode_limit + 10):
        acts = np.asarray(policy(o[None], m[None]))[0]  # [N]
        obs, rew, term, trunc, infos = env.step({a: int(acts[i]) for i, a in enumerate(env.agents)
                                                 if a in spec.agents})
        rewards = np.array([rew.get(a, 0.0) for a in spec.agents], np.float32)
        o, s, m, al = env_arrays(env, spec, obs, infos)
        builder.add(acts, rewards, o, s, m, al)
        if not env.agents or all(term.get(a, False) or trunc.get(a, False) for a in term):
            terminated = any(term.values())
            truncated = not terminated
            won = any(bool(i.get("won", False)) for i in infos.values())
            break
    else:
        raise RuntimeError(f"{spec.env_id}: episode did not end within {10 * spec.episode_limit + 10} steps")
    return builder.finish(terminated, truncated, won)


def collect(
    env_id: str,
    out: str | Path,
    episodes: int,
    *,
    policy: ArrayPolicy | None = None,
    seed: int = 0,
    num_envs: int = 1,
    progress: bool = True,
    env_kwargs: dict | None = None,
) -> CollectStats:
    """Collect ``episodes`` episodes of ``env_id`` into the dataset at ``out``.

    ``num_envs > 1`` steps SMAX envs in one vmapped call (other families: ``num_envs`` must be 1).
    Each finished episode is on disk before the next one starts, so an interrupted run keeps
    everything it finished.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    with writer_lock(out, "dataset"):  # before the env starts: a second writer is refused at once
        return _collect(env_id, out, episodes, policy, seed, num_envs, progress, env_kwargs)


def _collect(env_id, out, episodes, policy, seed, num_envs, progress, env_kwargs) -> CollectStats:
    policy = policy or random_policy(seed)
    spec, episode_iter = episode_stream(env_id, policy, episodes, seed=seed, num_envs=num_envs,
                                        env_kwargs=env_kwargs)
    ds = EpisodeDataset.create(out, spec)
    bar = tqdm(total=episodes, desc=f"collect {env_id}", unit="ep", disable=not progress)
    returns, wins, steps = [], [], 0
    t0 = last_sync = time.perf_counter()  # after env construction and JIT compilation
    with ds:
        for ep in episode_iter:
            # Batched collection finishes hundreds of episodes a second: one fsync each would
            # dominate, so sync once a second (renames still make every file all-or-nothing).
            ds.append(ep, sync=num_envs == 1)
            if num_envs > 1 and time.perf_counter() - last_sync > 1.0:
                ds.sync()
                last_sync = time.perf_counter()
            returns.append(ep.team_return)
            wins.append(bool(ep.won))
            steps += ep.steps
            bar.update(1)
            shown = {"ret": f"{np.mean(returns):.3f}"}
            if spec.has_wins:
                shown["win"] = f"{np.mean(wins):.2f}"
            bar.set_postfix(shown)
    bar.close()
    elapsed = time.perf_counter() - t0
    return CollectStats(
        episodes=len(returns), steps=steps, mean_return=float(np.mean(returns)),
        win_rate=float(np.mean(wins)) if spec.has_wins else None,
        steps_per_s=steps / max(elapsed, 1e-9), path=str(Path(out)),
    )


def episode_stream(env_id: str, policy: ArrayPolicy, episodes: int, *, seed: int = 0, num_envs: int = 1,
                   env_kwargs: dict | None = None) -> tuple[EnvSpec, Iterator[Episode]]:
    """The spec of ``env_id`` and a generator of ``episodes`` episodes played by ``policy``.

    ``num_envs > 1`` steps the envs in one call of the adapter's batched env (SMAX's vmapped
    one, :func:`latentworld.registry.make_real_batch`); other families play one episode at a
    time (``num_envs`` must be 1). Nothing is written: see :func:`collect` for that.
    """
    from latentworld.registry import make_real, make_real_batch

    if num_envs > 1:
        batch = make_real_batch(env_id, num_envs, seed=seed)
        return batch.spec, batched_episodes(batch, policy, episodes)
    env = make_real(env_id, **(env_kwargs or {}))
    spec = spec_from_env(env_id, env)
    return spec, (run_episode(env, spec, policy, seed + k) for k in range(episodes))


def batched_episodes(batch: Any, policy: ArrayPolicy, episodes: int) -> Iterator[Episode]:
    """Yield exactly ``episodes`` finished episodes from an auto-resetting batch of envs.

    An env starts a new episode only while fewer than ``episodes`` have been started, so
    short episodes are not over-represented (no bias towards quick wins or losses).
    """
    cur = batch.reset()
    builders = [EpisodeBuilder(batch.spec) for _ in range(batch.num_envs)]
    active = np.arange(batch.num_envs) < episodes
    started = int(active.sum())
    for e in np.flatnonzero(active):
        builders[e].start(cur.obs[e], cur.state[e], cur.action_mask[e], cur.alive[e])
    _reset_policy(policy, np.ones(batch.num_envs, bool))
    while active.any():
        acts = np.asarray(policy(cur.obs, cur.action_mask))  # [E, N]
        step, cur = batch.step(acts)
        _reset_policy(policy, step.done)
        for e in np.flatnonzero(active):
            b = builders[e]
            b.add(acts[e], step.rewards[e], step.obs[e], step.state[e], step.action_mask[e], step.alive[e])
            if step.done[e]:
                yield b.finish(bool(step.terminated[e]), not bool(step.terminated[e]), bool(step.won[e]))
                if started < episodes:
                    b.start(cur.obs[e], cur.state[e], cur.action_mask[e], cur.alive[e])
                    started += 1
                else:
                    active[e] = False
