"""The `latentworld` command as a user runs it (subprocesses, real environments)."""

import json

import pytest
from conftest import run_cli


def test_list():
    out = run_cli("list").stdout.split()
    assert "smax-3m" in out and "mpe-simple_spread_v3" in out
    assert json.loads(run_cli("list", "--family", "flatland", "--json").stdout) == [
        "flatland-30x30-2c-2t", "flatland-30x30-3c-5t"]


@pytest.mark.parametrize("env_id,extra", [
    ("mpe-simple_spread_v3", []),
    ("smax-3m", []),
    ("smax-3m", ["--num-envs", "8"]),
    ("flatland-30x30-3c-5t", []),
])
def test_collect_json_summary_then_info(tmp_path, env_id, extra):
    pytest.importorskip({"mpe": "mpe2", "smax": "jaxmarl", "flatland": "flatland"}[env_id.split("-")[0]])
    out = tmp_path / "ds"
    proc = run_cli("collect", env_id, "--episodes", "5", "--out", str(out), "--json", "--seed", "3", *extra)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # stdout holds only the JSON summary
    summary = json.loads(lines[0])
    assert set(summary) == {"episodes", "steps", "mean_return", "win_rate", "steps_per_s", "path"}
    assert summary["episodes"] == 5 and summary["steps"] >= 5 and summary["steps_per_s"] > 0
    assert (summary["win_rate"] is None) == env_id.startswith("mpe")
    info = json.loads(run_cli("info", str(out), "--json").stdout)
    assert info["episodes"] == 5 and info["steps"] == summary["steps"]
    assert info["env_id"] == env_id
    assert info["mean_return"] == pytest.approx(summary["mean_return"], rel=1e-5)


def test_errors_exit_2_with_a_message(tmp_path):
    proc = run_cli("collect", "smax-3mm", "--episodes", "1", "--out", str(tmp_path / "x"), check=False)
    assert proc.returncode == 2 and "did you mean 'smax-3m'" in proc.stderr.lower()
    proc = run_cli("info", str(tmp_path), check=False)
    assert proc.returncode == 2 and "not a latentworld dataset" in proc.stderr
    proc = run_cli("collect", "mpe-simple_spread_v3", "--episodes", "1", "--out", str(tmp_path / "y"),
                   "--num-envs", "4", check=False)
    assert proc.returncode == 2 and "has no batched real env (only smax-* ids do); use num_envs=1" in proc.stderr


@pytest.mark.parametrize("command,configs", [
    ("run", ("latentworld.loop_config:LoopConfig",)),
    ("train-model", ("latentworld.model:TrainConfig", "latentworld.model:WorldModelConfig")),
])
def test_every_config_field_is_a_flag_with_its_default(command, configs):
    """The commands' flags are generated from the config dataclasses: every field appears in
    --help under its own name, with the dataclass default."""
    import dataclasses
    import importlib
    import re

    text = " ".join(run_cli(command, "--help").stdout.split())
    for path in configs:
        module, name = path.split(":")
        cls = getattr(importlib.import_module(module), name)
        for f in dataclasses.fields(cls):
            if f.name == "env_id":  # the positional argument
                continue
            flag = "--" + f.name.replace("_", "-")
            assert re.search(rf"{flag}\b", text), f"{cls.__name__}.{f.name}: no {flag} in `{command} --help`"
            if f.name not in ("seed", "device"):  # the flags every command shares
                assert f"(default: {f.default})" in text, f"{cls.__name__}.{f.name}"
