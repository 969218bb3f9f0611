"""World-model training, checkpoints and the model-quality report, on real smax-3m data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentworld.data import EpisodeDataset
from latentworld.model import TrainConfig, WorldModelConfig, load_model, train_model
from latentworld.model.checkpoint import CheckpointError
from latentworld.model.evaluate import evaluate_checkpoint
from latentworld.model.world_model import batch_to_torch

TINY = WorldModelConfig(deter=32, hidden=32, embed=32, stoch=8, classes=8)


def _train(data, out, steps=12, seed=0, **kw):
    cfg = TrainConfig(steps=steps, batch_size=4, seq_len=8, eval_every=6, seed=seed, start_bank=16,
                      holdout_every=5, **kw)
    return train_model(data, out, model_config=TINY, config=cfg, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    pytest.importorskip("jaxmarl")
    from latentworld.data import collect

    path = tmp_path_factory.mktemp("wm") / "data"
    collect("smax-3m", path, 20, seed=0, num_envs=20, progress=False)
    return path


@pytest.fixture(scope="module")
def ckpt(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("wm") / "ckpt"
    _train(data, out)
    return out


def test_checkpoint_layout_and_metadata(ckpt, data):
    meta = json.loads((ckpt / "meta.json").read_text())
    files = sorted(p.name for p in ckpt.iterdir())
    # the tensor files carry their digest: a save commits a whole new set with meta.json
    names = meta["file_names"]
    assert files == sorted([".writer.lock", "meta.json", *names.values()])
    assert all(names[k] == f"{k}.{meta['files'][k][:16]}.safetensors" for k in ("model", "optim", "starts"))
    assert meta["env_id"] == "smax-3m" and meta["train_steps"] == 12
    assert meta["config"] == TINY.for_env("smax-3m").to_dict() and meta["spec"]["obs_dim"] == 75  # weights filled in
    assert meta["dataset"]["episodes"] == 20 and meta["dataset"]["held_out"] == [4, 9, 14, 19]
    assert len(meta["history"]) == 2 and all(np.isfinite(h["eval_loss"]) for h in meta["history"])
    assert "latentworld_version" in meta and set(meta["files"]) == {"model", "starts", "optim"}


def test_save_load_identical_predictions(ckpt, data):
    from latentworld.data import EpisodeDataset, SequenceSampler

    m1, meta = load_model(ckpt, "smax-3m")
    m2, _ = load_model(ckpt)
    batch = batch_to_torch(SequenceSampler(EpisodeDataset.open(data), 8, seed=3).sample(4))
    with torch.no_grad():
        s1, _ = m1.observe(batch, sample=False)
        s2, _ = m2.observe(batch, sample=False)
        h1, h2 = m1.predict_heads(s1), m2.predict_heads(s2)
    for k in h1:
        assert torch.equal(h1[k], h2[k]), k
    assert meta["spec"].env_id == "smax-3m"


def test_training_is_deterministic_and_resumes(data, tmp_path):
    a = _train(data, tmp_path / "a", steps=12)
    _train(data, tmp_path / "b", steps=6)
    b = _train(data, tmp_path / "b", steps=12)  # resumed from step 6
    assert b.steps == 12 and a.train_loss == pytest.approx(b.train_loss, rel=1e-5)
    wa = load_model(tmp_path / "a")[0].state_dict()
    wb = load_model(tmp_path / "b")[0].state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    c = _train(data, tmp_path / "c", steps=12, seed=1)
    assert c.train_loss != pytest.approx(a.train_loss, rel=1e-6)


def test_wrong_env_id_refused(ckpt):
    with pytest.raises(CheckpointError, match="trained on 'smax-3m', not 'smax-8m'"):
        load_model(ckpt, "smax-8m")


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "meta"])
def test_corrupted_checkpoint_clear_error(ckpt, tmp_path, damage):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(ckpt, bad)
    target = bad / json.loads((bad / "meta.json").read_text())["file_names"]["model"]
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "flip":
        raw = bytearray(target.read_bytes())
        raw[-5] ^= 0xFF
        target.write_bytes(bytes(raw))
    elif damage == "delete":
        target.unlink()
    else:
        (bad / "meta.json").write_text('{"env_id": "smax-3m", "spec": ')
    with pytest.raises(CheckpointError, match="corrupted|missing|incomplete"):
        load_model(bad)


def test_dataset_is_not_a_checkpoint(data):
    with pytest.raises(CheckpointError, match="it is a dataset"):
        load_model(data)


def test_resume_with_other_config_refused(data, ckpt, tmp_path):
    import shutil

    out = tmp_path / "c"
    shutil.copytree(ckpt, out)
    with pytest.raises(CheckpointError, match="another config"):
        train_model(data, out, model_config=WorldModelConfig(deter=16, hidden=32, embed=32, stoch=8, classes=8),
                    config=TrainConfig(steps=14, batch_size=4, seq_len=8), progress=False)


def test_model_quality_report(ckpt, data):
    rep = evaluate_checkpoint(str(ckpt), str(data))
    assert rep["held_out_of_training_data"] is True and rep["episodes"] == 4
    assert set(rep["horizons"]) == {"k=1", "k=5", "k=15"}
    for m in rep["horizons"].values():
        assert m["samples"] > 0
        for k in ("obs_mse", "reward_mae", "end_accuracy", "avail_accuracy", "reward_agent_variance"):
            assert np.isfinite(m[k]) and np.isfinite(m[k + "_baseline"] if k != "reward_agent_variance" else 0)
        assert 0 <= m["end_accuracy"] <= 1 and 0 <= m["avail_f1"] <= 1
        assert m["gci_total"] == pytest.approx(m["gci_reward"] + m["gci_cont"] + m["gci_global"])
        assert m["gci_reward"] == pytest.approx(m["reward_agent_variance"], rel=1e-5)
        assert m["gpe_obs"] == pytest.approx(m["obs_mse"], rel=1e-5)
        assert m["gpe_obs_baseline"] == pytest.approx(m["obs_mse_baseline"], rel=1e-5)
    assert set(rep["gci"]) == {"total", "reward", "cont", "global"} and rep["gci"]["total"] >= 0
    assert set(rep["gpe"]) == set(rep["gpe_baseline"]) == {"total", "obs", "reward", "cont"}
    assert rep["gci_reward_data"] == pytest.approx(0.0)  # SMAX pays every agent the team reward


def test_gci_and_gpe_on_known_values():
    """GCI is 0 when every agent predicts the same and the mean across-agent variance
    otherwise; GPE is 0 for perfect predictions and the sum of the three errors otherwise."""
    from latentworld.model.evaluate import gci_parts, gpe_parts

    same = gci_parts(np.full((5, 3), 0.4), np.full((5, 3), 0.9), np.tile(np.eye(4)[1], (5, 3, 1)))
    assert same == pytest.approx({"reward": 0.0, "cont": 0.0, "global": 0.0, "total": 0.0}, abs=1e-12)
    z = np.zeros((1, 2, 2))
    z[0, 0, 0] = z[0, 1, 1] = 1.0  # two agents, one-hot on different classes: var 0.25 per dim
    g = gci_parts(np.array([[0.0, 2.0]]), np.array([[1.0, 0.0]]), z)
    assert g["reward"] == pytest.approx(1.0) and g["cont"] == pytest.approx(0.25)
    assert g["global"] == pytest.approx(0.25) and g["total"] == pytest.approx(1.5)
    obs = np.random.default_rng(0).normal(size=(4, 3, 5))
    alive = np.ones((4, 3), bool)
    cont_t = np.array([True, True, True, False])
    perfect = gpe_parts(obs, obs, alive, np.ones(4), np.ones(4), cont_t.astype(float), cont_t)
    assert perfect["total"] == 0.0
    e = gpe_parts(obs + 1.0, obs, alive, np.ones(4), np.zeros(4), np.ones(4), cont_t)
    assert e["obs"] == pytest.approx(1.0) and e["reward"] == pytest.approx(1.0) and e["cont"] == pytest.approx(0.25)
    assert e["total"] == pytest.approx(2.25)


def test_cli_train_and_evaluate(data, tmp_path, capsys):
    from latentworld.cli import main

    out = tmp_path / "cli"
    assert main(["train-model", "smax-3m", "--data", str(data), "--out", str(out), "--steps", "4",
                 "--batch-size", "4", "--seq-len", "8", "--eval-every", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["steps"] == 4 and res["sequences_per_s"] > 0 and res["agent_steps_per_s"] > 0
    assert main(["evaluate-model", "smax-3m", "--model", str(out), "--data", str(data), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["horizons"]["k=1"]["samples"] > 0
    assert main(["evaluate-model", "smax-8m", "--model", str(out), "--data", str(data)]) == 2
    assert "not 'smax-8m'" in capsys.readouterr().err


def test_reward_trend_is_a_stored_option_that_trains_on_smoothed_rewards(data, tmp_path, capsys):
    """train-model --reward-trend: the option lands in the checkpoint's config, the trainer's
    samplers serve the smoothed team reward (its sum kept away from the episode's edges), and
    the run resumes with the same option."""
    from latentworld.cli import main
    from latentworld.model.trainer import ModelTrainer

    out = tmp_path / "trend"
    args = ["train-model", "smax-3m", "--data", str(data), "--out", str(out), "--steps", "4", "--batch-size", "4",
            "--seq-len", "8", "--eval-every", "4", "--reward-trend", "2", "--json"]
    assert main(args) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["reward_trend"] == 2.0 and meta["config"]["reward_trend_window"] == 0
    args[args.index("--steps") + 1] = "6"
    assert main(args) == 0  # resumes: same config
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 6
    tr = ModelTrainer(data, tmp_path / "t2", model_config=WorldModelConfig(reward_trend=2.0),
                      config=TrainConfig(batch_size=4, seq_len=8))
    raw = EpisodeDataset.open(data)
    ep = max(tr.train_s.episodes, key=lambda e: float(np.abs(e.rewards).max()))
    src = next(raw[i] for i in tr.train_idx if raw[i].obs.shape == ep.obs.shape
               and np.allclose(raw[i].obs, ep.obs))
    assert not np.allclose(ep.rewards, src.rewards)  # smoothed
    assert np.abs(ep.rewards).max() < np.abs(src.rewards).max()
    assert ep.rewards[0].sum() == 0.0


def test_obs_fusion_checkpoint_serves_decoded_obs_and_refuses_latent_deployment(data, tmp_path, capsys):
    """train-model --obs-fusion stores the option; the learned env serves decoded observations;
    deploying a latent-feature policy (LatentObservation, DeployedPolicy) is refused clearly."""
    import latentworld
    from latentworld.cli import main
    from latentworld.execution import DeployedPolicy
    from latentworld.wrappers import LatentObservation

    out = tmp_path / "fused"
    assert main(["train-model", "smax-3m", "--data", str(data), "--out", str(out), "--steps", "4", "--batch-size",
                 "4", "--seq-len", "8", "--eval-every", "4", "--obs-fusion", "--json"]) == 0
    model, meta = load_model(out, "smax-3m")
    assert meta["config"]["obs_fusion"] is True and model.cfg.obs_fusion
    env = latentworld.make("smax-3m", out, obs="decoded", seed=0)
    obs, infos = env.reset(seed=0)
    assert obs["ally_0"].shape == (75,)
    env.step({a: int(np.flatnonzero(infos[a]["action_mask"])[0]) for a in env.agents})
    with pytest.raises(ValueError, match="decoded"):
        LatentObservation(latentworld.make_real("smax-3m"), out)
    with pytest.raises(ValueError, match="decoded"):
        DeployedPolicy(lambda o, m, d: None, model)


def test_shipping_export_is_half_precision_and_compressed_and_loads_as_float32(ckpt, data, tmp_path):
    """export_checkpoint's shipping form: float16 weights, an xz-compressed float16 start bank,
    read back as float32 within half precision of the original, and a learned env runs on it."""
    import latentworld
    from latentworld.model.export import export_checkpoint

    full = export_checkpoint(ckpt, tmp_path / "full", data, bank=32, half=False)
    half = export_checkpoint(ckpt, tmp_path / "half", data, bank=32, real_env_steps=1234)
    names = json.loads((tmp_path / "half" / "meta.json").read_text())["file_names"]
    assert sorted(p.name for p in (tmp_path / "half").iterdir()) == sorted(["meta.json", *names.values()])
    assert names["model"].endswith(".safetensors") and names["starts"].endswith(".safetensors.xz")
    assert half["bytes"] < 0.6 * full["bytes"]
    meta = json.loads((tmp_path / "half" / "meta.json").read_text())
    assert meta["compressed"] == ["starts"] and meta["exported"]["real_env_steps"] == 1234
    m32, _ = load_model(tmp_path / "full")
    m16, _ = load_model(tmp_path / "half")
    for (k, a), b in zip(m32.state_dict().items(), m16.state_dict().values()):
        assert b.dtype == a.dtype and torch.allclose(a, b, rtol=1e-3, atol=1e-4), k
    env = latentworld.make("smax-3m", tmp_path / "half", seed=0)
    obs, infos = env.reset(seed=0)
    assert all(o.dtype == np.float32 for o in obs.values())
    # a damaged compressed bank is refused like any other damaged file
    bad = tmp_path / "half" / names["starts"]
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="corrupted"):
        latentworld.make("smax-3m", tmp_path / "half", seed=0)
