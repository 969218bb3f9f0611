"""ModelTrainer (the loop's in-memory trainer), imagination starts with history, set_starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentworld.model import (
    ModelTrainer,
    TrainConfig,
    WorldModelConfig,
    batch_to_torch,
    encode_history_starts,
)

pytest.importorskip("jaxmarl")

TINY = WorldModelConfig(deter=32, hidden=32, embed=32, stoch=8, classes=8)


@pytest.fixture()
def data(tmp_path):
    from latentworld.data import collect

    collect("smax-3m", tmp_path / "data", 12, num_envs=12, seed=0, progress=False)
    return tmp_path / "data"


def test_trainer_refresh_keeps_split_and_resumes(data, tmp_path):
    from latentworld.data import collect

    cfg = TrainConfig(batch_size=4, seq_len=8, holdout_every=4, start_bank=16)
    tr = ModelTrainer(data, tmp_path / "ckpt", model_config=TINY, config=cfg)
    assert (len(tr.train_s), len(tr.held_s)) == (9, 3)
    first = tr.train(5)
    assert np.isfinite(first) and tr.step == 5
    collect("smax-3m", data, 8, num_envs=8, seed=1, progress=False)  # appended while the trainer lives
    tr.refresh()
    assert (len(tr.train_s), len(tr.held_s)) == (15, 5)  # episodes 3, 7, 11, 15, 19 held out
    assert tr.held_idx == [3, 7, 11, 15, 19]
    tr.train(3)
    tr.evaluate()
    tr.save()
    # a new trainer on the same folder resumes the step count, weights and history
    again = ModelTrainer(data, tmp_path / "ckpt", model_config=TINY, config=cfg)
    assert again.step == 8 and len(again.history) == 1 and again.eval_loss == tr.eval_loss
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k


def test_history_starts_carry_their_episode(data, tmp_path):
    tr = ModelTrainer(data, tmp_path / "ckpt", model_config=TINY,
                      config=TrainConfig(batch_size=4, seq_len=8, holdout_every=4))
    tr.train(3)
    sampler = tr.train_s
    rng = np.random.default_rng(0)
    starts = encode_history_starts(tr.model, sampler, 4, rng)
    eps = np.random.default_rng(0).choice(len(sampler), size=4, replace=False)
    # every row but each episode's final one (nothing follows it to imagine)
    assert starts.h_a.shape[0] == int(sampler.lengths[eps].sum() - len(eps))
    assert starts.h_a.shape[1:] == (3, 32) and starts.z_a.shape[1:] == (3, 64)
    # the state at row t of an episode is its posterior after rows 0..t, not a fresh encoding of row t
    one = encode_history_starts(tr.model, sampler, 1, np.random.default_rng(7))
    e7 = int(np.random.default_rng(7).choice(len(sampler), size=1, replace=False)[0])
    n = int(sampler.lengths[e7]) - 1
    assert one.h_a.shape[0] == n
    with torch.no_grad():
        window = sampler.gather(np.array([e7]), np.array([2]), seq_len=1)  # row 2 with no history
        fresh, _ = tr.model.observe(batch_to_torch(window))
    assert not torch.allclose(one.h_a[2], fresh.h_a[0, 0])  # history changed the recurrent state
    assert torch.count_nonzero(one.h_a[0]) > 0
    with pytest.raises(ValueError, match="extend"):
        sampler.refresh([0, 1])


def test_set_starts_replaces_the_bank(tiny_checkpoint):
    import latentworld
    from latentworld.model import ModelState

    model, meta = latentworld.load_model(tiny_checkpoint)
    env = latentworld.make_vec("smax-3m", (model, meta), 8, seed=0)
    bank = env.core.bank.index(slice(0, 1))  # one start state: every episode starts there
    env.set_starts(bank)
    step = env.reset(seed=3)
    assert torch.allclose(step.obs, bank.agent_features().expand(8, -1, -1))
    with pytest.raises(ValueError, match=r"shaped \[K, 3"):
        env.set_starts(ModelState.zeros(2, 4, 32, 64))


def test_real_data_scales_measure_reward_and_doubt_on_real_steps(data, tmp_path):
    """The relative uncertainty penalty's two scales, on real smax-3m episodes."""
    from latentworld.model.uncertainty import DataScales, real_data_scales

    cfg = TrainConfig(batch_size=4, seq_len=8, holdout_every=4, start_bank=16)
    tr = ModelTrainer(data, tmp_path / "ckpt", model_config=TINY, config=cfg)
    tr.train(20)
    scales = real_data_scales(tr.model, tr.train_s, 100, np.random.default_rng(0))
    # every train episode (fewer than 100) is measured: its transitions and its mean |team reward|
    assert scales.steps == int((tr.train_s.lengths - 1).sum())
    rewards = np.concatenate([np.abs(e.rewards[1:].mean(1)) for e in tr.train_s.episodes])  # [steps]
    assert scales.reward_per_step == pytest.approx(float(rewards.mean()), rel=1e-5)
    assert 0 < scales.reward_per_step < 1 and scales.uncertainty > 0
    assert scales.penalty(0.2) == pytest.approx(0.2 * scales.reward_per_step / scales.uncertainty)
    assert scales.penalty(0.0) == 0.0 and DataScales(0.1, 0.0, 0).penalty(1.0) == 0.0
    assert tr.model.training  # left as it was found
    no_ens = ModelTrainer(data, tmp_path / "ckpt2", model_config=WorldModelConfig(
        deter=32, hidden=32, embed=32, stoch=8, classes=8, ensemble=0), config=cfg)
    with pytest.raises(ValueError, match="disagreement ensemble"):
        real_data_scales(no_ens.model, no_ens.train_s, 4, np.random.default_rng(0))
