"""The GAWM ablation on the sample-efficiency harness: defaults, observation fusion alone, all
GAWM options together (smax-2s3z, 100k real steps, seeds 0-2).

The runs were sample-efficiency runs of the loop's second design (committed under
``benchmarks/results/sample_efficiency_v2/``; the current loop is another design, so they
cannot be re-made with it: ``--report`` rebuilds the report from the committed files). They
ran as::

    python benchmarks/sample_efficiency.py smax-2s3z --env-steps 100000 --seeds 0 1 2 \\
        --variants mabl gawm-fusion gawm-all

Then, per finished run, GCI and GPE of its final world model on one fixed dataset (64 fresh
random-policy episodes, seed 123, none of them seen by any run), and the report::

    python benchmarks/gawm_ablation.py --evaluate    # needs the runs' checkpoints under runs/
    python benchmarks/gawm_ablation.py --report      # docs/gawm_ablation_smax-2s3z.md and .png

Evaluations are kept in benchmarks/results/gawm_ablation/<env>/<variant>-s<seed>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_efficiency import RUNS, load_runs, plot_tests, run_dir, test_points  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = "smax-2s3z"
STEPS = 100_000
ABLATION = {"mabl": "defaults", "gawm-fusion": "observation fusion", "gawm-all": "all GAWM options"}
RUN_RESULTS = ROOT / "benchmarks" / "results" / "sample_efficiency_v2"  # the second design's runs
RESULTS = ROOT / "benchmarks" / "results" / "gawm_ablation" / ENV
DATA = RUNS.parent / "gawm_ablation" / f"{ENV}-random64-seed123"


def evaluate() -> None:
    """evaluate-model --json for each finished run's final model not evaluated yet."""
    runs = load_runs(ENV, RUN_RESULTS, ABLATION)
    todo = [(v, s) for v in ABLATION for s in runs.get(v, {})
            if not (RESULTS / f"{v}-s{s}.json").exists() and (run_dir(ENV, v, s) / "model" / "meta.json").exists()]
    if not todo:
        print("nothing to evaluate")
        return
    cli = [sys.executable, "-m", "latentworld.cli"]
    if not (DATA / "meta.json").exists():
        subprocess.run([*cli, "collect", ENV, "--episodes", "64", "--num-envs", "64", "--seed", "123",
                        "--out", str(DATA), "--no-progress"], check=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for v, s in todo:
        out = subprocess.run([*cli, "evaluate-model", ENV, "--model", str(run_dir(ENV, v, s) / "model"),
                              "--data", str(DATA), "--json"], check=True, capture_output=True, text=True).stdout
        rep = json.loads(out)
        rep["model"], rep["data"] = str(Path(rep["model"]).relative_to(ROOT)), str(Path(rep["data"]).relative_to(ROOT))
        (RESULTS / f"{v}-s{s}.json").write_text(json.dumps(rep, indent=2) + "\n")
        print(f"{v}-s{s}: GCI {rep['gci']['total']:.4f}, GPE {rep['gpe']['total']:.4f} "
              f"(baseline {rep['gpe_baseline']['total']:.4f})", flush=True)


def load_unfinished(finished: dict[str, dict]) -> dict[str, dict[int, list[dict]]]:
    """{variant: {seed: curve rows}} of the runs stopped before the budget whose curves were kept
    in benchmarks/results/sample_efficiency_v2/<env>-partial/ (seeds that later finished are left out)."""
    out: dict[str, dict[int, list[dict]]] = {}
    for v in ABLATION:
        for d in sorted((RUN_RESULTS / f"{ENV}-partial").glob(f"{v}-s*")):
            seed = d.name[len(v) + 2:]
            if seed.isdigit() and int(seed) not in finished.get(v, {}) and (d / "curve.jsonl").exists():
                out.setdefault(v, {})[int(seed)] = [json.loads(x) for x in (d / "curve.jsonl").read_text().splitlines()]
    return out


def _fmt(xs: list[float], scale: float = 1.0, digits: int = 0, unit: str = "") -> str:
    """mean (± std when several) of xs, or a dash."""
    if not xs:
        return "–"
    m = f"{scale * np.mean(xs):.{digits}f}{unit}"
    return m if len(xs) == 1 else f"{m} ± {scale * np.std(xs):.{digits}f}{unit}"


def report() -> str:
    runs = {v: seeds for v, seeds in load_runs(ENV, RUN_RESULTS, ABLATION).items() if v in ABLATION}
    rows, checkpoints = [], list(range(10_000, STEPS + 1, 10_000))
    curve_rows = []
    for v, name in ABLATION.items():
        seeds = runs.get(v, {})
        wins = [s["eval_win_rate"] for s, _ in seeds.values()]
        per_seed = ", ".join(f"{100 * s['eval_win_rate']:.0f}" for _, (s, _) in sorted(seeds.items())) or "–"
        evals = [json.loads((RESULTS / f"{v}-s{k}.json").read_text()) for k in sorted(seeds)
                 if (RESULTS / f"{v}-s{k}.json").exists()]
        gci = [e["gci"]["total"] for e in evals]
        gpe = [e["gpe"]["total"] for e in evals]
        base = [e["gpe_baseline"]["total"] for e in evals]
        spread = [np.std([p[c] for p in (test_points(rows, 5000) for _, rows in seeds.values()) if c in p])
                  for c in checkpoints] if len(seeds) > 1 else []
        rows.append(f"| {name} (`{v}`) | {len(seeds)} | {per_seed} | {_fmt(wins, 100, unit='%')} "
                    f"| {_fmt(spread and [float(np.mean(spread))], 100)} | {_fmt(gci, digits=4)} "
                    f"| {_fmt(gpe, digits=4)} ({_fmt(base, digits=4)}) |")
        pts = [test_points(rows_, 5000) for _, rows_ in seeds.values()]
        curve_rows.append(f"| `{v}` | " + " | ".join(
            _fmt([p[c] for p in pts if c in p], 100) if any(c in p for p in pts) else "–" for c in checkpoints) + " |")
    unfinished = load_unfinished(runs)
    for v, seeds in unfinished.items():
        for seed, rows_ in sorted(seeds.items()):
            p = test_points(rows_, 5000)
            curve_rows.append(f"| `{v}` seed {seed}, unfinished (stopped at {rows_[-1]['env_steps']:,} real steps) | "
                              + " | ".join(_fmt([p[c]], 100) if c in p else "–" for c in checkpoints) + " |")
    if runs:
        plot_tests(runs, 5000, ROOT / "docs" / f"gawm_ablation_{ENV}.png",
                   f"{ENV}: GAWM ablation, win rate vs real env steps")
    table = "\n".join([
        "| variant | finished seeds | greedy test win, final policy (per seed, %) | mean ± std across seeds "
        "| std across seeds of the test curve (mean over checkpoints, points) | GCI | GPE (trivial baseline) |",
        "|---|---:|---|---|---|---|---|", *rows, "",
        "Greedy test win rate during the run, mean ± std over the finished seeds (32 test episodes per checkpoint)"
        + ("; runs stopped before the budget (their curves kept in benchmarks/results/sample_efficiency_v2/"
           f"{ENV}-partial/) on rows of their own:" if unfinished else ":"),
        "", "| variant | " + " | ".join(f"{c // 1000}k" for c in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints), *curve_rows])
    doc = ROOT / "docs" / f"gawm_ablation_{ENV}.md"
    doc.write_text(
        f"# GAWM ablation on {ENV}\n\nWritten by `python benchmarks/gawm_ablation.py --report` from the committed "
        f"runs of `python benchmarks/sample_efficiency.py {ENV} --env-steps {STEPS} --seeds 0 1 2 --variants "
        f"{' '.join(ABLATION)}` (the sample-efficiency harness: same budget, one torch thread per run) and their "
        f"evaluations by `--evaluate`. Greedy test win: 100 real test episodes of the final policy, greedy actions, "
        f"decentralized execution. GCI and GPE ([model_metrics.md](model_metrics.md)): each run's final world "
        f"model on 64 fresh random-policy episodes (seed 123), mean over k = 1, 5, 15; lower is better for both. "
        f"Options: `gawm-fusion` = observation fusion; `gawm-all` = observation fusion, reward trend σ = 2 and a "
        f"dual buffer of the last imagined rollout (LoopConfig fields obs_fusion, reward_trend, dual_buffer = 1).\n\n{table}\n\n"
        + (f"![curves](gawm_ablation_{ENV}.png)\n" if runs else ""))
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evaluate", action="store_true", help="GCI / GPE of every finished run not evaluated yet")
    p.add_argument("--report", action="store_true", help=f"write docs/gawm_ablation_{ENV}.md and .png")
    a = p.parse_args()
    if not (a.evaluate or a.report):
        p.error("say --evaluate, --report or both")
    if a.evaluate:
        evaluate()
    if a.report:
        print(report())


if __name__ == "__main__":
    main()
