"""How much of a final greedy test win rate is evaluation noise: one saved policy, played for
real on several disjoint seeds of 100 episodes each, and once on 512 episodes.

    python benchmarks/diagnostics/eval_noise.py runs/sample_efficiency/smax-3m/mabl-abs10-s3

Writes ``benchmarks/results/eval_noise/<env>-<run>.json``. The run's policy must read real
(decoded) observations, as the loop's default does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a `latentworld run` directory with policy/ and config.json")
    p.add_argument("--evals", type=int, default=8, help="evaluations of 100 episodes, on seeds 10, 11, ...")
    a = p.parse_args()
    torch.set_num_threads(1)
    from latentworld.algos import load_policy
    from latentworld.metrics import evaluate

    run = Path(a.run)
    cfg = json.loads((run / "config.json").read_text())
    if cfg.get("policy_obs", "decoded") != "decoded":
        p.error("this diagnostic plays policies on real observations; the run used latent features")
    policy = load_policy(run / "policy")
    wins = [evaluate(policy, cfg["env_id"], 100, seed=10 + k).win_rate for k in range(a.evals)]
    big = evaluate(policy, cfg["env_id"], 512, seed=100).win_rate
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    out = {"run": str(run), "env_id": cfg["env_id"], "final_eval_win_rate": summary.get("eval_win_rate"),
           "evals_100": wins, "mean": float(np.mean(wins)), "sd": float(np.std(wins, ddof=1)),
           "binomial_sd": float(np.sqrt(np.mean(wins) * (1 - np.mean(wins)) / 100)), "eval_512": big}
    dst = ROOT / "benchmarks" / "results" / "eval_noise" / f"{cfg['env_id']}-{run.name}.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(out, indent=2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
