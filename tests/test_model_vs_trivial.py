"""The world model beats the trivial predictor on every env family, with the default settings.

For each family, what a new user runs: 300 random episodes (seed 0), ``train_model`` with its
defaults, ``evaluate_checkpoint`` on the held-out episodes. At k = 1 the model must beat (or
tie, where both are perfect) the trivial predictor — the last observation, the mean reward,
the last action mask — on observations, reward and available actions. Slow: one default
training per family (25-35 min each on two cores); the numbers are in the README
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
_reports: dict[str, dict] = {}


def _k1(env_id: str, tmp_path_factory) -> tuple[dict, dict]:
    """(k = 1 metrics, which of them beat the trivial predictor) of the default model, trained once."""
    pytest.importorskip(FAMILIES[env_id])
    if env_id not in _reports:
        from latentworld.data import collect

        root = tmp_path_factory.mktemp(env_id)
        collect(env_id, root / "data", 300, seed=0, progress=False)
        train_model(root / "data", root / "ckpt", config=TrainConfig(seed=0, threads=1), progress=False)
        _reports[env_id] = evaluate_checkpoint(str(root / "ckpt"), str(root / "data"))
    rep = _reports[env_id]
    return rep["horizons"]["k=1"], rep["beats_baseline"]["k=1"]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_default_model_beats_trivial_predictor_on_observations_and_masks(env_id, tmp_path_factory):
    k1, beats = _k1(env_id, tmp_path_factory)
    for key in ("obs_mse", "avail_accuracy", "avail_f1"):
        assert beats[key], f"{env_id}: {key} {k1[key]:.4f} vs the trivial predictor's {k1[key + '_baseline']:.4f}"
    assert k1["obs_mse"] < k1["obs_mse_baseline"]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", list(FAMILIES))
def test_default_model_beats_trivial_predictor_on_reward(env_id, tmp_path_factory):
    k1, _ = _k1(env_id, tmp_path_factory)
    assert k1["reward_mae"] < k1["reward_mae_baseline"], (
        f"{env_id}: team reward MAE {k1['reward_mae']:.4f} vs the mean reward's {k1['reward_mae_baseline']:.4f}")
