"""Does the uncertainty penalty let a fresh policy learn inside a finished loop run's model?

Loads the final world model of one sample-efficiency run (its checkpoint under ``runs/``),
trains a fresh MAPPO inside it with one of three penalty weights and tests it greedily in the
real env after every ``--chunk`` imagined steps:

- ``rel``: the loop's default, ``relative_penalty`` 0.2 measured on the run's real data;
- ``imag``: the same 0.2, but in units of the model's mean uncertainty on the steps the run's
  own final policy takes in imagination (measured here: 128 envs x 600 steps from real first
  rows, no penalty) instead of on real steps;
- ``none``: no penalty.

    python benchmarks/penalty_probe.py runs/sample_efficiency/smax-2s3z/mabl-s2 rel --seed 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import latentworld
from latentworld.algos import load_policy
from latentworld.data import EpisodeDataset, SequenceSampler
from latentworld.loop import make_learner
from latentworld.metrics import evaluate
from latentworld.model.checkpoint import load_model
from latentworld.model.uncertainty import real_data_scales


def imagined_uncertainty(run: Path, model_meta: tuple, env_id: str, steps: int = 600) -> float:
    """Mean ensemble uncertainty (alive-agent mean) of the steps the run's saved policy takes in imagination."""
    policy = load_policy(run / "policy")
    env = latentworld.make_vec(env_id, model_meta, 128, obs="decoded", seed=0)
    out, us = env.reset(), []
    policy.reset()
    for _ in range(steps):
        out = env.step(policy.act(out.obs, out.action_mask))
        us.append(out.info["uncertainty"].mean(-1))  # [E]
        policy.reset(out.terminated | out.truncated)
    return float(torch.stack(us).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a finished sample-efficiency run directory (model/, data/)")
    p.add_argument("penalty", choices=("rel", "imag", "none"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=30_000, help="imagined steps between real tests")
    p.add_argument("--chunks", type=int, default=3)
    p.add_argument("--test-episodes", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = json.loads((a.run / "config.json").read_text())
    model, meta = load_model(a.run / "model")
    model.eval()
    sampler = SequenceSampler(EpisodeDataset.open(a.run / "data"), 20, seed=0)
    scales = real_data_scales(model, sampler, 64, np.random.default_rng(0))
    rel = scales.penalty(0.2)
    weight = 0.0 if a.penalty == "none" else rel
    if a.penalty == "imag":
        u_imag = imagined_uncertainty(a.run, (model, meta), cfg["env_id"])
        print(f"imagined-step uncertainty of the run's policy {u_imag:.5f}", flush=True)
        weight = rel * scales.uncertainty / u_imag
    print(f"reward/step {scales.reward_per_step:.4f}, real-step uncertainty {scales.uncertainty:.5f}, "
          f"penalty weight {weight:.3f}", flush=True)
    env = latentworld.make_vec(cfg["env_id"], (model, meta), 128, obs="decoded", horizon=cfg["horizon"],
                               start="any", seed=a.seed, uncertainty_penalty=weight)
    learner = make_learner("mappo", env.obs_dim, env.state_dim, env.n_agents, env.n_actions, "cpu", a.seed)
    t0 = time.perf_counter()
    for k in range(1, a.chunks + 1):
        hist = learner.learn(env, a.chunk, progress=False)
        r = evaluate(learner, cfg["env_id"], a.test_episodes, seed=999)  # decoded obs: the real ones
        print(json.dumps({"penalty": a.penalty, "seed": a.seed, "imagined_steps": k * a.chunk,
                          "imagined_return": hist[-1].get("mean_return"), "entropy": hist[-1].get("entropy"),
                          "real_win_rate": r.win_rate, "real_return": r.mean_return,
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
