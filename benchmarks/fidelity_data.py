"""Fixed data for the world-model fidelity benchmark (benchmarks/fidelity.py): real episodes at
several levels of play, made once per map and reused by every model variant.

Levels: a uniform-random policy, then snapshots of one model-free MAPPO run (the loop's
model-free learner: 64 real envs, observation critic) taken when its training win rate
(sampled actions, mean of the last 3 iterations) first reaches 0%+ (after 10k steps), 30% and
60%. Each level plays ``--episodes`` real episodes with sampled actions, as the loop
collects them. One dataset per map, the levels in order; ``levels.json`` names each level's
episode range, the policy's training win rate and the recorded episodes' win rate.

    python benchmarks/fidelity_data.py smax-2s3z          # ~5-15 min on one core

Output (gitignored, rebuilt by this command): ``runs/fidelity/<env>/data`` and
``runs/fidelity/<env>/levels.json``; the levels' summary is committed under
``benchmarks/results/fidelity/<env>/levels.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "fidelity"
RESULTS = ROOT / "benchmarks" / "results" / "fidelity"
TARGETS = (("mappo-early", 0.0), ("mappo-30", 0.30), ("mappo-60", 0.60))


class RandomPolicy:
    """Uniform over each agent's available actions (the tensor Policy protocol)."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def act(self, obs: torch.Tensor, mask: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        w = mask.float()  # [E, N, A]
        return torch.multinomial(w.flatten(0, 1), 1, generator=self.g).view(mask.shape[:2])

    def reset(self, done: torch.Tensor | None = None) -> None:
        pass


def record(env_id: str, policy, episodes: int, dataset, seed: int) -> dict:
    """Append ``episodes`` real episodes played by ``policy`` (sampled actions) to ``dataset``."""
    from latentworld.env.real_vector import RealVectorEnv
    from latentworld.env.recording import ObsStateVecEnv, RecordingVecEnv

    real = RealVectorEnv(env_id, 64, seed=seed)
    rec = RecordingVecEnv(real, dataset, real.spec)
    env = ObsStateVecEnv(rec)
    first = len(dataset)
    wins: list[bool] = []
    step = env.reset(seed=seed)
    policy.reset()
    with torch.no_grad():
        while len(dataset) - first < episodes:
            step = env.step(policy.act(step.obs, step.action_mask, False))
            policy.reset(step.done)
            wins += rec.wins
            rec.wins = []
    rec.take_new()
    env.close()
    last = len(dataset)  # a batch may finish a few more than asked: all are kept
    return {"episodes": [first, last], "win_rate": float(np.mean(wins)) if wins else 0.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id")
    p.add_argument("--episodes", type=int, default=400, help="real episodes per level")
    p.add_argument("--max-steps", type=int, default=400_000, help="model-free MAPPO budget for the snapshots")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    from latentworld.data import EpisodeDataset
    from latentworld.env.real_vector import RealVectorEnv
    from latentworld.env.recording import ObsStateVecEnv
    from latentworld.loop import make_learner

    out = RUNS / a.env_id
    if (out / "data").exists():
        shutil.rmtree(out / "data")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    real = RealVectorEnv(a.env_id, 64, seed=a.seed)
    ds = EpisodeDataset.create(out / "data", real.spec)
    levels = [{"level": "random", "train_win_rate": None, **record(a.env_id, RandomPolicy(a.seed), a.episodes, ds,
                                                                     a.seed + 1)}]
    print(levels[-1], flush=True)
    env = ObsStateVecEnv(real)
    learner = make_learner("mappo", env.obs_dim, env.state_dim, env.n_agents, env.n_actions, seed=a.seed)
    wins: list[float] = []
    targets = list(TARGETS)
    first = True
    while targets and learner.env_steps < a.max_steps:
        hist = learner.learn(env, 1, progress=False, seed=a.seed if first else None)
        first = False
        wins.append(float(hist[-1].get("win_rate") or 0.0))
        smooth = float(np.mean(wins[-3:]))
        name, target = targets[0]
        if smooth >= target and (target > 0 or learner.env_steps >= 10_000):
            learner.reset()
            lv = record(a.env_id, learner, a.episodes, ds, a.seed + 2 + len(levels))
            levels.append({"level": name, "train_win_rate": smooth, "policy_env_steps": learner.env_steps, **lv})
            print(levels[-1], flush=True)
            targets.pop(0)
    env.close()
    ds.close()
    summary = {"env_id": a.env_id, "seed": a.seed, "levels": levels, "seconds": time.perf_counter() - t0,
               "unreached": [n for n, _ in targets]}
    for d in (out, RESULTS / a.env_id):
        d.mkdir(parents=True, exist_ok=True)
        (d / "levels.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
