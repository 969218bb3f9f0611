"""Sample efficiency: the MABL loop vs model-free MAPPO vs the single-level ablation.

Every run is a plain ``latentworld run`` (resumable), so a table can be built up across
sessions; ``--report`` only reads finished runs and writes the plot and the markdown table.

    python benchmarks/sample_efficiency.py smax-3m --env-steps 50000 --seeds 0 1 2
    python benchmarks/sample_efficiency.py smax-3m --env-steps 50000 --report

Runs live in ``runs/sample_efficiency/<env>/<variant>-s<seed>`` (checkpoints, gitignored);
a finished run's ``summary.json`` and ``curve.jsonl`` are copied to
``benchmarks/results/sample_efficiency/<env>/<variant>-s<seed>`` (committed), and the report,
read from there, goes to ``docs/sample_efficiency_<env>.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from latentworld.loop import LoopConfig, plot_curves, run

VARIANTS = {
    "mabl": {},
    "model-free": {"model_free": True},
    "single-level": {"single_level": True},
    # a higher model train ratio: 1000 model steps per iteration on 400 new episodes
    # (the default: 300 on 200), so fewer, better-trained models
    "mabl-ratio": {"model_steps": 1000, "collect_episodes": 400},
    # a 3x longer imagination horizon: 2s3z episodes last ~55 steps against ~18 on 3m, so
    # 15-step rollouts see a quarter of an episode (2s3z seed 0 to 51k steps: no better)
    "mabl-h45": {"horizon": 45},
    # collect with greedy actions and 10% random ones: the sampled policies that collect by
    # default almost never win (2s3z: 1 win in 11,241 episodes) while greedy they win 0-47%
    "mabl-eps": {"collect_epsilon": 0.1},
}
ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "sample_efficiency"  # checkpoints and data, gitignored
RESULTS = ROOT / "benchmarks" / "results" / "sample_efficiency"  # summaries and curves, committed


def run_dir(env_id: str, variant: str, seed: int) -> Path:
    return RUNS / env_id / f"{variant}-s{seed}"


def keep_results(env_id: str) -> None:
    """Copy every finished run's summary and curve under benchmarks/results (a few KB each)."""
    for d in sorted((RUNS / env_id).glob("*-s*")):
        if (d / "summary.json").exists():
            out = RESULTS / env_id / d.name
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(d / "curve.jsonl", out / "curve.jsonl")
            summary = json.loads((d / "summary.json").read_text())
            summary["out"] = str(d.relative_to(ROOT))  # not this machine's absolute path
            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _pct_range(xs: list[float]) -> str:
    if not xs:
        return "– | –"
    return f"{100 * np.median(xs):.1f}% | {100 * min(xs):.1f}–{100 * max(xs):.1f}%"


def report(env_id: str, env_steps: int) -> str:
    curves, lines, gaps = {}, [], []
    for variant in VARIANTS:
        finals, tests, secs, imag, real, test_ret = [], [], [], [], [], []
        for d in sorted((RESULTS / env_id).glob(f"{variant}-s*")):
            summ = d / "summary.json"
            if not summ.exists():
                continue
            summary = json.loads(summ.read_text())
            rows = [json.loads(x) for x in (d / "curve.jsonl").read_text().splitlines()]
            curves[f"{variant} {d.name.rsplit('-', 1)[1]}"] = rows
            # the last 5k real steps, weighted by episodes (the last iteration can be tiny)
            tail = [r for r in rows if r["env_steps"] > rows[-1]["env_steps"] - 5000 and r.get("episodes", 1)]
            w = [r.get("episodes", 1) for r in tail]
            finals.append(float(np.average([r["win_rate"] for r in tail], weights=w)))
            if summary.get("eval_win_rate") is not None:
                tests.append(summary["eval_win_rate"])
            secs.append(summary["seconds"])
            last = [r for r in rows if r.get("imagined_return") is not None]
            if last:  # the policy's return inside its model against the real return it then got
                imag.append(last[-1]["imagined_return"])
                real.append(last[-1]["return"])
                test_ret.append(summary.get("eval_return", float("nan")))
        if imag:
            gaps.append(f"| {variant} | {len(imag)} | {np.median(imag):.2f} | {np.median(real):.2f} "
                        f"| {np.nanmedian(test_ret):.2f} |")
        if finals:
            lines.append(f"| {variant} | {len(finals)} | {_pct_range(finals)} | {_pct_range(tests)} | "
                         f"{np.median(secs) / 60:.1f} min |")
    if not curves:  # keep the committed report rather than overwrite it with an empty table
        raise SystemExit(f"no finished {env_id} runs under {RESULTS / env_id}; run without --report first")
    png = ROOT / "docs" / f"sample_efficiency_{env_id}.png"
    plot_curves(curves, png, title=f"{env_id}: training win rate vs real env steps")
    table = "\n".join([
        f"| {env_id}, {env_steps:,} real steps | seeds | training win rate, last 5k steps (median) | range "
        f"| greedy test win rate (median) | range | median wall time |",
        "|---|---|---|---|---|---|---|", *lines])
    if gaps:
        table += "\n\n" + "\n".join([
            "Model against reality, medians over seeds: the last policy's team return inside its "
            "world model (imagined, horizon-limited rollouts), the real return of the episodes it "
            "collected, and its greedy real test return.\n",
            "| variant | seeds | imagined return | real return, collected | greedy test return |",
            "|---|---|---|---|---|", *gaps])
    md = ROOT / "docs" / f"sample_efficiency_{env_id}.md"
    md.write_text(f"# Sample efficiency on {env_id}\n\nWritten by `python benchmarks/sample_efficiency.py "
                  f"{env_id} --env-steps {env_steps} --report` from the runs of `python "
                  f"benchmarks/sample_efficiency.py {env_id} --env-steps {env_steps}` (one torch thread per "
                  f"run, 2-core CPU). Training win rate: the episodes collected in the last 5k real steps "
                  f"(sampled actions; epsilon-greedy for mabl-eps), as JaxMARL reports training win "
                  f"rates. Greedy test win rate: the final policy, 100 real test episodes with greedy "
                  f"actions and decentralized execution, not counted in the budget (as in the MAMBA and MAPPO papers).\n\n"
                  f"{table}\n\n![curves](sample_efficiency_{env_id}.png)\n")
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id")
    p.add_argument("--env-steps", type=int, default=50_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--report", action="store_true", help="only aggregate finished runs")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if not a.report:
        for seed in a.seeds:
            for variant in a.variants:
                cfg = LoopConfig(env_id=a.env_id, env_steps=a.env_steps, seed=seed, **VARIANTS[variant])
                res = run(cfg, run_dir(a.env_id, variant, seed), progress=True)
                print(json.dumps({"variant": variant, "seed": seed, **res}), flush=True)
                keep_results(a.env_id)
    keep_results(a.env_id)
    print(report(a.env_id, a.env_steps))


if __name__ == "__main__":
    main()
