"""Fidelity measures of a world model on real episodes, and the per-step doubt cut they feed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import latentworld
from latentworld.data import EpisodeDataset, SequenceSampler
from latentworld.model import load_model
from latentworld.model.fidelity import cut_share, encode_starts, measure
from latentworld.model.trust import score_model

pytest.importorskip("jaxmarl")


@pytest.fixture(scope="module")
def scored(tiny_checkpoint):
    model, _ = load_model(tiny_checkpoint)
    ds = EpisodeDataset.open(tiny_checkpoint.parent / "data")
    return model, SequenceSampler(ds, 1, episodes=list(range(8)))


def test_measure_reports_every_number_at_the_horizon(scored):
    model, sampler = scored
    f = measure(model, sampler, horizon=6, samples=3, max_starts=64, seed=0, groups={"first": [0, 1, 2, 3]})
    assert f.starts == 64 and len(f.doubt_limits) == 6
    assert all(b >= a for a, b in zip(f.doubt_limits, f.doubt_limits[1:]))  # quantiles of a running maximum
    assert math.isfinite(f.reward_skill) and math.isfinite(f.reward_skill_mode) and f.reward_skill <= 1
    assert set(f.obs_error) == {1, 5, 6} and all(e > 0 for e in f.obs_error.values())
    assert 0 <= f.win_brier <= 1 and f.win_brier_base == 0.0  # random play: no wins within reach
    assert set(f.groups) == {"first"}
    again = measure(model, sampler, horizon=6, samples=3, max_starts=64, seed=0, groups={"first": [0, 1, 2, 3]})
    assert again.reward_skill == f.reward_skill and again.doubt_limits == f.doubt_limits  # seeded
    # windowed starts: every start encoded from at most 3 earlier rows, not the whole episode
    whole, _ = encode_starts(model, sampler, max_starts=64, seed=0)
    window, _ = encode_starts(model, sampler, history=3, max_starts=64, seed=0)
    assert whole.h_a.shape == window.h_a.shape and not torch.allclose(whole.h_a, window.h_a)


def test_per_step_limits_cut_about_the_quantile_of_real_like_rollouts(scored):
    model, sampler = scored
    t = score_model(model, sampler, horizon=6, quantile=0.8, samples=4, max_starts=128, seed=0)
    share, kept = cut_share(model, sampler, t.doubt_limits, horizon=6, samples=4, max_starts=128, seed=0)
    assert share == pytest.approx(0.2, abs=0.04)  # the same rollouts the limits came from: 1 - quantile
    none, kept_all = cut_share(model, sampler, [float("inf")] * 6, horizon=6, max_starts=128, seed=0)
    assert none == 0.0 and kept_all > kept
    every, kept_none = cut_share(model, sampler, [0.0] * 6, horizon=6, max_starts=128, seed=0)
    assert every == 1.0 and kept_none == 1.0


def test_vector_env_cuts_at_each_steps_limit(tiny_checkpoint):
    env = latentworld.make_vec("smax-3m", tiny_checkpoint, 8, horizon=6, seed=0)
    step = env.reset()
    env.set_doubt_limit([np.inf, np.inf, 0.0])  # the third step onwards is always cut
    env.reset_counts()
    for _ in range(30):
        step = env.step(step.action_mask.float().argmax(-1))
    c = env.counts()
    assert c["cut_by_doubt"] > 0 and set(c["cut_at_step"]) == {2}
    assert c["episode_steps"] <= 3 * c["episodes"]  # no episode outlives the third step
    with pytest.raises(ValueError, match="doubt limits"):
        env.set_doubt_limit([1.0, float("nan")])
