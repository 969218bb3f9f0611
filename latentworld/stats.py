"""Few-seed results stated the way the field states them (Agarwal et al., NeurIPS 2021), with rliable.

Scores are arrays of shape [runs] (one task) or [runs, tasks] (each column one task, the same
runs in every column). The interquartile mean (IQM) and the probability of improvement come
with 95% stratified-bootstrap confidence intervals: runs are resampled within each task.
``rliable`` is an extra: ``pip install "latentworld[stats]"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EXTRA_HINT = 'pip install "latentworld[stats]"'


@dataclass(frozen=True)
class Estimate:
    """A point estimate and the bounds of its confidence interval."""

    point: float
    low: float
    high: float

    @property
    def has_ci(self) -> bool:
        """False where one run (on a side) leaves nothing to resample: no interval to state."""
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def pct(self) -> str:
        """``52% [41, 63]``: a win rate (or probability) in percent with its CI."""
        if not self.has_ci:
            return f"{100 * self.point:.0f}% [no CI: one run]"
        return f"{100 * self.point:.0f}% [{100 * self.low:.0f}, {100 * self.high:.0f}]"

    def prob(self) -> str:
        """``0.71 [0.52, 0.88]``: a probability with its CI."""
        if not self.has_ci:
            return f"{self.point:.2f} [no CI: one run]"
        return f"{self.point:.2f} [{self.low:.2f}, {self.high:.2f}]"


def _rliable():
    try:
        from rliable import library, metrics
    except ImportError as exc:
        raise ImportError(f"IQM and probability of improvement need rliable: {EXTRA_HINT}") from exc
    return library, metrics


def _matrix(scores: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(scores, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a  # [runs] -> [runs, 1 task]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name}: scores must be [runs] or [runs, tasks] with at least one run, got shape "
                         f"{np.shape(scores)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: scores must be finite numbers")
    return a


class _Seeded:
    """rliable draws some bootstrap indices from numpy's global generator: seed it for the call and
    give the caller's state back after, so an estimate is the same in any order of calls."""

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self) -> np.random.RandomState:
        self.quiet = warnings.catch_warnings()
        self.quiet.__enter__()
        warnings.simplefilter("ignore", FutureWarning)  # arch's note on its random_state argument
        self.saved = np.random.get_state()
        np.random.seed(self.seed)
        return np.random.RandomState(self.seed)

    def __exit__(self, *exc) -> None:
        np.random.set_state(self.saved)
        self.quiet.__exit__(*exc)


def iqm(scores: Sequence[float] | np.ndarray, *, reps: int = 20_000, seed: int = 0,
        confidence: float = 0.95) -> Estimate:
    """Interquartile mean of ``scores`` ([runs] or [runs, tasks], pooled over tasks as rliable's
    ``aggregate_iqm``) with a stratified-bootstrap CI of ``confidence`` (NaN bounds for one run:
    resampling one run gives an interval of zero width that says nothing)."""
    library, metrics = _rliable()
    a = _matrix(scores, "iqm")
    if a.shape[0] < 2:
        return Estimate(float(metrics.aggregate_iqm(a)), float("nan"), float("nan"))
    with _Seeded(seed) as rs:
        point, ci = library.get_interval_estimates(
            {"x": a}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps,
            confidence_interval_size=confidence, random_state=rs)
    return Estimate(float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0]))


def probability_of_improvement(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
                               reps: int = 20_000, seed: int = 0, confidence: float = 0.95) -> Estimate:
    """P(X > Y): the probability that a run of X scores above a run of Y on a task (ties count
    half), averaged over tasks, with a stratified-bootstrap CI (runs of X and of Y resampled
    independently; NaN bounds when a side has one run). ``x`` [runs_x] or [runs_x, tasks], ``y``
    the same tasks."""
    library, metrics = _rliable()
    a, b = _matrix(x, "x"), _matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must cover the same tasks: {a.shape[1]} against {b.shape[1]} columns")
    if min(a.shape[0], b.shape[0]) < 2:  # NaN bounds: one run on a side has no spread to resample
        return Estimate(float(metrics.probability_of_improvement(a, b)), float("nan"), float("nan"))
    with _Seeded(seed) as rs:
        point, ci = library.get_interval_estimates(
            {"x,y": (a, b)}, metrics.probability_of_improvement, reps=reps,
            confidence_interval_size=confidence, random_state=rs)
    return Estimate(float(np.squeeze(point["x,y"])), float(np.squeeze(ci["x,y"][0])),
                    float(np.squeeze(ci["x,y"][1])))


def verdict(p: Estimate, better: str, worse: str) -> str:
    """What a probability of improvement of ``better`` over ``worse`` allows one to say: ahead
    only when the whole CI lies above 0.5, behind only when it lies below; nothing with one run."""
    if not p.has_ci:
        return f"one run on a side: no difference between {better} and {worse} can be shown"
    if p.low > 0.5:
        return f"{better} is ahead of {worse}"
    if p.high < 0.5:
        return f"{better} is behind {worse}"
    return f"no difference between {better} and {worse} that these seeds can show"
