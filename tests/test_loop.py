"""The MABL loop, its model-free baseline, and the policy commands, on real smax-3m (tiny budgets)."""

from __future__ import annotations

import json
import math

import pytest

from latentworld.loop import LoopConfig, run

pytest.importorskip("jaxmarl")

TINY = dict(env_id="smax-3m", warmup_episodes=16, collect_episodes=16, real_envs=16, model_steps_first=8,
            model_seqs_per_step=0.25, imag_per_step=2.0, imag_envs=32, horizon=5, start_episodes=4,
            test_every=300, test_episodes=4, eval_episodes=8)


def _rows(out):
    return [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]


def test_mabl_loop_logs_curve_and_resumes(tmp_path):
    cfg = LoopConfig(env_steps=700, **TINY)
    res = run(cfg, tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    assert rows[0]["iteration"] == 0 and rows[0]["win_rate"] == 0.0  # random warm-up
    assert len(rows) >= 3 and res["env_steps"] == rows[-1]["env_steps"] >= 700
    steps = [r["env_steps"] for r in rows]
    # only the last iteration may be short of collect_episodes, and it ends the budget
    assert all(r["episodes"] == 16 for r in rows[:-1]) and rows[-2]["env_steps"] < 700 <= rows[-1]["env_steps"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert all(r["model_loss"] > 0 and r["imagined_return"] is not None and r["entropy"] > 0 for r in rows[1:])
    # the relative uncertainty penalty is re-measured every round on the model of the round
    penalties = [r["penalty"] for r in rows[1:]]
    assert all(p > 0 and math.isfinite(p) for p in penalties) and len(set(penalties)) > 1
    # one world model trained on throughout: its step count grows with the real steps, by the ratio
    model_steps = [r["model_steps"] for r in rows[1:]]
    assert model_steps == sorted(model_steps) and model_steps[-1] > 8
    # (a round trains on the steps collected in the round before, then collects and logs)
    new = rows[-2]["env_steps"] - rows[-3]["env_steps"]
    assert model_steps[-1] - model_steps[-2] == round(0.25 * new / 16)
    # a greedy test each time the run crosses a multiple of test_every, not counted in the budget
    tested = [r["env_steps"] for r in rows if "test_win_rate" in r]
    assert [t // 300 for t in tested] == sorted(set(s // 300 for s in steps[1:] if s >= 300))
    assert all(0.0 <= r["test_win_rate"] <= 1.0 and r["model_eval_loss"] > 0 for r in rows if "test_win_rate" in r)
    # each round's wall time split by phase: the phases it ran, inside the time between rows
    for a, b in zip(rows, rows[1:]):
        phases = {k for k in b if k.startswith("seconds_")}
        assert phases == {"seconds_model", "seconds_imagine", "seconds_collect"} | (
            {"seconds_test"} if "test_win_rate" in b else set())
        assert all(b[k] > 0 for k in phases) and sum(b[k] for k in phases) <= b["seconds"] - a["seconds"] + 0.05
    # one policy for the whole run: it has trained on every round's imagined steps
    policy_steps = json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())["env_steps"]
    assert policy_steps >= 2.0 * res["env_steps"]
    # greedy test episodes of the final policy, outside the budget
    assert res["eval_episodes"] == 8 and 0.0 <= res["eval_win_rate"] <= 1.0 and res["eval_return"] > -1
    for f in ("curve.csv", "curve.png", "summary.json", "model/meta.json", "policy/policy.json", "data/meta.json"):
        assert (tmp_path / "run" / f).exists(), f
    assert (tmp_path / "run" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # a finished run resumes to its summary without doing anything
    assert run(cfg, tmp_path / "run", progress=False) == json.loads((tmp_path / "run" / "summary.json").read_text())
    assert len(_rows(tmp_path / "run")) == len(rows)
    with pytest.raises(ValueError, match="other settings.*seed"):
        run(LoopConfig(env_steps=700, **{**TINY, "seed": 3}), tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="other settings.*env_steps"):
        run(LoopConfig(env_steps=500, **TINY), tmp_path / "run", progress=False)
    # a run stored before relative_penalty existed ran without it: it resumes only with 0
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({k: v for k, v in stored.items() if k != "relative_penalty"}))
    with pytest.raises(ValueError, match="other settings.*relative_penalty"):
        run(LoopConfig(env_steps=700, **TINY), old, progress=False)
    # a larger budget extends the finished run from where it stopped, with the same model and policy
    more = run(LoopConfig(env_steps=rows[-1]["env_steps"] + 200, **TINY), tmp_path / "run", progress=False)
    grown = _rows(tmp_path / "run")
    assert grown[: len(rows)] == rows and len(grown) > len(rows) and more["env_steps"] > res["env_steps"]
    assert grown[-1]["model_steps"] > model_steps[-1]
    assert json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())["env_steps"] > policy_steps


def test_model_free_baseline(tmp_path):
    res = run(LoopConfig(env_steps=2000, model_free=True, algo="vdn", **TINY), tmp_path / "mf", progress=False)
    rows = _rows(tmp_path / "mf")
    # the steps the learner really took (it steps whole vector steps), not the ones asked for
    policy = json.loads((tmp_path / "mf" / "policy" / "policy.json").read_text())
    assert res["env_steps"] == rows[-1]["env_steps"] == policy["env_steps"] and 2000 <= res["env_steps"] < 2400
    # a greedy test at the first chunk past each multiple of test_every, as in the MABL loop
    tested = [r["env_steps"] for r in rows if "test_win_rate" in r]
    assert [t // 300 for t in tested] == sorted({r["env_steps"] // 300 for r in rows})
    assert res["eval_episodes"] == 8 and 0.0 <= res["eval_win_rate"] <= 1.0
    assert (tmp_path / "mf" / "policy" / "policy.json").exists()
    # another seed is another run (weights, exploration and env randomness all follow it)
    run(LoopConfig(env_steps=2000, model_free=True, algo="vdn", **{**TINY, "seed": 1}), tmp_path / "mf1",
        progress=False)
    assert _rows(tmp_path / "mf1")[-1]["return"] != rows[-1]["return"]


def test_epsilon_greedy_collection(tmp_path):
    """``collect_epsilon`` swaps the sampled collection policy for a greedy one with random actions."""
    runs = {}
    for eps in (None, 0.1):
        runs[eps] = run(LoopConfig(env_steps=400, collect_epsilon=eps, **{**TINY, "eval_episodes": 0}),
                        tmp_path / str(eps), progress=False)
        assert json.loads((tmp_path / str(eps) / "config.json").read_text())["collect_epsilon"] == eps
    rows = {eps: _rows(tmp_path / str(eps)) for eps in runs}
    assert rows[None][0]["return"] == rows[0.1][0]["return"]  # the same random warm-up
    assert rows[None][1]["return"] != rows[0.1][1]["return"]  # then another collection policy


def test_policy_input_decoded_by_default_or_latent(tmp_path):
    """The default policy reads observations (predicted in imagination, real when deployed): it
    has the real env's observation size and plays without the world model. ``policy_obs="latent"``
    reads the model's agent features instead and plays through the model's encoder."""
    from latentworld.model import WorldModelConfig

    runs = {}
    for kind in ("decoded", "latent"):
        cfg = LoopConfig(env_steps=400, **{**TINY, "eval_episodes": 4, "test_every": 0}, policy_obs=kind)
        runs[kind] = run(cfg, tmp_path / kind, progress=False)
        assert runs[kind]["eval_episodes"] == 4 and 0.0 <= runs[kind]["eval_win_rate"] <= 1.0
        assert not any("test_win_rate" in r for r in _rows(tmp_path / kind))  # test_every=0: no tests
    assert LoopConfig().policy_obs == "decoded"
    dims = {k: json.loads((tmp_path / k / "policy" / "policy.json").read_text())["dims"]["obs_dim"] for k in runs}
    assert dims == {"decoded": 75, "latent": WorldModelConfig().feature_size}  # smax-3m obs; [h^a, z^a]


@pytest.mark.parametrize("policy_obs", ["decoded", "latent"])
def test_real_updates_train_the_policy_on_the_collected_episodes(tmp_path, policy_obs):
    """``real_updates``: after each collection, one PPO update on the real episodes just played;
    the policy has then learned from every real step as well as from imagination."""
    cfg = LoopConfig(env_steps=700, real_updates=True, policy_obs=policy_obs,
                     **{**TINY, "eval_episodes": 0, "test_every": 0})
    res = run(cfg, tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    trained = [r for r in rows[1:] if "real_value_loss" in r]
    assert len(trained) == len(rows) - 1 >= 2  # every collection after the warm-up
    assert all(r["real_value_loss"] >= 0 and abs(r["real_approx_kl"]) < 1.0 for r in trained)
    # the policy's step count: every imagined rollout (E x T = 32 x 32 per MAPPO iteration, for
    # imag_per_step = 2 per new real step) plus every real step collected after the warm-up
    new_steps = [rows[0]["env_steps"]] + [b["env_steps"] - a["env_steps"] for a, b in zip(rows, rows[1:])]
    imagined = sum(math.ceil(max(int(2.0 * n), 1) / 1024) * 1024 for n in new_steps)
    policy = json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())
    assert policy["env_steps"] == imagined + res["env_steps"] - rows[0]["env_steps"]


def test_bad_loop_settings():
    with pytest.raises(ValueError, match="real_updates"):
        LoopConfig(real_updates=True, algo="qmix")
    with pytest.raises(ValueError, match="real_updates"):
        LoopConfig(real_updates=True, collect_epsilon=0.1)
    with pytest.raises(ValueError, match="algo"):
        LoopConfig(algo="dqn")
    with pytest.raises(ValueError, match="dual_buffer is for mappo"):
        LoopConfig(dual_buffer=4, algo="vdn")
    with pytest.raises(ValueError, match="obs_fusion"):
        LoopConfig(obs_fusion=True, policy_obs="latent")
    with pytest.raises(ValueError, match="reward_trend"):
        LoopConfig(reward_trend=-1.0)
    with pytest.raises(ValueError, match="relative_penalty must be >= 0"):
        LoopConfig(relative_penalty=-0.1)
    from latentworld.loop import model_config

    mc = model_config(LoopConfig(obs_fusion=True, reward_trend=2.0, reward_scale=3.0))
    assert mc.obs_fusion and mc.reward_trend == 2.0 and mc.reward_scale == 3.0
    with pytest.raises(ValueError, match="model size"):
        LoopConfig(model_size="huge")
    with pytest.raises(ValueError, match="collect_epsilon"):
        LoopConfig(collect_epsilon=-0.1)
    with pytest.raises(ValueError, match="collect_epsilon is for the MABL loop"):
        LoopConfig(collect_epsilon=0.1, model_free=True)
    with pytest.raises(ValueError, match="model_seqs_per_step must be >= 0"):
        LoopConfig(model_seqs_per_step=-1)
    with pytest.raises(ValueError, match="policy_obs"):
        LoopConfig(policy_obs="pixels")
    with pytest.raises(ValueError, match="collect_episodes must be >= 1"):
        LoopConfig(collect_episodes=0)


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

    res = run(LoopConfig(env_steps=400, algo=algo, **{**TINY, "eval_episodes": 4}), tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "policy" / "policy.json").read_text())
    assert meta["algo"] == algo and meta["env_steps"] >= 2.0 * res["env_steps"]  # one policy, all rounds
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


def test_run_command_defaults_are_the_loop_defaults():
    """`latentworld run` without options runs exactly LoopConfig's defaults (variant `mabl`)."""
    from dataclasses import fields

    from latentworld.cli import build_parser

    args = build_parser().parse_args(["run", "smax-3m", "--out", "x"])
    flag = {"model_seqs_per_step": "model_ratio", "imag_per_step": "imag_ratio", "single_level": "single_level",
            "model_size": "size"}
    default = LoopConfig()
    checked = 0
    for f in fields(LoopConfig):
        name = flag.get(f.name, f.name)
        if hasattr(args, name):
            assert getattr(args, name) == getattr(default, f.name), f.name
            checked += 1
    assert checked >= 12
