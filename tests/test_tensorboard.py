"""TensorBoard event files of run / train-model / learn(log_dir): read back with TensorBoard's own
reader, they hold every curve number once, also across a resume; without the extra, run works."""

import json
import sys

import numpy as np
import pytest

from latentworld.tblog import ScalarLog, read_scalars, scalars

pytest.importorskip("tensorboard")


def _rows(out):
    return [json.loads(x) for x in (out / "curve.jsonl").read_text().splitlines()]


def _expected(rows):
    """{tag: [(step, value)]} that the curve rows should give."""
    exp: dict[str, list] = {}
    for r in rows:
        for tag, v in scalars(r).items():
            exp.setdefault(tag, []).append((r["env_steps"], v))
    return exp


def test_scalars_tags_group_like_sb3():
    s = scalars({"env_steps": 10, "win_rate": 0.5, "entropy": 1.2, "model_loss": 3.0, "trust_skill": 0.4,
                 "imag_mean_len": 9.0, "imag_cut_by_step": [0.0, 0.25], "seconds_real": 2.0,
                 "test_win_rate": None, "note": "x", "flag": True, "nan": float("nan")})
    assert s == {"time/env_steps": 10.0, "charts/win_rate": 0.5, "losses/entropy": 1.2, "model/model_loss": 3.0,
                 "model/trust_skill": 0.4, "imagination/imag_mean_len": 9.0,
                 "imagination/imag_cut_by_step/0": 0.0, "imagination/imag_cut_by_step/1": 0.25,
                 "time/seconds_real": 2.0}


def test_run_events_match_curve_and_resume_appends(tmp_path):
    pytest.importorskip("jaxmarl")
    from latentworld.loop import LoopConfig, run

    out = tmp_path / "run"
    cfg = dict(env_id="smax-3m", model_free=True, test_every=2048, test_episodes=4, eval_episodes=0)
    run(LoopConfig(env_steps=2048, **cfg), out, progress=False)
    # a run killed after writing its events but before its curve row: resume must hide them
    stray = ScalarLog(out, required=True)
    stray.write({"env_steps": 4096, "return": 123.0}, 4096)
    stray.close()
    run(LoopConfig(env_steps=4096, **cfg), out, progress=False)  # a larger budget extends the run
    rows = _rows(out)
    assert [r["env_steps"] for r in rows] == [2048, 4096]
    got = read_scalars(out)
    exp = _expected(rows)
    assert set(got) == set(exp)
    for tag, pts in exp.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in pts], tag  # every step once
        np.testing.assert_allclose([v for _, v in got[tag]], [v for _, v in pts], rtol=1e-6, err_msg=tag)
    assert 123.0 not in [v for _, v in got["charts/return"]]


def test_train_model_events_match_history(tiny_checkpoint, tmp_path):
    from latentworld.model import WorldModelConfig
    from latentworld.model.trainer import TrainConfig, train_model

    data = tiny_checkpoint.parent / "data"
    res = train_model(data, tmp_path / "ckpt", env_id="smax-3m",
                      model_config=WorldModelConfig(deter=32, hidden=32, embed=32, stoch=8, classes=8),
                      config=TrainConfig(steps=20, batch_size=4, eval_every=10, start_bank=16, holdout_every=4),
                      progress=False, tensorboard=True)
    got = read_scalars(tmp_path / "ckpt")
    assert [s for s, _ in got["model/model_train_loss"]] == [10, 20]
    np.testing.assert_allclose([v for _, v in got["model/model_eval_loss"]],
                               [h["eval_loss"] for h in res.history], rtol=1e-6)


def test_learn_log_dir_writes_every_iteration(tiny_checkpoint, tmp_path):
    import latentworld
    from latentworld.loop import make_learner

    model = latentworld.load_model(tiny_checkpoint, "smax-3m")
    env = latentworld.make_vec("smax-3m", model, 8, start="any", horizon=5, seed=0)
    learner = make_learner("mappo", env.obs_dim, env.state_dim, env.n_agents, env.n_actions)
    hist = learner.learn(env, 2 * 8 * learner.cfg.rollout_len, progress=False, log_dir=tmp_path / "tb")
    got = read_scalars(tmp_path / "tb")
    assert [s for s, _ in got["charts/mean_return"]] == [h["env_steps"] for h in hist]
    np.testing.assert_allclose([v for _, v in got["charts/mean_return"]], [h["mean_return"] for h in hist],
                               rtol=1e-6)


def test_run_without_tensorboard_says_once_and_works(tmp_path, monkeypatch, capsys):
    pytest.importorskip("jaxmarl")
    import latentworld.tblog as tblog
    from latentworld.loop import LoopConfig, run

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the extra were missing
    monkeypatch.setattr(tblog, "_told", False)
    cfg = LoopConfig(env_id="smax-3m", env_steps=2048, model_free=True, test_every=0, eval_episodes=0)
    summary = run(cfg, tmp_path / "a", progress=False)
    assert not ScalarLog(tmp_path / "b").active  # a second log in the process: off, without a second message
    assert summary["env_steps"] == 2048 and (tmp_path / "a" / "curve.jsonl").exists()
    assert not list((tmp_path / "a").glob("events.out.tfevents.*"))
    err = capsys.readouterr().err
    assert err.count('pip install "latentworld[tensorboard]"') == 1
    with pytest.raises(ImportError, match=r"latentworld\[tensorboard\]"):
        ScalarLog(tmp_path / "c", required=True)
