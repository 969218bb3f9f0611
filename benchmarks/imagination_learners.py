"""Every bundled learner trained only inside the shipped world model, then played for real.

    python benchmarks/imagination_learners.py smax-3m --steps 60000 --algos mappo vdn qmix qplex

Each learner trains on ``make_vec(env_id, <shipped model>, 256, start="any", horizon=15)``
and is evaluated on real episodes with decentralized execution (each agent encodes only
its own observations). Writes ``docs/imagination_learners.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import latentworld
from latentworld.loop import make_learner
from latentworld.metrics import evaluate

ROOT = Path(__file__).resolve().parents[1]


def _ret(r) -> str:
    """Mean team return ± its standard error over the evaluation episodes."""
    return f"{r.mean_return:.3f} ± {r.std_return / r.episodes ** 0.5:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", nargs="?", default="smax-3m")
    p.add_argument("--steps", type=int, default=60_000, help="imagined env steps per learner")
    p.add_argument("--algos", nargs="+", default=["mappo", "vdn", "qmix", "qplex"])
    p.add_argument("--episodes", type=int, default=200, help="real evaluation episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = latentworld.load_model(latentworld.default_checkpoint(a.env_id), a.env_id)
    random = evaluate("random", a.env_id, a.episodes, seed=a.seed + 1)
    rows = [f"| random | – | – | {100 * random.win_rate:.1f}% | {_ret(random)} |"]
    print(json.dumps({"algo": "random", **random.to_dict()}), flush=True)
    for algo in a.algos:
        env = latentworld.make_vec(a.env_id, model, 256, start="any", horizon=15, seed=a.seed)
        learner = make_learner(algo, env.obs_dim, env.state_dim, env.n_agents, env.n_actions, seed=a.seed)
        t0 = time.perf_counter()
        learner.learn(env, a.steps, progress=False)
        secs = time.perf_counter() - t0
        r = evaluate(learner, a.env_id, a.episodes, model=model[0], seed=a.seed + 2)
        rows.append(f"| {algo} | {a.steps:,} | {secs:.0f} s | {100 * r.win_rate:.1f}% | {_ret(r)} |")
        print(json.dumps({"algo": algo, "train_seconds": secs, **r.to_dict()}), flush=True)
    table = "\n".join(["| learner | imagined steps | training time | real win rate | real return ± s.e. |",
                       "|---|---|---|---|---|", *rows])
    (ROOT / "docs" / "imagination_learners.md").write_text(
        f"# Learners trained only in imagination ({a.env_id})\n\nWritten by `python "
        f"benchmarks/imagination_learners.py {a.env_id} --steps {a.steps}` (seed {a.seed}, {a.threads} "
        f"torch thread(s), CPU). Real win rate and team return over {a.episodes} real episodes, greedy "
        f"actions, decentralized execution.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
