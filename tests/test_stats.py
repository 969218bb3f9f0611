"""rliable statistics on fixed numbers: the IQM and its CI recomputed by hand, P(X > Y) exact."""

import numpy as np
import pytest

pytest.importorskip("rliable")

from latentworld.stats import iqm, probability_of_improvement, verdict  # noqa: E402


def test_iqm_point_and_ci_match_a_hand_bootstrap():
    scores = [0.10, 0.40, 0.45, 0.50, 0.55, 0.60, 0.90, 0.95]
    e = iqm(scores, reps=4000, seed=3)
    assert e.point == pytest.approx(np.mean(sorted(scores)[2:6]))  # middle half: 0.45..0.60
    # the percentile CI of IQMs of resampled runs, computed here without rliable
    rng = np.random.default_rng(0)
    boots = [np.mean(np.sort(rng.choice(scores, len(scores)))[2:6]) for _ in range(4000)]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    assert e.low == pytest.approx(lo, abs=0.03) and e.high == pytest.approx(hi, abs=0.03)
    assert e.low <= e.point <= e.high
    assert iqm(scores, reps=4000, seed=3) == e  # same seed, same CI, in any order of calls


def test_probability_of_improvement_exact_and_verdicts():
    p = probability_of_improvement([0.6, 0.7, 0.8], [0.1, 0.2, 0.65])
    assert p.point == pytest.approx((3 + 3 + 3 - 1) / 9)  # 0.6 < 0.65: one pair of nine lost
    assert verdict(probability_of_improvement([0.8, 0.9, 0.85, 0.95], [0.1, 0.2, 0.15, 0.3]), "a", "b") \
        == "a is ahead of b"
    tie = probability_of_improvement([0.5, 0.5], [0.5, 0.5])
    assert tie.point == 0.5 and "no difference" in verdict(tie, "a", "b")
    # tasks: [runs, tasks], averaged over tasks
    two = probability_of_improvement(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert two.point == pytest.approx(0.5)


def test_one_run_has_no_ci_and_no_verdict():
    one = iqm([0.4])
    assert one.point == pytest.approx(0.4) and not one.has_ci and "no CI" in one.pct()
    p = probability_of_improvement([0.9], [0.1, 0.2, 0.3])
    assert p.point == 1.0 and not p.has_ci
    assert "no difference" in verdict(p, "a", "b")  # a perfect score from one seed proves nothing


def test_bad_scores_name_the_problem():
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        iqm([0.1, float("nan")])
    with pytest.raises(ValueError, match="at least one run"):
        iqm([])
