"""Collection with Ray workers: the same episodes for any number of workers, and a worker
killed mid-collection costs only its chunk (a local Ray instance with 2 CPUs)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import run_cli

from latentworld.data import EpisodeDataset
from latentworld.data.distributed import DistributedCollection, collect_distributed

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _episodes(path):
    ds = EpisodeDataset.open(path)
    eps = [ds[i] for i in range(len(ds))]
    for ep in eps:
        ep.validate(ds.spec)
    return eps


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x.obs, y.obs) and np.array_equal(x.actions, y.actions) and np.array_equal(x.rewards, y.rewards)
        for x, y in zip(a, b))


@pytest.mark.parametrize("env_id, num_envs, module", [
    pytest.param("smax-3m", 4, "jaxmarl", marks=pytest.mark.slow),  # each worker compiles the vmapped SMAX
    pytest.param("flatland-30x30-2c-2t", 1, "flatland", marks=pytest.mark.slow),  # ~200 steps/s per worker
    ("mpe-simple_spread_v3", 1, "mpe2")])
def test_two_workers_write_the_episodes_one_worker_writes(tmp_path, local_ray, env_id, num_envs, module):
    """40 complete episodes with 2 workers, the same as with 1 (deterministic envs), another seed others."""
    pytest.importorskip(module)
    runs = {}
    for w in (1, 2):
        stats = collect_distributed(env_id, tmp_path / f"w{w}", 40, workers=w, seed=7, num_envs=num_envs,
                                    progress=False)
        assert stats.episodes == 40
        runs[w] = _episodes(tmp_path / f"w{w}")
    assert len(runs[2]) == 40 and _same(runs[1], runs[2])
    other = collect_distributed(env_id, tmp_path / "seed8", 8, workers=2, seed=8, num_envs=num_envs, progress=False)
    assert other.episodes == 8 and not _same(runs[2][:8], _episodes(tmp_path / "seed8"))


def test_a_killed_worker_costs_only_its_chunk(tmp_path, local_ray):
    pytest.importorskip("mpe2")
    run = DistributedCollection("mpe-simple_spread_v3", tmp_path / "killed", 40, workers=2, seed=1, chunk=2,
                                progress=False)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(stats=run.run()))
    thread.start()
    deadline = time.time() + 120
    while run.done < 6 and time.time() < deadline:
        time.sleep(0.05)
    assert run.done < 40, "collection finished before a worker could be killed"
    os.kill(run.worker_pids()[0], signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive() and result["stats"].episodes == 40
    assert run.restarts >= 1
    killed = _episodes(tmp_path / "killed")  # every file complete and valid
    assert len(killed) == 40 and not list((tmp_path / "killed" / "episodes").glob("*.tmp*"))
    collect_distributed("mpe-simple_spread_v3", tmp_path / "clean", 40, workers=2, seed=1, chunk=2, progress=False)
    assert _same(killed, _episodes(tmp_path / "clean"))  # the replayed chunk is the same episodes


def test_more_workers_than_cpus_is_refused(tmp_path, local_ray):
    with pytest.raises(ValueError, match="3 workers need 3 CPUs"):
        collect_distributed("mpe-simple_spread_v3", tmp_path / "x", 4, workers=3, progress=False)


def test_cli_collect_with_workers_writes_the_episodes_asked_for(tmp_path):
    """``latentworld collect ... --workers 2`` (its own local Ray instance) writes exactly the
    episodes asked for, complete, and ``latentworld info`` reads them."""
    pytest.importorskip("mpe2")
    out = tmp_path / "data"
    stats = json.loads(run_cli("collect", "mpe-simple_spread_v3", "--episodes", "6", "--workers", "2",
                               "--out", str(out), "--json", "--no-progress").stdout.strip().splitlines()[-1])
    assert stats["episodes"] == 6
    info = json.loads(run_cli("info", str(out), "--json").stdout)
    assert info["episodes"] == 6 and len(_episodes(out)) == 6
    bad = run_cli("collect", "mpe-simple_spread_v3", "--episodes", "2", "--ray-address", "auto",
                  "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "--workers" in bad.stderr


def test_workers_play_the_shipped_policy(tmp_path, local_ray):
    """A :class:`ShippedPolicy` (what ``run --workers`` sends) is what the workers play: every
    recorded action is the learner's greedy action on the recorded observation."""
    pytest.importorskip("mpe2")
    import torch

    from latentworld.algos import MAPPO, MAPPOConfig
    from latentworld.execution import ShippedPolicy

    spec = EpisodeDataset.open(_random_dataset(tmp_path)).spec
    learner = MAPPO(spec.obs_dim, spec.state_dim, spec.n_agents, spec.n_actions, MAPPOConfig(seed=3))
    stats = collect_distributed("mpe-simple_spread_v3", tmp_path / "shipped", 6, workers=2, seed=5, chunk=2,
                                policy=ShippedPolicy(learner, deterministic=True), progress=False)
    assert stats.episodes == 6
    for ep in _episodes(tmp_path / "shipped"):
        rows = ep.has_action  # [T]
        obs = torch.as_tensor(ep.obs[rows])  # [T', N, F]
        greedy = learner.act(obs, torch.as_tensor(ep.action_mask[rows] > 0), deterministic=True)
        assert np.array_equal(greedy.numpy(), ep.actions[rows])
    rand = _episodes(_random_dataset(tmp_path))
    assert not _same(rand[:6], _episodes(tmp_path / "shipped"))


def _random_dataset(tmp_path):
    path = tmp_path / "random"
    if not path.exists():
        collect_distributed("mpe-simple_spread_v3", path, 6, workers=2, seed=5, chunk=2, progress=False)
    return path


def test_without_workers_ray_is_not_imported(tmp_path):
    """Collection, and importing the loop, run without Ray unless workers are asked for."""
    pytest.importorskip("mpe2")
    import subprocess
    import sys

    code = ("import sys\nfrom latentworld.data import collect\nimport latentworld.loop\n"
            f"collect('mpe-simple_spread_v3', {str(tmp_path / 'a')!r}, 2, progress=False)\n"
            "print('ray' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
