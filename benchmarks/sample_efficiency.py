"""Sample efficiency: the loop (model-free MAPPO plus imagination) against model-free MAPPO, and ablations.

Every run is a plain ``latentworld run`` (resumable), so a table can be built up across
sessions; ``--report`` only reads finished runs and writes the plot and the markdown table (also into the
README, between its ``<!-- sample_efficiency:ENV_ID ... -->`` markers).

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
from se_stats import MAPS, aggregate, plot_iqm, stats_table

from latentworld.loop import LoopConfig, run

VARIANTS = {
    # the loop's defaults: model-free MAPPO rounds plus trusted, doubt-cut imagination, with a world
    # model that predicts each step's outcome (win / end / continue), trust as the expectation over
    # sampled rollouts and doubt limits per rollout step (docs/fidelity.md)
    "outcome": {},
    # the world model without the outcome head (a continuation head). Its committed runs are the
    # third loop design's (bc6e718: trust on the mode, one doubt limit from the first step); a run
    # today keeps today's trust and doubt
    "mabl": {"model_outcome": False},
    # diagnostic upper bound: the imagined iterations run in a second real env, not counted
    # (a perfect world model), at the default ratio and at 8
    "oracle": {"oracle": True},
    "oracle-x8": {"oracle": True, "imag_ratio": 8.0},
    # the oracle in imagination's shape: branches from the round's real states, cut at the horizon
    "oracle-branch": {"oracle": True, "oracle_branch": True},
    # the baseline: the same rounds without a world model
    "model-free": {"model_free": True},
    # ablations (smax-2s3z at 50k): imagination off (the model trains and is scored, never used)
    "imag-off": {"imag_ratio": 0.0},
    # the first loop design's guard: a reward penalty relative to the real data, no doubt cut
    "old-penalty": {"doubt_quantile": None, "relative_penalty": 0.2},
    # imagination at the full ratio whatever the model's score
    "no-trust": {"trust": False},
    # the world model without its global level (MABL's own ablation)
    "single-level": {"single_level": True},
    # world-model replay uniform over all data instead of preferring recent episodes
    "uniform-replay": {"recency_half_life": 0.0},
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
            shutil.copyfile(d / "config.json", out / "config.json")  # the settings the run had
            summary = json.loads((d / "summary.json").read_text())
            summary["out"] = str(d.relative_to(ROOT))  # not this machine's absolute path
            summary.setdefault("git_commit", _git_commit())  # the code the run ran (run from a pinned worktree)
            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _git_commit() -> str | None:
    import subprocess

    r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip() or None


def load_runs(env_id: str, results: Path = RESULTS, variants=None) -> dict[str, dict[int, tuple[dict, list[dict]]]]:
    """{variant: {seed: (summary, curve rows)}} of the committed finished runs (of ``variants``,
    default this script's, under ``results``)."""
    runs: dict[str, dict[int, tuple[dict, list[dict]]]] = {}
    for variant in variants or VARIANTS:
        for d in sorted((results / env_id).glob(f"{variant}-s*")):
            seed = d.name[len(variant) + 2:]
            if not seed.isdigit() or not (d / "summary.json").exists():
                continue  # "mabl-eps-s0" also matches "mabl-s*"'s glob
            rows = [json.loads(x) for x in (d / "curve.jsonl").read_text().splitlines()]
            runs.setdefault(variant, {})[int(seed)] = (json.loads((d / "summary.json").read_text()), rows)
    return runs


def test_points(rows: list[dict], every: int) -> dict[int, float]:
    """{checkpoint: greedy test win rate}: the test of the first row at or past each multiple
    of ``every`` real steps (the MABL loop tests after the round that crosses it)."""
    out: dict[int, float] = {}
    for r in rows:
        if r.get("test_win_rate") is not None:
            out.setdefault(r["env_steps"] // every * every, r["test_win_rate"])
    return out


def train_points(rows: list[dict], every: int, last: int) -> dict[int, float]:
    """{checkpoint: win rate of the training episodes in the ``every`` real steps up to it}
    (collected episodes, weighted by their count; the anchors' protocol)."""
    out: dict[int, float] = {}
    for c in range(every, last + 1, every):
        window = [r for r in rows if c - every < r["env_steps"] <= c and r.get("win_rate") is not None
                  and r.get("iteration", 1) > 0]
        if window:
            out[c] = float(np.average([r["win_rate"] for r in window],
                                      weights=[r.get("episodes", 1) or 1 for r in window]))
    return out


PHASES = ("real", "model", "imagine", "test")


def phase_rows(runs: dict[str, dict[int, tuple[dict, list[dict]]]]) -> list[str]:
    """Table rows: the median over seeds of each phase's wall minutes (``seconds_<phase>`` in the
    curve rows)."""
    out = []
    for variant, seeds in runs.items():
        logged = [rows for _, rows in seeds.values() if all("seconds_real" in r for r in rows)]
        if not logged:
            continue
        mins = {p: float(np.median([sum(r.get(f"seconds_{p}", 0.0) for r in rows) / 60 for rows in logged]))
                for p in PHASES}
        total = sum(mins.values()) or 1.0
        out.append(f"| {variant} | {len(logged)} | " + " | ".join(
            f"{mins[p]:.1f} ({100 * mins[p] / total:.0f}%)" for p in PHASES) + " |")
    return out


def imagination_rows(runs: dict[str, dict[int, tuple[dict, list[dict]]]], env_steps: int) -> list[str]:
    """Table rows per variant (medians over seeds of each run's mean over its rounds): the model's
    reward skill on fresh real episodes, the trust scale, imagined iterations per round, the
    mean kept imagined horizon, the share of rollouts cut by doubt; and the lowest policy
    entropy in the first half of the budget."""
    def med(seeds: dict, key: str) -> str:
        vals = [float(np.mean(v)) for v in ([r[key] for r in rows if r.get(key) is not None]
                                             for _, rows in seeds.values()) if v]
        return f"{np.median(vals):.2f}" if vals else "–"

    out = []
    for variant, seeds in runs.items():
        ent = [min(r["entropy"] for r in rows if r["env_steps"] <= env_steps // 2 and r.get("entropy") is not None)
               for _, rows in seeds.values() if any(r.get("entropy") is not None for r in rows)]
        out.append(f"| {variant} | {med(seeds, 'trust_skill')} | {med(seeds, 'trust_scale')} "
                   f"| {med(seeds, 'imag_iterations')} | {med(seeds, 'imag_mean_len')} | {med(seeds, 'imag_cut_share')} | "
                   f"{f'{np.median(ent):.2f}' if ent else '–'} |")
    return out


def _budget(run: tuple[dict, list[dict]]) -> int:
    """The budget a run was given: its summary's steps rounded down to the 5k grid (a run
    ends on the round that crosses its budget)."""
    return run[1][-2]["env_steps"] // 5000 * 5000 + 5000 if len(run[1]) > 1 else run[0]["env_steps"]


def ablation(env_id: str, at: int, every: int = 5000) -> str:
    """A table of every variant's greedy test win at the ``at`` checkpoint (100 episodes, the
    same test in runs of any budget >= ``at``), per seed and median; writes
    docs/ablation_<env>_<at>.md and .png."""
    runs = {v: {s: r for s, r in seeds.items() if _budget(r) >= at} for v, seeds in load_runs(env_id).items()}
    runs = {v: seeds for v, seeds in runs.items() if seeds}
    lines = [f"| variant ({env_id}) | seeds | greedy test win at {at // 1000}k: median (per seed) "
             f"| median over seeds of the mean test win {at // 2000}k-{at // 1000}k |", "|---|---|---|---|"]
    for variant, seeds in runs.items():
        pts = [test_points(rows, every) for _, rows in seeds.values()]
        at_ = [p[at] for p in pts if at in p]
        late = [float(np.mean([v for c, v in p.items() if at // 2 <= c <= at])) for p in pts]
        lines.append(f"| {variant} | {len(seeds)} | **{_med(at_)}** ({', '.join(f'{100 * x:.0f}' for x in at_)}) "
                     f"| {_med(late)} |")
    table = "\n".join(lines) + "\n\n" + stats_table(runs, env_id, [(f"{at // 1000}k checkpoint", at)], every,
                                                     test_points)
    cut = {v: {s: (summ, [r for r in rows if r["env_steps"] <= at + 2048]) for s, (summ, rows) in seeds.items()}
           for v, seeds in runs.items()}
    plot_tests(cut, every, ROOT / "docs" / f"ablation_{env_id}_{at // 1000}k.png", f"{env_id}: ablations to {at // 1000}k")
    (ROOT / "docs" / f"ablation_{env_id}_{at // 1000}k.md").write_text(
        f"# Ablations on {env_id} at {at // 1000}k real steps\n\nWritten by `python benchmarks/sample_efficiency.py "
        f"{env_id} --ablation {at}` from the committed runs (any budget of at least {at:,} real steps: the greedy "
        f"test at the {at // 1000}k checkpoint is the same 100-episode test in each). Variants: "
        + "; ".join(f"`{v}` {VARIANTS[v] or '(the defaults)'}" for v in runs)
        + f".\n\n{table}\n\n![curves](ablation_{env_id}_{at // 1000}k.png)\n")
    return table


def _med(xs: list[float]) -> str:
    return f"{100 * np.median(xs):.0f}%" if xs else "–"


def report(env_id: str, env_steps: int, every: int = 5000) -> str:
    # runs of this budget only (a 50k ablation run beside 100k runs is reported by ablation())
    runs = {v: {s: r for s, r in seeds.items() if _budget(r) == env_steps} for v, seeds in load_runs(env_id).items()}
    runs = {v: seeds for v, seeds in runs.items() if seeds}
    if not runs:  # keep the committed report rather than overwrite it with an empty table
        raise SystemExit(f"no finished {env_id} runs under {RESULTS / env_id}; run without --report first")
    checkpoints = list(range(every, env_steps + 1, every))
    main_rows, curve_rows, train_rows, medians = [], [], [], {}
    for variant, seeds in runs.items():
        tests = [s["eval_win_rate"] for s, _ in seeds.values() if s.get("eval_win_rate") is not None]
        train = []
        for _, rows in seeds.values():  # training win rate of the last 5k real steps, weighted by episodes
            tail = [r for r in rows if r["env_steps"] > rows[-1]["env_steps"] - 5000 and r.get("episodes", 1)]
            if tail and all(r.get("win_rate") is not None for r in tail):
                train.append(float(np.average([r["win_rate"] for r in tail],
                                              weights=[r.get("episodes", 1) for r in tail])))
        secs = [s["seconds"] for s, _ in seeds.values()]
        per_seed = ", ".join(f"{100 * s['eval_win_rate']:.0f}" for _, (s, _) in sorted(seeds.items())
                             if s.get("eval_win_rate") is not None)
        main_rows.append(f"| {variant} | {len(seeds)} | **{_med(tests)}** ({per_seed}) | {_med(train)} "
                         f"| {np.median(secs) / 60:.1f} min |")
        pts = [test_points(rows, every) for _, rows in seeds.values()]
        medians[variant] = {c: float(np.median([p[c] for p in pts if c in p])) for c in checkpoints
                            if any(c in p for p in pts)}
        curve_rows.append(f"| {variant} | " + " | ".join(
            f"{100 * medians[variant][c]:.0f}%" if c in medians[variant] else "–" for c in checkpoints) + " |")
        tp = [train_points(rows, every, env_steps) for _, rows in seeds.values()]
        train_rows.append(f"| {variant} | " + " | ".join(
            _med([p[c] for p in tp if c in p]) for c in checkpoints) + " |")
    verdict = ""
    if "mabl" in medians and "model-free" in medians:
        mb, mf = medians["mabl"], medians["model-free"]
        later = [c for c in checkpoints if c >= 10_000 and c in mb and c in mf]
        below = [f"{c // 1000}k ({100 * (mb[c] - mf[c]):+.0f})" for c in later if mb[c] < mf[c] - 0.05]
        fin = {v: np.median([s["eval_win_rate"] for s, _ in runs[v].values()]) for v in ("mabl", "model-free")}
        half = env_steps // 2 // every * every
        verdict = (f"\n\nFinal greedy test win, median: mabl {100 * fin['mabl']:.0f}% against model-free "
                   f"{100 * fin['model-free']:.0f}% ({100 * (fin['mabl'] - fin['model-free']):+.0f} points). "
                   f"Median test curve of mabl never more than 5 points below model-free's from 10k: "
                   + ("yes" if later and not below else f"no ({', '.join(below) or 'no common checkpoint'})")
                   + (f"; at {half // 1000}k: {100 * (mb[half] - mf[half]):+.0f} points." if half in mb and half in mf
                      else "."))
    plot_tests(runs, every, ROOT / "docs" / f"sample_efficiency_{env_id}.png",
               f"{env_id}: win rate vs real env steps")
    plot_iqm(runs, every, test_points, ROOT / "docs" / f"sample_efficiency_{env_id}_iqm.png", env_id)
    points = [("50k checkpoint", 50_000), (f"final policy ({env_steps // 1000}k)", None)]
    stats = stats_table(runs, env_id, points, every, test_points)
    verdict += ("\n\nrliable statistics over seeds (interquartile mean of the greedy test win, 95% "
                "stratified-bootstrap CIs; P = probability that a run of the variant beats a run of "
                "model-free):\n\n" + stats)
    summary = "\n".join([
        f"| {env_id}, {env_steps:,} real steps | seeds | greedy test win, final policy: median (per seed) "
        f"| training win rate, last 5k steps (median) | median wall time |",
        "|---|---|---|---|---|", *main_rows]) + verdict
    table = "\n".join([
        f"| {env_id}, {env_steps:,} real steps | seeds | greedy test win, final policy: median (per seed) "
        f"| training win rate, last 5k steps (median) | median wall time |",
        "|---|---|---|---|---|", *main_rows, "",
        f"Greedy test win rate during the run (median over seeds, {every:,}-step checkpoints):", "",
        "| variant | " + " | ".join(f"{c // 1000}k" for c in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints), *curve_rows, "",
        f"Training win rate during the run: the collected episodes of each {every:,}-step window, "
        f"sampled actions (median over seeds; the anchors' protocol):", "",
        "| variant | " + " | ".join(f"{c // 1000}k" for c in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints), *train_rows]) + verdict
    phases = phase_rows(runs)
    if phases:
        table += "\n\n" + "\n".join([
            "Where the wall time went (minutes, median over seeds; share of the four phases):", "",
            "| variant | seeds | real rollouts and updates | world model (scoring, training) | imagination "
            "(starts, doubt limit, policy updates) | greedy tests and saves |", "|---|---|---|---|---|---|",
            *phases])
    table += "\n\n" + "\n".join([
        "Imagination per round (median over seeds of each run's mean over its rounds): the model's reward "
        "skill on the fresh real episodes before training on them (1 - MSE / variance of the H-step return), "
        "the trust scale it gives, imagined iterations, the mean imagined episode length kept, the share of "
        "imagined episodes cut by doubt; and the policy's lowest entropy in the first half of the budget:", "",
        "| variant | reward skill | trust scale | imagined iterations | kept length | cut by doubt | "
        "min entropy, first half |", "|---|---|---|---|---|---|---|", *imagination_rows(runs, env_steps)])
    md = ROOT / "docs" / f"sample_efficiency_{env_id}.md"
    md.write_text(f"# Sample efficiency on {env_id}\n\nWritten by `python benchmarks/sample_efficiency.py "
                  f"{env_id} --env-steps {env_steps} --report` from the committed runs of `python "
                  f"benchmarks/sample_efficiency.py {env_id} --env-steps {env_steps}` (one torch thread per "
                  f"run, 2-core CPU). Greedy test win rate: real test episodes with greedy actions and "
                  f"decentralized execution, not counted in the budget (as in the MAMBA and MAPPO papers): "
                  f"100 for the final policy and at each checkpoint. Training win rate: the real episodes "
                  f"of the last 5k real steps (sampled actions), the anchors' protocol.\n\n{table}\n\n![curves](sample_efficiency_{env_id}.png)\n\n"
                  f"![IQM curves](sample_efficiency_{env_id}_iqm.png)\n")
    return summary + (f"\n\n![{env_id}](docs/sample_efficiency_{env_id}.png)\n"
                      f"![{env_id} IQM](docs/sample_efficiency_{env_id}_iqm.png)")


def write_aggregate(at: int = 50_000, every: int = 5000) -> str:
    """The aggregate over smax-3m, smax-2s3z and smax-3s5z at the ``at`` checkpoint (runs of any
    budget >= ``at``), written to docs/sample_efficiency_aggregate.md and the README."""
    runs_by_map = {}
    for env_id in MAPS:
        runs = {v: {s: r for s, r in seeds.items() if _budget(r) >= at} for v, seeds in load_runs(env_id).items()}
        runs_by_map[env_id] = {v: seeds for v, seeds in runs.items() if seeds}
    table = aggregate(runs_by_map, at, every, test_points)
    (ROOT / "docs" / "sample_efficiency_aggregate.md").write_text(
        f"# Sample efficiency over the three SMAX maps\n\nWritten by `python benchmarks/sample_efficiency.py "
        f"--aggregate` from the committed runs: the greedy test win (100 episodes) at the {at // 1000}k "
        f"checkpoint of every run of at least {at:,} real steps, a [seeds x maps] matrix per variant (the "
        f"seeds run on every map), interquartile mean pooled over maps and probability of improvement "
        f"averaged over maps, with rliable's stratified-bootstrap 95% CIs.\n\n{table}\n")
    update_readme("aggregate", table)
    return table


def update_readme(env_id: str, table: str) -> bool:
    """Put ``table`` (the summary rows, the verdict and the plot) between the README's markers
    for ``env_id`` (if it has them)."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    begin = f"<!-- sample_efficiency:{env_id} (written by benchmarks/sample_efficiency.py --report) -->\n"
    end = f"<!-- /sample_efficiency:{env_id} -->"
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    readme.write_text(head + begin + table + "\n" + end + rest.split(end, 1)[1])
    return True


def plot_tests(runs: dict, every: int, path: Path, title: str) -> None:
    """Greedy test (left) and training (right) win rate against real steps: a thin line per
    seed, a thick median per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    last = max(rows[-1]["env_steps"] for seeds in runs.values() for _, rows in seeds.values())
    for k, (variant, seeds) in enumerate(runs.items()):
        colour = f"C{k % 10}"
        for ax, points in ((axes[0], lambda rows: test_points(rows, every)),
                           (axes[1], lambda rows: train_points(rows, every, last))):
            pts = [points(rows) for _, rows in seeds.values()]
            for p in pts:
                ax.plot(list(p), list(p.values()), color=colour, lw=0.7, alpha=0.35)
            xs = sorted({c for p in pts for c in p})
            ax.plot(xs, [np.median([p[c] for p in pts if c in p]) for c in xs], color=colour, lw=2, marker="o",
                    ms=3, label=f"{variant} ({len(seeds)} seed{'s' * (len(seeds) > 1)})")
    for ax, what in zip(axes, ("greedy test win rate (100 episodes per checkpoint)",
                               f"training win rate (collected, sampled; {every // 1000}k-step windows)")):
        ax.set_xlabel("real env steps")
        ax.set_title(what, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("win rate")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _one_run(env_id: str, env_steps: int, variant: str, seed: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    cfg = LoopConfig(env_id=env_id, env_steps=env_steps, seed=seed, **VARIANTS[variant])
    return {"variant": variant, "seed": seed, **run(cfg, run_dir(env_id, variant, seed), progress=False)}


def run_on_ray(a: argparse.Namespace, jobs: list[tuple[str, int]]) -> None:
    """Every (variant, seed) as a Ray task of ``a.threads`` CPUs, ``a.workers`` at a time; results
    are kept as each task finishes. Runs write their own directories, so a task lost with its
    worker resumes from its last save when the command is run again."""
    import ray

    ray.init(address=a.ray_address, include_dashboard=False, log_to_driver=False,
             **({} if a.ray_address else {"num_cpus": a.workers * a.threads}))
    task = ray.remote(num_cpus=a.threads, max_retries=1)(_one_run)
    pending = [task.remote(a.env_id, a.env_steps, v, s, a.threads) for v, s in jobs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            print(json.dumps(ray.get(done[0])), flush=True)
        except ray.exceptions.RayError as e:  # one failed run must not lose the others
            print(json.dumps({"error": str(e).splitlines()[0]}), flush=True)
        keep_results(a.env_id)
    ray.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", nargs="?", default="smax-2s3z")
    p.add_argument("--env-steps", type=int, default=50_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--workers", type=int, default=None,
                   help="run the variants x seeds as Ray tasks, this many at once (one CPU each; needs the "
                        "ray extra); each run writes its own directory, so a lost task resumes on a rerun")
    p.add_argument("--ray-address", default=None, help="a running Ray cluster (default: a local one)")
    p.add_argument("--report", action="store_true", help="only aggregate finished runs")
    p.add_argument("--ablation", type=int, default=None, metavar="STEPS",
                   help="only write the ablation table at this checkpoint (docs/ablation_<env>_<k>k.md)")
    p.add_argument("--aggregate", action="store_true",
                   help="only write the three-map aggregate at 50k (docs/sample_efficiency_aggregate.md)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.aggregate:
        print(write_aggregate())
        return
    if a.ablation:
        print(ablation(a.env_id, a.ablation))
        return
    jobs = [(variant, seed) for seed in a.seeds for variant in a.variants]
    if not a.report and a.workers:
        run_on_ray(a, jobs)
    elif not a.report:
        for variant, seed in jobs:
            cfg = LoopConfig(env_id=a.env_id, env_steps=a.env_steps, seed=seed, **VARIANTS[variant])
            res = run(cfg, run_dir(a.env_id, variant, seed), progress=True)
            print(json.dumps({"variant": variant, "seed": seed, **res}), flush=True)
            keep_results(a.env_id)
    keep_results(a.env_id)
    table = report(a.env_id, a.env_steps)
    print(table)
    if update_readme(a.env_id, table):
        print(f"README.md: the {a.env_id} tables rewritten")


if __name__ == "__main__":
    main()
