"""Does the world model beat the trivial predictor on each env family? (k = 1, held-out episodes)

For each env id: ``latentworld collect ENV --episodes 300 --seed 0``, ``latentworld train-model``
with its defaults (plus ``--latent`` when asked) and ``latentworld evaluate-model --json``,
exactly as a new user would run them. The trivial predictor is evaluate-model's baseline: the
last observation, the mean reward, "never ends", the last action mask.

    python benchmarks/model_vs_trivial.py mpe-simple_spread_v3 smax-3m flatland-30x30-2c-2t
    python benchmarks/model_vs_trivial.py mpe-simple_spread_v3 --latent gaussian
    python benchmarks/model_vs_trivial.py mpe-simple_spread_v3 --obs-scale 10
    python benchmarks/model_vs_trivial.py --report     # docs/model_vs_trivial.md from the results

Work files go to ``runs/model_vs_trivial/`` (gitignored); each evaluation's JSON is kept as
``benchmarks/results/model_vs_trivial/<env_id>-<latent>-obs<scale>-rew<scale>-<steps>.json`` and a
line per run is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from latentworld.model import TrainConfig, WorldModelConfig

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "model_vs_trivial"
RESULTS = ROOT / "benchmarks" / "results" / "model_vs_trivial"
CLI = [sys.executable, "-m", "latentworld.cli"]
DOC = ROOT / "docs" / "model_vs_trivial.md"
OLD = RESULTS / "before-steps-left"  # flatland results from before its state gained 1 / (steps left)
OLD_NOTE = ("Flatland's global state then ended in t / T and T / limit only, without 1 / max(T - t, 1) "
            "(adapters/flatland.py). Its rewards fall almost only on the step that reaches T; the model did "
            "not place that step and missed the reward in every setting below.")


def _cli(*args: str, out: Path | None = None) -> None:
    with open(out, "w") if out else open("/dev/null", "w") as f:
        subprocess.run([*CLI, *args], check=True, stdout=f)


def tag_of(latent: str, obs_scale: float, reward_scale: float, steps: int) -> str:
    return f"{latent}-obs{obs_scale:g}-rew{reward_scale:g}-{steps}"


def one(env_id: str, latent: str, episodes: int, obs_scale: float, steps: int, reward_scale: float) -> dict:
    tag = tag_of(latent, obs_scale, reward_scale, steps)
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


def _cell(r: dict, key: str) -> str:
    k1 = r["horizons"]["k=1"]
    value = f"**{k1[key]:.4f}**" if r["beats_baseline"]["k=1"][key] else f"{k1[key]:.4f}"
    return f"{value} ({k1[key + '_baseline']:.4f})"


def report() -> str:
    """Markdown: k = 1 against the trivial predictor, one row per (env, setting) result file."""
    lines = ["# The world model against the trivial predictor (k = 1)", "",
             "Written by `python benchmarks/model_vs_trivial.py --report` from "
             "[the results](../benchmarks/results/model_vs_trivial/): 300 random episodes (seed 0), "
             "`train-model` with the setting shown (seed 0, one torch thread), `evaluate-model` on the 30 "
             "held-out episodes. Trivial predictor: the last observation, the training episodes' mean reward, "
             "the last action mask. Bold: the model is better (or both are perfect).", "",
             "| env | latent | obs scale | reward scale | steps | obs MSE (trivial) | team reward MAE (trivial) "
             "| avail. accuracy (trivial) |", "|---|---|---:|---:|---:|---|---|---|"]
    header = lines[-2:]
    lines += _rows(sorted(RESULTS.glob("*.json")))
    lines += ["", f"## {OLD.name}", "", OLD_NOTE, "", *header, *_rows(sorted(OLD.glob("*.json")))]
    return "\n".join(lines) + "\n"


def _rows(files: list[Path]) -> list[str]:
    rows = []
    for f in files:
        r = json.loads(f.read_text())
        env_id, tag = r["env_id"], f.stem[len(r["env_id"]) + 1:]
        latent, obs, rew, steps = tag.split("-")
        cells = [_cell(r, k) for k in ("obs_mse", "reward_mae", "avail_accuracy")]
        rows.append(f"| {env_id} | {latent} | {obs[3:]} | {rew[3:]} | {steps} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("env_ids", nargs="*")
    p.add_argument("--latent", choices=["categorical", "gaussian"], default="categorical")
    p.add_argument("--episodes", type=int, default=300)
    mc, tc = WorldModelConfig(), TrainConfig()
    p.add_argument("--obs-scale", type=float, default=mc.obs_scale, help=f"train-model --obs-scale ({mc.obs_scale:g})")
    p.add_argument("--reward-scale", type=float, default=None,
                   help="train-model --reward-scale (default: the env family's, WorldModelConfig.for_env)")
    p.add_argument("--steps", type=int, default=tc.steps, help=f"train-model --steps ({tc.steps})")
    p.add_argument("--report", action="store_true", help=f"only rewrite {DOC.relative_to(ROOT)} from the results")
    a = p.parse_args()
    if a.report:
        DOC.write_text(report())
        print(DOC.read_text())
        return
    if not a.env_ids:
        p.error("name at least one env id, or --report")
    for env_id in a.env_ids:
        reward_scale = a.reward_scale if a.reward_scale is not None else mc.for_env(env_id).reward_scale
        r = one(env_id, a.latent, a.episodes, a.obs_scale, a.steps, reward_scale)
        k1 = r["horizons"]["k=1"]
        print(json.dumps({"env_id": env_id, "latent": a.latent, "obs_scale": a.obs_scale, "reward_scale": reward_scale,
                          "steps": a.steps, **{
            k: round(k1[k], 4) for k in ("obs_mse", "obs_mse_baseline", "reward_mae", "reward_mae_baseline",
                                         "avail_accuracy", "avail_accuracy_baseline")},
            "beats": r["beats_baseline"]["k=1"]}), flush=True)


if __name__ == "__main__":
    main()
