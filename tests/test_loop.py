"""The loop, its model-free baseline, and the policy commands, on real smax-3m (tiny budgets)."""

from __future__ import annotations

import json
import math

import pytest

from latentworld.loop import LoopConfig, run

pytest.importorskip("jaxmarl")

TINY = dict(env_id="smax-3m", real_envs=8, imag_envs=16, model_start=200, model_steps_first=8,
            model_seqs_per_step=0.25, horizon=5, test_every=600, test_episodes=4, eval_episodes=8)
ROUND = 8 * 32  # real steps of one MAPPO iteration: real_envs x rollout_len


def _rows(out):
    return [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]


def test_loop_logs_curve_and_resumes(tmp_path):
    cfg = LoopConfig(env_steps=1800, imag_ratio=2.0, trust=False, **TINY)
    res = run(cfg, tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    # every round is one real MAPPO iteration
    assert [r["env_steps"] for r in rows] == [ROUND * (i + 1) for i in range(len(rows))]
    assert res["env_steps"] == rows[-1]["env_steps"] >= 1800 > rows[-2]["env_steps"]
    # the real episodes that finished were kept, and a world model trained on them
    from latentworld.data import EpisodeDataset

    ds = EpisodeDataset.open(tmp_path / "run" / "data")
    assert len(ds) > 10 and sum(ds[i].steps for i in range(len(ds))) <= res["env_steps"]
    modelled = [r for r in rows if "model_steps" in r]
    steps = [r["model_steps"] for r in modelled]
    assert modelled and steps == sorted(steps) and steps[0] == 8 and steps[-1] > 8
    # once a model exists it is scored on the fresh episodes before it trains on them, and (trust
    # off) imagination runs imag_ratio iterations of 16 envs x 32 steps, cut at the horizon or doubt
    imagined = [r for r in rows if r.get("imag_iterations")]
    assert len(imagined) == len(modelled) - 1
    for r in imagined:
        assert math.isfinite(r["trust_skill"]) and r["trust_scale"] == 1.0 and r["imag_iterations"] == 2
        assert r["imag_steps"] == 2 * 16 * 32 and 1.0 <= r["imag_mean_len"] <= 5.0
        assert 0.0 <= r["imag_cut_share"] <= 1.0 and r["doubt_limit"] > 0 and r["imag_entropy"] > 0
        # per-step limits of the running maximum of doubt rise along the rollout; the realised cut
        # per step adds up to the share of episodes cut
        assert r["doubt_limit_last"] >= r["doubt_limit"]
        assert len(r["imag_cut_by_step"]) == 5 and sum(r["imag_cut_by_step"]) == pytest.approx(r["imag_cut_share"],
                                                                                              abs=1e-3)
    # a greedy test each time the run crosses a multiple of test_every, not counted in the budget
    tested = [r["env_steps"] for r in rows if "test_win_rate" in r]
    assert [t // 600 for t in tested] == sorted({r["env_steps"] // 600 for r in rows if r["env_steps"] >= 600})
    assert all(0.0 <= r["test_win_rate"] <= 1.0 for r in rows if "test_win_rate" in r)
    # each round's wall time split by phase, inside the time between rows
    for a, b in zip(rows, rows[1:]):
        phases = {k for k in b if k.startswith("seconds_")}
        assert "seconds_real" in phases and ("seconds_imagine" in phases) == bool(b.get("imag_iterations"))
        assert sum(b[k] for k in phases) <= b["seconds"] - a["seconds"] + 0.05
    # one policy for the whole run: it trained on every real and imagined step
    policy_steps = json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())["env_steps"]
    assert policy_steps == res["env_steps"] + sum(r["imag_steps"] for r in imagined)
    assert res["eval_episodes"] == 8 and 0.0 <= res["eval_win_rate"] <= 1.0 and res["eval_return"] > -1
    for f in ("curve.csv", "curve.png", "summary.json", "model/meta.json", "policy/policy.json", "data/meta.json"):
        assert (tmp_path / "run" / f).exists(), f
    assert (tmp_path / "run" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # a finished run resumes to its summary without doing anything
    assert run(cfg, tmp_path / "run", progress=False) == json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(_rows(tmp_path / "run")) == len(rows)
    with pytest.raises(ValueError, match="other settings.*seed"):
        run(LoopConfig(env_steps=1800, imag_ratio=2.0, trust=False, **{**TINY, "seed": 3}), tmp_path / "run",
            progress=False)
    with pytest.raises(ValueError, match="other settings.*env_steps"):
        run(LoopConfig(env_steps=500, imag_ratio=2.0, trust=False, **TINY), tmp_path / "run", progress=False)
    # a larger budget extends the finished run from where it stopped, with the same model and policy
    more = run(LoopConfig(env_steps=rows[-1]["env_steps"] + 200, imag_ratio=2.0, trust=False, **TINY),
               tmp_path / "run", progress=False)
    grown = _rows(tmp_path / "run")
    assert grown[: len(rows)] == rows and len(grown) == len(rows) + 1 and more["env_steps"] > res["env_steps"]
    assert grown[-1]["model_steps"] > steps[-1]
    assert json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())["env_steps"] > policy_steps


def test_imagination_off_is_the_model_free_baseline(tmp_path):
    """``imag_ratio=0`` records the real episodes and trains the world model, yet its learner
    sees exactly what the model-free baseline's does: the same seed gives the same curve."""
    kw = {**TINY, "eval_episodes": 16, "test_episodes": 16}
    free = run(LoopConfig(env_steps=1800, model_free=True, **kw), tmp_path / "free", progress=False)
    off = run(LoopConfig(env_steps=1800, imag_ratio=0.0, **kw), tmp_path / "off", progress=False)
    keys = ("env_steps", "win_rate", "return", "entropy", "test_win_rate", "test_return")
    assert [{k: r.get(k) for k in keys} for r in _rows(tmp_path / "free")] == \
        [{k: r.get(k) for k in keys} for r in _rows(tmp_path / "off")]
    assert (free["eval_win_rate"], free["eval_return"]) == (off["eval_win_rate"], off["eval_return"])
    # the difference: the imag_ratio=0 run kept its data and trained (and scored) a model, never used
    assert not (tmp_path / "free" / "data").exists() and (tmp_path / "off" / "model" / "meta.json").exists()
    rows = _rows(tmp_path / "off")
    assert any("trust_skill" in r for r in rows) and not any(r.get("imag_iterations") for r in rows)
    # and another seed is another run
    other = run(LoopConfig(env_steps=600, model_free=True, **{**kw, "seed": 1}), tmp_path / "free1",
                progress=False)
    assert _rows(tmp_path / "free1")[1]["return"] != _rows(tmp_path / "free")[1]["return"]
    assert other["env_steps"] == 3 * ROUND


def test_trust_scales_imagination(tmp_path):
    """With trust on, a round's imagined iterations follow the model's reward skill on the fresh
    episodes: none while it is no better than the mean, ``imag_ratio`` once skill reaches trust_full."""
    run(LoopConfig(env_steps=1800, imag_ratio=2.0, trust_full=0.5, **{**TINY, "eval_episodes": 0}),
        tmp_path / "run", progress=False)
    rows = [r for r in _rows(tmp_path / "run") if "trust_skill" in r]
    assert rows
    owed = 0.0
    for r in rows:
        scale = min(max(r["trust_skill"] / 0.5, 0.0), 1.0)
        assert r["trust_scale"] == pytest.approx(scale)
        owed += 2.0 * scale
        assert r["imag_iterations"] == int(owed)  # fractions carry over to the next round
        owed -= int(owed)


def test_model_free_baseline_with_value_decomposition(tmp_path):
    res = run(LoopConfig(env_steps=2000, model_free=True, algo="vdn", **TINY), tmp_path / "mf", progress=False)
    rows = _rows(tmp_path / "mf")
    # the steps the learner really took (it steps whole iterations), not the ones asked for
    policy = json.loads((tmp_path / "mf" / "policy" / "policy.json").read_text())
    assert res["env_steps"] == rows[-1]["env_steps"] == policy["env_steps"] >= 2000
    assert rows[-2]["env_steps"] < 2000
    assert res["eval_episodes"] == 8 and 0.0 <= res["eval_win_rate"] <= 1.0


def test_bad_loop_settings():
    with pytest.raises(ValueError, match="algo"):
        LoopConfig(algo="dqn")
    with pytest.raises(ValueError, match="dual_buffer is for mappo"):
        LoopConfig(dual_buffer=4, algo="vdn")
    with pytest.raises(ValueError, match="reward_trend"):
        LoopConfig(reward_trend=-1.0)
    with pytest.raises(ValueError, match="relative_penalty must be >= 0"):
        LoopConfig(relative_penalty=-0.1)
    with pytest.raises(ValueError, match="imag_ratio must be >= 0"):
        LoopConfig(imag_ratio=-1)
    with pytest.raises(ValueError, match="doubt_quantile"):
        LoopConfig(doubt_quantile=1.5)
    with pytest.raises(ValueError, match="trust_full must be > 0"):
        LoopConfig(trust_full=0)
    with pytest.raises(ValueError, match="horizon"):
        LoopConfig(horizon=0)
    from latentworld.loop import model_config

    mc = model_config(LoopConfig(obs_fusion=True, reward_trend=2.0, reward_scale=3.0))
    assert mc.obs_fusion and mc.reward_trend == 2.0 and mc.reward_scale == 3.0
    with pytest.raises(ValueError, match="model size"):
        LoopConfig(model_size="huge")
    with pytest.raises(ValueError, match="model_seqs_per_step must be >= 0"):
        LoopConfig(model_seqs_per_step=-1)
    with pytest.raises(ValueError, match="real_envs must be >= 1"):
        LoopConfig(real_envs=0)
    # MATWM's horizon by team size, unless given
    assert [LoopConfig().imagination_horizon(n) for n in (3, 5, 8)] == [15, 12, 8]
    assert LoopConfig(horizon=4).imagination_horizon(8) == 4


def test_train_policy_and_evaluate_commands(tmp_path, capsys, tiny_checkpoint):
    from latentworld.cli import main

    ckpt = str(tiny_checkpoint)
    assert main(["train-policy", "smax-3m", "--model", ckpt, "--steps", "512", "--num-envs", "16",
                 "--out", str(tmp_path / "pol"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["imagined_steps"] == 512 and (tmp_path / "pol" / "policy.json").exists()
    assert main(["evaluate", "smax-3m", "--policy", str(tmp_path / "pol"), "--model", ckpt,
                 "--episodes", "8", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["episodes"] == 8 and 0.0 <= ev["win_rate"] <= 1.0
    assert main(["evaluate", "smax-3m", "--policy", "random", "--episodes", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["win_rate"] == 0.0
    assert main(["evaluate", "smax-3m", "--policy", str(tmp_path / "nothing"), "--episodes", "8"]) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("algo", ["mfq", "mfac"])
def test_mean_field_learners_in_the_loop_and_the_commands(tmp_path, capsys, tiny_checkpoint, algo):
    from latentworld.cli import main

    res = run(LoopConfig(env_steps=1200, algo=algo, trust=False, imag_ratio=1.0, **{**TINY, "eval_episodes": 4}),
              tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())
    imagined = sum(r.get("imag_steps", 0) for r in _rows(tmp_path / "run"))
    assert imagined > 0 and meta["algo"] == algo
    assert meta["env_steps"] == res["env_steps"] + imagined  # one policy, real and imagined rounds
    assert res["eval_episodes"] == 4 and 0.0 <= res["eval_win_rate"] <= 1.0
    ckpt = str(tiny_checkpoint)
    assert main(["train-policy", "smax-3m", "--model", ckpt, "--algo", algo, "--steps", "512", "--num-envs", "16",
                 "--out", str(tmp_path / "pol"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["algo"] == algo
    assert main(["evaluate", "smax-3m", "--policy", str(tmp_path / "pol"), "--model", ckpt,
                 "--episodes", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 4


def test_quickstart_command_short(capsys):
    """The README's main job, with a short training budget (the full one is measured in the README)."""
    import latentworld
    from latentworld.cli import main

    if latentworld.default_checkpoint("smax-3m") is None:
        pytest.fail("the smax-3m world model is not shipped in latentworld/checkpoints/")
    assert main(["quickstart", "--imag-steps", "2048", "--episodes", "8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["env_id"] == "smax-3m" and r["random_win_rate"] == 0.0 and r["eval_episodes"] == 8
    assert 0.0 <= r["win_rate"] <= 1.0 and r["imagined_steps"] == 2048 and r["seconds"] > 0
    assert main(["quickstart", "smax-8m", "--imag-steps", "64", "--episodes", "2"]) == 2
    assert "no world model is shipped for 'smax-8m'" in capsys.readouterr().err


def test_run_command_flags_are_the_loop_config():
    """`latentworld run` has a flag for every LoopConfig field, with the field's default."""
    from dataclasses import fields

    from latentworld.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "smax-3m", "--out", "x"])
    default = LoopConfig()
    for f in fields(LoopConfig):
        assert getattr(args, f.name) == getattr(default, f.name), f.name
    args = parser.parse_args(["run", "smax-2s3z", "--out", "x", "--imag-ratio", "0", "--no-trust",
                              "--doubt-quantile", "none", "--seed", "3"])
    from latentworld.config_flags import config_from_args

    cfg = config_from_args(LoopConfig, args)
    assert (cfg.env_id, cfg.imag_ratio, cfg.trust, cfg.doubt_quantile, cfg.seed) == ("smax-2s3z", 0.0, False, None, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "smax-3m", "--out", "x", "--imag-ratio", "lots"])


def test_oracle_iterations_run_in_an_uncounted_real_env(tmp_path):
    """The oracle diagnostic: imag_ratio extra iterations per round on a second real env, not
    counted in the budget, and no world model or dataset."""
    pytest.importorskip("jaxmarl")
    from latentworld.loop import LoopConfig, run

    with pytest.raises(ValueError, match="oracle_branch"):
        LoopConfig(oracle_branch=True)
    out = tmp_path / "oracle"
    summary = run(LoopConfig(env_id="smax-3m", env_steps=2048, oracle=True, imag_envs=8, test_every=0,
                             eval_episodes=0), out, progress=False, tensorboard=False)
    rows = [json.loads(x) for x in (out / "curve.jsonl").read_text().splitlines()]
    assert summary["env_steps"] == 2048 and [r["env_steps"] for r in rows] == [2048]  # real steps only
    assert rows[0]["imag_iterations"] == 2 and rows[0]["imagined_return"] is not None
    assert not (out / "data").exists() and not (out / "model").exists()
