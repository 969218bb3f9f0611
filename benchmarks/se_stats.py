"""rliable statistics for the sample-efficiency reports: IQM [95% CI] of the greedy test win per
variant, P(variant > model-free) [95% CI], IQM curves with CI bands, and the three-map aggregate.

Used by ``benchmarks/sample_efficiency.py --report`` / ``--aggregate``; the numbers come from
:mod:`latentworld.stats` (stratified bootstrap over seeds, 20,000 resamples, seed 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentworld.stats import Estimate, iqm, probability_of_improvement, verdict

BASELINE = "model-free"
MAPS = ("smax-3m", "smax-2s3z", "smax-3s5z")


def scores_at(seeds: dict, at: int | None, every: int, test_points) -> dict[int, float]:
    """{seed: greedy test win} at checkpoint ``at`` (None: the final policy's 100-episode test)."""
    out = {}
    for seed, (summary, rows) in seeds.items():
        if at is None:
            if summary.get("eval_win_rate") is not None:
                out[seed] = float(summary["eval_win_rate"])
        else:
            p = test_points(rows, every)
            if at in p:
                out[seed] = float(p[at])
    return out


def _cell(e: Estimate | None, n: int) -> str:
    return f"{e.pct()} (n={n})" if e is not None else "–"


def stats_rows(runs: dict, points: list[tuple[str, int | None]], every: int, test_points) -> tuple[list[str], list[str]]:
    """Table rows (one per variant: IQM [CI] at each point, then P(variant > model-free) [CI] at
    each point) and one sentence per variant and point saying what the CI allows."""
    rows, says = [], []
    base = {label: scores_at(runs[BASELINE], at, every, test_points) for label, at in points} if BASELINE in runs else {}
    for variant, seeds in runs.items():
        cells, probs = [], []
        for label, at in points:
            s = scores_at(seeds, at, every, test_points)
            cells.append(_cell(iqm(list(s.values())) if s else None, len(s)))
            if variant != BASELINE and s and base.get(label):
                p = probability_of_improvement(list(s.values()), list(base[label].values()))
                probs.append(p.prob())
                says.append(f"{label}: P({variant} > {BASELINE}) = {p.prob()}: {verdict(p, variant, BASELINE)}.")
            else:
                probs.append("–")
        rows.append(f"| {variant} | " + " | ".join(cells + probs) + " |")
    return rows, says


def stats_table(runs: dict, env_id: str, points: list[tuple[str, int | None]], every: int, test_points) -> str:
    """The markdown block: header, rows, and the CI-bounded sentences."""
    rows, says = stats_rows(runs, points, every, test_points)
    head = (f"| {env_id}: greedy test win | " + " | ".join(f"IQM [95% CI], {label}" for label, _ in points)
            + " | " + " | ".join(f"P(variant > {BASELINE}) [95% CI], {label}" for label, _ in points) + " |")
    return "\n".join([head, "|---|" + "---|" * (2 * len(points)), *rows, "", *(f"- {s}" for s in says)])


def iqm_curves(runs: dict, every: int, test_points) -> dict[str, list[tuple[int, Estimate, int]]]:
    """{variant: [(checkpoint, IQM [CI] over the seeds tested there, seeds), ...]}."""
    out = {}
    for variant, seeds in runs.items():
        pts = [test_points(rows, every) for _, rows in seeds.values()]
        cps = sorted({c for p in pts for c in p})
        out[variant] = [(c, iqm([p[c] for p in pts if c in p], reps=2_000), sum(c in p for p in pts)) for c in cps]
    return out


def plot_iqm(runs: dict, every: int, test_points, path: Path, title: str) -> None:
    """IQM of the greedy test win against real steps, a 95% CI band per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (variant, curve) in enumerate(iqm_curves(runs, every, test_points).items()):
        xs = [c for c, _, _ in curve]
        ax.plot(xs, [e.point for _, e, _ in curve], color=f"C{k % 10}", lw=2, marker="o", ms=3,
                label=f"{variant} ({len(runs[variant])} seed{'s' * (len(runs[variant]) > 1)})")
        ax.fill_between(xs, [e.low for _, e, _ in curve], [e.high for _, e, _ in curve], color=f"C{k % 10}",
                        alpha=0.18, lw=0)
    ax.set_xlabel("real env steps")
    ax.set_ylabel("greedy test win rate, IQM over seeds")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title + " (IQM, 95% stratified-bootstrap CI)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def aggregate(runs_by_map: dict[str, dict], at: int, every: int, test_points) -> str:
    """The three-map aggregate at checkpoint ``at``: per variant present on every map, the seeds
    tested at ``at`` on every map form a [seeds, maps] matrix (rliable's runs x tasks); IQM [CI]
    pooled over maps and P(variant > model-free) [CI] averaged over maps."""
    mats: dict[str, tuple[list[int], np.ndarray]] = {}
    for variant in sorted({v for runs in runs_by_map.values() for v in runs}):
        if not all(variant in runs for runs in runs_by_map.values()):
            continue
        per_map = [scores_at(runs[variant], at, every, test_points) for runs in runs_by_map.values()]
        common = sorted(set.intersection(*(set(s) for s in per_map)))
        if common:
            mats[variant] = (common, np.array([[s[seed] for s in per_map] for seed in common]))  # [seeds, maps]
    maps = ", ".join(runs_by_map)
    lines = [f"| aggregate over {maps}, {at // 1000}k | seeds on every map | IQM [95% CI] "
             f"| P(variant > {BASELINE}) [95% CI] |", "|---|---|---|---|"]
    says = []
    for variant, (seeds, m) in mats.items():
        p = (probability_of_improvement(m, mats[BASELINE][1]) if variant != BASELINE and BASELINE in mats
             else None)
        lines.append(f"| {variant} | {', '.join(map(str, seeds))} | {iqm(m).pct()} | {p.prob() if p else '–'} |")
        if p is not None:
            says.append(f"- {verdict(p, variant, BASELINE)} over the three maps at {at // 1000}k "
                        f"(P = {p.prob()}).")
    return "\n".join(lines + [""] + says)
