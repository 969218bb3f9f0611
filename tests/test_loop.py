"""The MABL loop, its model-free baseline, and the policy commands, on real smax-3m (tiny budgets)."""

from __future__ import annotations

import json

import pytest

from latentworld.loop import LoopConfig, run

pytest.importorskip("jaxmarl")

TINY = dict(env_id="smax-3m", warmup_episodes=16, collect_episodes=16, real_envs=16, model_steps_first=8,
            model_steps=4, imag_steps=1024, imag_envs=32, horizon=5,
            eval_episodes=8)


def _rows(out):
    return [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]


def test_mabl_loop_logs_curve_and_resumes(tmp_path):
    cfg = LoopConfig(env_steps=700, **TINY)
    res = run(cfg, tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    assert rows[0]["iteration"] == 0 and rows[0]["win_rate"] == 0.0  # random warm-up
    assert len(rows) >= 2 and res["env_steps"] == rows[-1]["env_steps"] >= 700
    steps = [r["env_steps"] for r in rows]
    # only the last iteration may be short of collect_episodes, and it ends the budget
    assert all(r["episodes"] == 16 for r in rows[:-1]) and rows[-2]["env_steps"] < 700 <= rows[-1]["env_steps"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert all(r["model_loss"] > 0 and r["imagined_return"] is not None for r in rows[1:])
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
    # a larger budget extends the finished run from where it stopped
    more = run(LoopConfig(env_steps=rows[-1]["env_steps"] + 200, **TINY), tmp_path / "run", progress=False)
    grown = _rows(tmp_path / "run")
    assert grown[: len(rows)] == rows and len(grown) > len(rows) and more["env_steps"] > res["env_steps"]


def test_model_free_baseline(tmp_path):
    res = run(LoopConfig(env_steps=2000, model_free=True, algo="vdn", **TINY), tmp_path / "mf", progress=False)
    rows = _rows(tmp_path / "mf")
    assert res["env_steps"] == 2000 and rows[-1]["env_steps"] == 2000 and len(rows) == 2
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


def test_bad_loop_settings():
    with pytest.raises(ValueError, match="algo"):
        LoopConfig(algo="dqn")
    with pytest.raises(ValueError, match="model size"):
        LoopConfig(model_size="huge")
    with pytest.raises(ValueError, match="collect_epsilon"):
        LoopConfig(collect_epsilon=-0.1)
    with pytest.raises(ValueError, match="collect_epsilon is for the MABL loop"):
        LoopConfig(collect_epsilon=0.1, model_free=True)


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
