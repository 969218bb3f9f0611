"""Does the world model beat the trivial predictor on each env family? (k = 1, held-out episodes)

For each env id: ``latentworld collect ENV --episodes 300 --seed 0``, ``latentworld train-model``
with its defaults (plus ``--latent`` when asked) and ``latentworld evaluate-model --json``,
exactly as a new user would run them. The trivial predictor is evaluate-model's baseline: the
last observation, the mean reward, "never ends", the last action mask.

    python benchmarks/model_vs_trivial.py mpe-simple_spread_v3 smax-3m flatland-30x30-2c-2t
    python benchmarks/model_vs_trivial.py mpe-simple_spread_v3 --latent gaussian
    python benchmarks/model_vs_trivial.py mpe-simple_spread_v3 --obs-scale 10

Work files go to ``runs/model_vs_trivial/`` (gitignored); each evaluation's JSON is kept as
``benchmarks/results/model_vs_trivial/<env_id>-<latent>[-obs<scale>][-<steps>].json`` and a line per run is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "model_vs_trivial"
RESULTS = ROOT / "benchmarks" / "results" / "model_vs_trivial"
CLI = [sys.executable, "-m", "latentworld.cli"]


def _cli(*args: str, out: Path | None = None) -> None:
    with open(out, "w") if out else open("/dev/null", "w") as f:
        subprocess.run([*CLI, *args], check=True, stdout=f)


def one(env_id: str, latent: str, episodes: int, obs_scale: float = 1.0, steps: int = 3000,
        reward_scale: float = 1.0) -> dict:
    tag = latent + (f"-obs{obs_scale:g}" if obs_scale != 1.0 else "") + (
        f"-rew{reward_scale:g}" if reward_scale != 1.0 else "") + (f"-{steps}" if steps != 3000 else "")
    data, model = WORK / f"{env_id}-data", WORK / f"{env_id}-{tag}"
    if not (data / "meta.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        _cli("collect", env_id, "--episodes", str(episodes), "--out", str(data), "--seed", "0", "--no-progress")
    extra = ([] if latent == "categorical" else ["--latent", latent]) + [
        "--obs-scale", str(obs_scale), "--reward-scale", str(reward_scale), "--steps", str(steps)]
    _cli("train-model", env_id, "--data", str(data), "--out", str(model), "--threads", "1", "--no-progress",
         "--json", *extra)
    RESULTS.mkdir(parents=True, exist_ok=True)
    res = RESULTS / f"{env_id}-{tag}.json"
    _cli("evaluate-model", env_id, "--model", str(model), "--data", str(data), "--json", out=res)
    return json.loads(res.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env_ids", nargs="+")
    p.add_argument("--latent", choices=["categorical", "gaussian"], default="categorical")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--obs-scale", type=float, default=1.0, help="train-model --obs-scale (default 1)")
    p.add_argument("--steps", type=int, default=3000, help="train-model --steps (default 3000)")
    p.add_argument("--reward-scale", type=float, default=1.0, help="train-model --reward-scale (default 1)")
    a = p.parse_args()
    for env_id in a.env_ids:
        r = one(env_id, a.latent, a.episodes, a.obs_scale, a.steps, a.reward_scale)
        k1 = r["horizons"]["k=1"]
        print(json.dumps({"env_id": env_id, "latent": a.latent, "obs_scale": a.obs_scale, "reward_scale": a.reward_scale,
                          "steps": a.steps, **{
            k: round(k1[k], 4) for k in ("obs_mse", "obs_mse_baseline", "reward_mae", "reward_mae_baseline",
                                         "avail_accuracy", "avail_accuracy_baseline")},
            "beats": r["beats_baseline"]["k=1"]}), flush=True)


if __name__ == "__main__":
    main()
