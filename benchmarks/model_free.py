"""Model-free baselines on the real env: MAPPO, QMIX-family and mean-field learners for an env-step budget.

    python benchmarks/model_free.py --env smax-3m --steps 50000 --algos mappo qmix \
        [--envs-mappo 64] [--envs-q 32] [--out benchmarks/results/model_free]

Writes one JSONL learning curve per algorithm (a line per training iteration) and a
``summary.json`` with the final evaluation: each of 256 fresh envs plays one episode with
the greedy policy. One CPU thread unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from latentworld.algos import (
    MAPPO,
    MFAC,
    MFQ,
    MAPPOConfig,
    MFConfig,
    QLearner,
    QMixConfig,
    evaluate_policy,
)
from latentworld.env.real_vector import RealVectorEnv

ALGOS = ("mappo", "vdn", "qmix", "qplex", "mfq", "mfac")


def make_learner(algo: str, env: RealVectorEnv, steps: int, seed: int):
    dims = (env.obs_dim, env.state_dim, env.n_agents, env.n_actions)
    if algo == "mappo":
        return MAPPO(*dims, MAPPOConfig(seed=seed))
    if algo in ("mfq", "mfac"):  # their defaults (MF-Q's temperature anneals over 20k steps)
        return (MFQ if algo == "mfq" else MFAC)(*dims, MFConfig(seed=seed))
    # ε anneals over the first 40% of the budget: short budgets need exploitation early.
    cfg = QMixConfig(mixer=algo, seed=seed, eps_anneal_steps=max(1, int(0.4 * steps)))
    return QLearner(*dims, cfg)


def run(algo: str, env_id: str, steps: int, num_envs: int, seed: int, out: Path) -> dict:
    env = RealVectorEnv(env_id, num_envs, seed=seed)
    learner = make_learner(algo, env, steps, seed)
    curve = out / f"{algo}.jsonl"
    t0 = time.perf_counter()
    with curve.open("w") as f:
        def log(rec: dict) -> None:
            f.write(json.dumps(rec) + "\n")
            f.flush()  # a curve you can watch (and keep) while a long run goes on
        hist = learner.learn(env, steps, callback=log, progress=False)
    train_s = time.perf_counter() - t0
    ev = evaluate_policy(learner, RealVectorEnv(env_id, 256, seed=seed + 1000), deterministic=True)
    last = hist[-5:]
    result = {
        "algo": algo, "env_id": env_id, "env_steps": hist[-1]["env_steps"], "num_envs": num_envs,
        "train_s": round(train_s, 1), "steps_per_s": round(hist[-1]["env_steps"] / train_s),
        "train_return_last5": sum(r["mean_return"] for r in last) / len(last),
        "train_win_last5": sum(r["win_rate"] for r in last) / len(last),
        "eval_return": ev["mean_return"], "eval_win_rate": ev["win_rate"], "eval_episodes": ev["episodes"],
        "curve": str(curve),
    }
    learner.save(out / f"{algo}_policy")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="smax-3m")
    p.add_argument("--steps", type=int, default=50_000, help="env steps per algorithm")
    p.add_argument("--algos", nargs="+", default=["mappo", "qmix"], choices=ALGOS)
    p.add_argument("--envs-mappo", type=int, default=64)
    p.add_argument("--envs-q", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/model_free")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for algo in args.algos:
        n = args.envs_mappo if algo == "mappo" else args.envs_q
        res = run(algo, args.env, args.steps, n, args.seed, out)
        results.append(res)
        print(f"{algo:6s} {res['env_steps']:>7d} steps {res['train_s']:>6.1f}s  train ret {res['train_return_last5']:.2f} "
              f"win {res['train_win_last5']:.2f}  | greedy eval ret {res['eval_return']:.2f} "
              f"win {res['eval_win_rate']:.2f} ({res['eval_episodes']} episodes)", flush=True)
    summary = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
               "seed": args.seed, "results": results}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
