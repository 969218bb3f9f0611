"""Faults a user meets, through the public commands: a second writer on one directory, a full
disk at every write of a save, and a kill right after a save followed by a resume."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from latentworld._io import writer_lock
from latentworld.cli import main

pytest.importorskip("jaxmarl")

class _FullFile:
    """A file on a full disk: every write fails as the OS fails it (ENOSPC, no file name)."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def _fails_on(calls: list[int], at: int, real):
    """``real`` (a write function) whose ``at``-th call (counted in ``calls``) runs on a full disk:
    the real function runs, and the file it opens refuses its bytes."""
    def write(*a, **kw):
        calls.append(1)
        if len(calls) != at:
            return real(*a, **kw)
        fdopen = os.fdopen
        os.fdopen = lambda *x, **k: _FullFile(fdopen(*x, **k))
        try:
            return real(*a, **kw)
        finally:
            os.fdopen = fdopen
    return write


def _one_error_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command", ["run", "train-model", "train-policy", "collect", "quickstart"])
def test_a_second_writer_is_refused_at_once(command, tiny_checkpoint, tmp_path, capsys):
    data = tiny_checkpoint.parent / "data"
    out = tmp_path / "out"
    argv = {"run": ["run", "smax-3m", "--model-free", "--env-steps", "512"],
            "train-model": ["train-model", "smax-3m", "--data", str(data), "--steps", "5"],
            "train-policy": ["train-policy", "smax-3m", "--model", str(tiny_checkpoint), "--steps", "64"],
            "collect": ["collect", "smax-3m", "--episodes", "2"],
            "quickstart": ["quickstart", "smax-3m", "--imag-steps", "64", "--episodes", "2"]}[command]
    with writer_lock(out):  # the first writer
        t0 = time.perf_counter()
        assert main([*argv, "--out", str(out)]) == 2
        assert time.perf_counter() - t0 < 5
    line = _one_error_line(capsys.readouterr().err)
    assert str(out) in line and "another latentworld process" in line and "--out" in line
    assert [p.name for p in out.iterdir()] == [".writer.lock"]  # nothing of the second writer


def test_the_lock_is_held_across_processes_and_goes_with_a_killed_one(tmp_path):
    out = tmp_path / "d"
    code = (f"import time\nfrom latentworld._io import writer_lock\nwith writer_lock({str(out)!r}):\n"
            f"    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        from latentworld._io import DirectoryBusy

        with pytest.raises(DirectoryBusy, match=f"pid {holder.pid}"):
            with writer_lock(out):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with writer_lock(out):  # the kill released it: a rerun goes on
        pass


def test_disk_full_during_collect_names_the_cause_and_keeps_what_was_written(tmp_path, capsys, monkeypatch):
    import latentworld.data.dataset as dataset
    from latentworld.data import EpisodeDataset

    out = tmp_path / "data"
    monkeypatch.setattr(dataset, "atomic_write_bytes", _fails_on([], 4, dataset.atomic_write_bytes))
    assert main(["collect", "smax-3m", "--episodes", "6", "--out", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on device writing" in line and str(out / "episodes" / "ep_") in line
    failed = int(line.split("ep_")[1][:7])  # the episode that met the full disk: those before it stay
    assert failed >= 2 and len(EpisodeDataset.open(out)) == failed and not list((out / "episodes").glob(".tmp-*"))
    monkeypatch.undo()  # space freed: the same command appends again
    assert main(["collect", "smax-3m", "--episodes", "2", "--out", str(out)]) == 0
    assert len(EpisodeDataset.open(out)) == failed + 2


def _train_model_argv(data, out):
    return ["train-model", "smax-3m", "--data", str(data), "--out", str(out), "--eval-every", "4",
            "--start-bank", "16", "--holdout-every", "4", "--deter", "32", "--hidden", "32", "--embed", "32",
            "--stoch", "8", "--classes", "8"]


@pytest.fixture(scope="module")
def first_save(tiny_checkpoint, tmp_path_factory):
    """A checkpoint after its first save (4 steps), copied by each test that breaks the next one."""
    out = tmp_path_factory.mktemp("first") / "ckpt"
    assert main([*_train_model_argv(tiny_checkpoint.parent / "data", out), "--steps", "4"]) == 0
    return out


@pytest.mark.parametrize("at", [1, 2, 3, 4])  # model, starts, optim, meta.json of the second save
def test_disk_full_at_any_point_of_a_checkpoint_save_keeps_the_previous_one(at, tiny_checkpoint, first_save, tmp_path,
                                                                           capsys, monkeypatch):
    import shutil

    import latentworld.model.checkpoint as checkpoint
    from latentworld.model import load_model
    from latentworld.model.checkpoint import read_meta, read_tensors

    data, out = tiny_checkpoint.parent / "data", tmp_path / "ckpt"
    shutil.copytree(first_save, out)
    argv = _train_model_argv(data, out)
    capsys.readouterr()
    monkeypatch.setattr(checkpoint, "atomic_write_bytes", _fails_on([], at, checkpoint.atomic_write_bytes))
    assert main([*argv, "--steps", "8"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on device writing" in line and str(out) in line
    meta = read_meta(out)  # the previous checkpoint, whole: every file there and agreeing with meta.json
    assert meta["train_steps"] == 4
    load_model(out)
    assert all(read_tensors(out, name, meta) is not None for name in ("optim", "starts"))
    assert {p.name for p in out.iterdir()} == {".writer.lock", "meta.json", *meta["file_names"].values()}
    monkeypatch.undo()
    assert main([*argv, "--steps", "8"]) == 0  # space freed: it resumes from step 4
    assert read_meta(out)["train_steps"] == 8 and [h["step"] for h in read_meta(out)["history"]] == [4, 8]


def test_disk_full_during_a_run_then_a_resume(tmp_path, capsys, monkeypatch):
    import latentworld.algos.policy as policy

    out = tmp_path / "run"
    argv = ["run", "smax-3m", "--model-free", "--env-steps", "512", "--real-envs", "8", "--test-every", "256",
            "--test-episodes", "2", "--eval-episodes", "0", "--out", str(out)]
    monkeypatch.setattr(policy, "atomic_write_bytes", _fails_on([], 2, policy.atomic_write_bytes))
    assert main(argv) == 2  # the policy.json of the first save
    line = _one_error_line(capsys.readouterr().err)
    assert "no space left on device writing" in line and str(out / "policy") in line
    monkeypatch.undo()
    assert main(argv) == 0
    steps = [json.loads(x)["env_steps"] for x in (out / "curve.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] >= 512


def test_a_run_killed_right_after_a_save_resumes_with_every_step_once(tmp_path):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "latentworld.cli", "run", "smax-3m", "--model-free", "--env-steps", "512",
            "--real-envs", "8", "--test-every", "256", "--test-episodes", "2", "--eval-episodes", "0",
            "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "policy" / "policy.json").exists():
            time.sleep(0.05)
        assert (out / "policy" / "policy.json").exists()
        os.kill(proc.pid, signal.SIGKILL)  # right after its first save
    finally:
        proc.kill()
        proc.wait()
    first = [json.loads(x)["env_steps"] for x in (out / "curve.jsonl").read_text().splitlines()] \
        if (out / "curve.jsonl").exists() else []
    assert main(argv[3:]) == 0
    steps = [json.loads(x)["env_steps"] for x in (out / "curve.jsonl").read_text().splitlines()]
    assert steps[:len(first)] == first and steps == sorted(set(steps)) and steps[-1] >= 512
