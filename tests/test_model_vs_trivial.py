"""The world model beats the trivial predictor on every env family, with the default settings.

For each family, what a new user runs: 300 random episodes (seed 0), ``train_model`` with its
defaults, ``evaluate_checkpoint`` on the held-out episodes. At k = 1 the model must beat (or
tie, where both are perfect) the trivial predictor — the last observation, the mean reward,
the last action mask — on observations, reward and available actions. Slow: one default
training per family (20-35 min each on two cores); the numbers are in the README
("Model quality", rebuilt by ``benchmarks/model_vs_trivial.py``).
"""

from __future__ import annotations

import pytest

from latentworld.model import TrainConfig, train_model
from latentworld.model.evaluate import evaluate_checkpoint

FAMILIES = {  # env id -> the module its real env needs
    "smax-3m": "jaxmarl",
    "mpe-simple_spread_v3": "mpe2",
    "flatland-30x30-2c-2t": "flatland",
}


@pytest.mark.slow
@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_default_model_beats_trivial_predictor_at_one_step(env_id, tmp_path):
    pytest.importorskip(FAMILIES[env_id])
    from latentworld.data import collect

    collect(env_id, tmp_path / "data", 300, seed=0, progress=False)
    train_model(tmp_path / "data", tmp_path / "ckpt", config=TrainConfig(seed=0, threads=1), progress=False)
    rep = evaluate_checkpoint(str(tmp_path / "ckpt"), str(tmp_path / "data"))
    k1, beats = rep["horizons"]["k=1"], rep["beats_baseline"]["k=1"]
    for key in ("obs_mse", "reward_mae", "avail_accuracy", "avail_f1"):
        assert beats[key], f"{env_id}: {key} {k1[key]:.4f} vs the trivial predictor's {k1[key + '_baseline']:.4f}"
    assert k1["obs_mse"] < k1["obs_mse_baseline"] and k1["reward_mae"] < k1["reward_mae_baseline"]
