"""Learned-env speed of one source tree, for A/B comparisons across commits (CPU seconds).

Single env (``--single-steps`` steps after a 50-step warm-up, random valid actions) and vector
env (64 and 1024 envs, random actions) on smax-3m and smax-3s5z with an untrained DEFAULT
model, timed by this process's CPU time so other jobs on the machine disturb it less.
Compare two commits by running each tree alternately:

    git worktree add /tmp/before <commit>
    for i in 1 2 3; do for t in /tmp/before .; do
        (cd $t && PYTHONPATH=$t python benchmarks/env_speed_ab.py); done; done

Prints one JSON line: {"3m single": env-steps/s, "3m vec64": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from latentworld.adapters.smax import smax_spec
from latentworld.env import LatentParallelEnv, LatentVectorEnv
from latentworld.model import WorldModel, WorldModelConfig

CLOCK = time.process_time


def single(model: WorldModel, env_id: str, steps: int) -> float:
    """Env steps per CPU second of one learned env."""
    env = LatentParallelEnv(model, env_id=env_id, seed=0)
    rng = np.random.default_rng(0)
    obs, infos = env.reset(seed=0)
    spent = 0.0
    for n in range(steps + 50):
        acts = {a: int(rng.choice(np.flatnonzero(infos[a]["action_mask"]))) for a in env.agents}
        t0 = CLOCK()
        obs, _, _, _, infos = env.step(acts)
        if n >= 50:  # the first steps compile and warm caches
            spent += CLOCK() - t0
        if not env.agents:
            obs, infos = env.reset()
    return steps / spent


@torch.inference_mode()
def vector(model: WorldModel, env_id: str, num_envs: int, steps: int) -> float:
    """Env steps per CPU second of a learned vector env."""
    venv = LatentVectorEnv(model, num_envs, env_id=env_id, seed=0)
    venv.reset()
    gen = torch.Generator().manual_seed(0)
    shape = (num_envs, venv.n_agents)
    for _ in range(3):
        venv.step(torch.randint(0, venv.n_actions, shape, generator=gen))
    t0 = CLOCK()
    for _ in range(steps):
        venv.step(torch.randint(0, venv.n_actions, shape, generator=gen))
    return steps * num_envs / (CLOCK() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--single-steps", type=int, default=600)
    p.add_argument("--no-vector", action="store_true", help="time the single env only")
    args = p.parse_args()
    torch.set_num_threads(1)
    res = {}
    for name in ("3m", "3s5z"):
        torch.manual_seed(0)
        model = WorldModel(smax_spec(name), WorldModelConfig()).eval()
        res[f"{name} single"] = single(model, f"smax-{name}", args.single_steps)
        if not args.no_vector:
            for num_envs, steps in ((64, 30), (1024, 8)):
                res[f"{name} vec{num_envs}"] = vector(model, f"smax-{name}", num_envs, steps)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
