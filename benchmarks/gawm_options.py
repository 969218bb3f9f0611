"""GCI and GPE of each GAWM option alone, offline, on one dataset (the ablation's cheap half).

Collects ``--episodes`` random-policy episodes of ``ENV_ID`` (seed 0), trains one world model per
variant on them for ``--steps`` gradient steps (same seed, same held-out split), and runs
``evaluate-model``'s report on the held-out episodes: GCI and GPE (docs/model_metrics.md) with
their parts, mean over k = 1, 5, 15.

    python benchmarks/gawm_options.py smax-3m --episodes 300 --steps 1500

Writes benchmarks/results/gawm_options/<env_id>.json and docs/gawm_options_<env_id>.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "default": {},
    "obs-fusion": {"obs_fusion": True},
    "reward-trend 2": {"reward_trend": 2.0},
    "obs-fusion + reward-trend 2": {"obs_fusion": True, "reward_trend": 2.0},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", nargs="?", default="smax-3m")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    a = p.parse_args()
    torch.set_num_threads(1)
    from latentworld.data import collect
    from latentworld.model import TrainConfig, WorldModelConfig, evaluate_checkpoint, train_model

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        collect(a.env_id, data, a.episodes, seed=0, num_envs=64 if a.env_id.startswith("smax-") else 1,
                progress=False)
        for name in a.variants:
            t0 = time.perf_counter()
            out = Path(tmp) / name.replace(" ", "_")
            res = train_model(data, out, env_id=a.env_id, model_config=WorldModelConfig(**VARIANTS[name]),
                              config=TrainConfig(steps=a.steps, eval_every=a.steps, seed=0), progress=False)
            rep = evaluate_checkpoint(str(out), str(data), env_id=a.env_id)
            rows[name] = {"gci": rep["gci"], "gpe": rep["gpe"], "gpe_baseline": rep["gpe_baseline"],
                          "eval_loss": res.eval_loss, "seconds": time.perf_counter() - t0}
            print(name, json.dumps(rows[name]), flush=True)
    res_dir = ROOT / "benchmarks" / "results" / "gawm_options"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / f"{a.env_id}.json").write_text(json.dumps(rows, indent=2))
    lines = [f"# GAWM options offline on {a.env_id}", "",
             f"Written by `python benchmarks/gawm_options.py {a.env_id} --episodes {a.episodes} --steps {a.steps}`: "
             f"{a.episodes} random-policy episodes (seed 0), one world model per variant trained {a.steps} steps "
             "(seed 0, batch 16, one torch thread), scored on the held-out episodes; mean over k = 1, 5, 15 "
             "(formulas: [model_metrics.md](model_metrics.md)). GCI: lower = the agents agree more; GPE: lower = "
             "closer to the real data (baselines: last observation, mean reward, never ends). The held-out loss "
             "is the training objective's, which the reward trend changes (its reward target is smoothed).", "",
             "| variant | GCI | reward / cont / global | GPE (baseline) | obs / reward / cont | held-out loss | wall |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        g, e, b = r["gci"], r["gpe"], r["gpe_baseline"]
        lines.append(f"| {name} | {g['total']:.4f} | {g['reward']:.5f} / {g['cont']:.4f} / {g['global']:.4f} | "
                     f"{e['total']:.4f} ({b['total']:.4f}) | {e['obs']:.4f} / {e['reward']:.5f} / {e['cont']:.4f} | "
                     f"{r['eval_loss']:.3f} | {r['seconds'] / 60:.1f} min |")
    (ROOT / "docs" / f"gawm_options_{a.env_id}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
