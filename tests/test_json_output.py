"""Every command's ``--json`` output is strict JSON: no NaN or Infinity, which ``jq``,
JavaScript and most other parsers refuse (Python's own ``json.loads`` would accept them)."""

from __future__ import annotations

import json
import math

import pytest

from latentworld import jsonutil
from latentworld.cli import main


def _strict(text: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _last_json(capsys) -> object:
    return _strict(capsys.readouterr().out.strip().splitlines()[-1])


def test_dumps_turns_non_finite_numbers_into_null():
    import numpy as np

    obj = {"a": float("nan"), "b": [1.0, float("inf"), -float("inf")], "c": np.float32("nan"), "d": 2.5, "e": "x"}
    assert _strict(jsonutil.dumps(obj)) == {"a": None, "b": [1.0, None, None], "c": None, "d": 2.5, "e": "x"}
    with pytest.raises(ValueError, match="not strict JSON: NaN"):
        _strict(json.dumps({"a": math.nan}))  # what the commands printed before


def test_every_json_command_prints_strict_json(tmp_path, capsys, tiny_checkpoint):
    pytest.importorskip("jaxmarl")
    ckpt, data = str(tiny_checkpoint), str(tmp_path / "data")
    assert main(["list", "--json"]) == 0 and "smax-3m" in _last_json(capsys)
    assert main(["list", "--models", "--json"]) == 0
    assert {m["env_id"] for m in _last_json(capsys)} >= {"smax-3m"}
    assert main(["collect", "smax-3m", "--episodes", "12", "--num-envs", "12", "--out", data, "--json"]) == 0
    assert _last_json(capsys)["episodes"] == 12
    assert main(["info", data, "--json"]) == 0 and _last_json(capsys)["episodes"] == 12
    out = str(tmp_path / "ckpt")
    args = ["train-model", "smax-3m", "--data", data, "--out", out, "--steps", "4", "--batch-size", "4",
            "--eval-every", "4", "--json"]
    assert main(args) == 0 and _last_json(capsys)["steps"] == 4
    # a finished checkpoint trains no more steps: its training loss is unknown, printed as null
    assert main(args) == 0 and _last_json(capsys)["train_loss"] is None
    assert main(["evaluate-model", "smax-3m", "--model", ckpt, "--data", data, "--json"]) == 0
    assert "gci" in _last_json(capsys)
    assert main(["train-policy", "smax-3m", "--model", ckpt, "--steps", "256", "--num-envs", "8",
                 "--out", str(tmp_path / "pol"), "--json"]) == 0
    assert _last_json(capsys)["imagined_steps"] == 256
    assert main(["evaluate", "smax-3m", "--policy", "random", "--episodes", "4", "--json"]) == 0
    assert _last_json(capsys)["episodes"] == 4
    assert main(["run", "smax-3m", "--env-steps", "256", "--real-envs", "8", "--model-free", "--test-every", "0",
                 "--eval-episodes", "2", "--out", str(tmp_path / "run"), "--json"]) == 0
    assert _last_json(capsys)["env_steps"] == 256
    for line in (tmp_path / "run" / "curve.jsonl").read_text().splitlines():  # files a user parses too
        _strict(line)
    _strict((tmp_path / "run" / "summary.json").read_text())
