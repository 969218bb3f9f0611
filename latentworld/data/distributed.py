"""Collection from many real simulators with Ray: workers play, the driver writes.

Ray actors (:class:`_Worker`, one CPU each) own real envs (for SMAX a vmapped batch) and play
*chunks*: chunk c is ``chunk`` consecutive episodes whose randomness (env resets, the random
policy) comes from ``(seed, c)`` only, so an episode does not depend on which worker played
it or on how many workers there are. Finished chunks stream back to the driver, which
appends their episodes in chunk order through the same crash-safe dataset code as
:func:`~latentworld.data.collect` (the dataset format does not change).

Faults: a worker that dies (killed, or its process exits) loses only the chunk it was
playing; Ray restarts it and the chunk is played again (the same episodes, since chunks are
seeded), so the collection still ends with exactly the episodes asked for. A driver killed
mid-collection leaves a dataset that reopens with every episode written so far.

Workers are kept for the Ray session and reused by the next collection of the same env (a
worker pays its imports and, for SMAX, its compilation once). Ray is an optional dependency
(extra ``ray``); it is imported only here, and only when ``workers`` is given. Without an address, a local Ray instance with ``workers`` CPUs is
started (and shut down at the end); with ``ray_address`` the workers run on that cluster,
which needs latentworld installed on its nodes.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from latentworld._io import writer_lock

from .collector import CollectStats, random_policy, run_episode, spec_from_env
from .dataset import Episode, EpisodeDataset


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk`` of a collection seeded ``seed`` (31 bits, for jax and numpy)."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0] & 0x7FFFFFFF)


class _Player:
    """Plays chunks of episodes of one env id (what a Ray worker holds; usable without Ray)."""

    def __init__(self, env_id: str, num_envs: int, env_kwargs: dict | None):
        from latentworld.registry import make_real, real_batch_spec

        self.env_id, self.num_envs = env_id, num_envs
        self.batched = num_envs > 1
        if self.batched:
            self.spec, self.env = real_batch_spec(env_id), None
        else:
            self.env = make_real(env_id, **(env_kwargs or {}))
            self.spec = spec_from_env(env_id, self.env)

    def play(self, seed: int, chunk: int, first: int, count: int, policy: Any = None) -> list[Episode]:
        """Episodes ``first .. first + count - 1`` (chunk ``chunk`` of a collection seeded ``seed``),
        played by ``policy(chunk seed)`` (a factory such as ``ShippedPolicy``) or the random policy."""
        s = chunk_seed(seed, chunk)
        policy = random_policy(s) if policy is None else policy(s)
        if self.batched:
            from latentworld.registry import make_real_batch

            from .collector import batched_episodes

            return list(batched_episodes(make_real_batch(self.env_id, self.num_envs, seed=s), policy, count))
        return [run_episode(self.env, self.spec, policy, s + k) for k in range(count)]


def _worker_class(ray: Any) -> Any:
    @ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)
    class _Worker:
        """A Ray actor around :class:`_Player`."""

        def __init__(self, env_id: str, num_envs: int, env_kwargs: dict | None):
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            self.player = _Player(env_id, num_envs, env_kwargs)

        def pid(self) -> int:
            return os.getpid()

        def spec(self) -> Any:
            return self.player.spec

        def play(self, seed: int, chunk: int, first: int, count: int, policy: Any = None) -> list[Episode]:
            return self.player.play(seed, chunk, first, count, policy)

    return _Worker


_POOLS: dict[tuple, list] = {}  # (ray job, env id, num_envs, env kwargs) -> live workers


def _pool(ray: Any, env_id: str, num_envs: int, env_kwargs: dict | None, workers: int) -> list:
    """``workers`` workers for this env, reused across collections of it in one Ray session (a
    worker pays its imports and, for SMAX, its compilation once); the workers of another env are
    killed first, since each holds a CPU while idle."""
    key = (ray.get_runtime_context().get_job_id(), env_id, num_envs, repr(sorted((env_kwargs or {}).items())))
    for other in [k for k in _POOLS if k != key]:  # idle workers of another env hold CPUs: free them
        for actor in _POOLS.pop(other):
            ray.kill(actor, no_restart=True)
    pool = _POOLS.setdefault(key, [])
    Worker = _worker_class(ray)
    while len(pool) < workers:
        pool.append(Worker.remote(env_id, num_envs, env_kwargs))
    return pool[:workers]


def release_workers() -> None:
    """Forget the workers kept for reuse (before ``ray.shutdown()`` of a session you started)."""
    _POOLS.clear()


@dataclass
class DistributedCollection:
    """One collection run by Ray workers; :meth:`run` plays and writes everything.

    ``worker_pids()`` lists the workers' process ids while it runs (to watch or to kill one),
    ``done`` counts the episodes written so far and ``restarts`` the chunks played again after
    a worker died.
    """

    env_id: str
    out: str | Path
    episodes: int
    workers: int = 2
    seed: int = 0
    num_envs: int = 1
    chunk: int | None = None
    """Episodes per chunk (default: ``num_envs`` for SMAX batches, else 4)."""
    ray_address: str | None = None
    env_kwargs: dict | None = None
    progress: bool = True
    policy: Any = None
    """Who plays: a picklable factory ``policy(seed) -> collector policy`` (e.g.
    :class:`latentworld.execution.ShippedPolicy`, the loop's current policy), sent to the
    workers once through Ray's object store; None plays the random policy."""
    done: int = 0
    restarts: int = 0
    _actors: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")
        if self.chunk is None:
            self.chunk = self.num_envs if self.num_envs > 1 else 4
        if self.chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {self.chunk}")

    def worker_pids(self) -> list[int]:
        """Process ids of the Ray workers (for tests that kill one)."""
        import ray

        with self._lock:
            actors = list(self._actors)
        return [ray.get(a.pid.remote(), timeout=60) for a in actors]

    def run(self) -> CollectStats:
        """Collect every chunk, replaying the chunks of workers that died; returns the statistics."""
        try:
            import ray
        except ImportError as e:
            raise ImportError("collecting with workers needs Ray: pip install 'latentworld[ray]' "
                              "(or leave workers unset to collect in this process)") from e
        started = not ray.is_initialized()
        if started:
            kw = {"address": self.ray_address} if self.ray_address else {"num_cpus": self.workers}
            ray.init(include_dashboard=False, log_to_driver=False, **kw)
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < self.workers:
            if started:
                ray.shutdown()
            raise ValueError(f"{self.workers} workers need {self.workers} CPUs (one each) but the Ray cluster has "
                             f"{cpus:g}; use workers <= {int(cpus)} or a larger cluster")
        try:
            return self._run(ray)
        finally:
            if started:
                release_workers()
                ray.shutdown()

    def _run(self, ray: Any) -> CollectStats:
        with self._lock:
            self._actors = _pool(ray, self.env_id, self.num_envs, self.env_kwargs, self.workers)
        spec = ray.get(self._actors[0].spec.remote())
        n_chunks = -(-self.episodes // self.chunk)
        todo = deque(range(n_chunks))
        pending: dict[int, list[Episode]] = {}  # finished chunks waiting for an earlier one
        in_flight: dict[Any, tuple[int, Any]] = {}  # object ref -> (chunk, actor)
        ds = EpisodeDataset.create(self.out, spec)
        policy = None if self.policy is None else ray.put(self.policy)  # stored once, read by every worker
        bar = tqdm(total=self.episodes, desc=f"collect {self.env_id} ({self.workers} workers)", unit="ep",
                   disable=not self.progress)
        returns, wins, steps, next_chunk = [], [], 0, 0
        t0 = last_sync = time.perf_counter()

        def submit(actor: Any) -> None:
            if todo:
                c = todo.popleft()
                first = c * self.chunk
                ref = actor.play.remote(self.seed, c, first, min(self.chunk, self.episodes - first), policy)
                in_flight[ref] = (c, actor)

        with ds:
            for actor in self._actors:
                for _ in range(2):  # two chunks queued per worker: no idle gap between them
                    submit(actor)
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                c, actor = in_flight.pop(ready[0])
                try:
                    pending[c] = ray.get(ready[0])
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
                    todo.appendleft(c)  # the worker died with this chunk: play it again (same seed)
                    self.restarts += 1
                    time.sleep(0.5)  # let Ray restart it before it takes the next call
                submit(actor)  # a restarting actor takes the call once it is back
                while next_chunk in pending:  # write in chunk order: the same dataset for any worker count
                    for ep in pending.pop(next_chunk):
                        ds.append(ep, sync=False)
                        returns.append(ep.team_return)
                        wins.append(bool(ep.won))
                        steps += ep.steps
                        self.done += 1
                        bar.update(1)
                    next_chunk += 1
                    if time.perf_counter() - last_sync > 1.0:
                        ds.sync()
                        last_sync = time.perf_counter()
            ds.sync()
        bar.close()
        elapsed = time.perf_counter() - t0
        return CollectStats(episodes=len(returns), steps=steps, mean_return=float(np.mean(returns)),
                            win_rate=float(np.mean(wins)) if spec.has_wins else None,
                            steps_per_s=steps / max(elapsed, 1e-9), path=str(Path(self.out)))


def collect_distributed(env_id: str, out: str | Path, episodes: int, *, workers: int, seed: int = 0,
                        num_envs: int = 1, chunk: int | None = None, ray_address: str | None = None,
                        env_kwargs: dict | None = None, progress: bool = True, policy: Any = None) -> CollectStats:
    """:func:`~latentworld.data.collect` with ``workers`` Ray workers; see
    :class:`DistributedCollection` (``policy``: a factory ``seed -> policy``, default random).
    The same seed gives the same episodes for any ``workers``."""
    with writer_lock(out, "dataset"):
        return DistributedCollection(env_id, out, episodes, workers, seed, num_envs, chunk, ray_address, env_kwargs,
                                     progress, policy).run()


__all__ = ["DistributedCollection", "chunk_seed", "collect_distributed", "release_workers"]
