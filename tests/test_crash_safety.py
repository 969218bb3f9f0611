"""A collection killed with SIGKILL keeps every episode it finished, readable and valid."""

import os
import signal
import subprocess
import sys
import time

import pytest

from latentworld.data import EpisodeDataset, collect

pytest.importorskip("mpe2")


def test_sigkill_mid_collection_keeps_finished_episodes(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-m", "latentworld.cli", "collect", "mpe-simple_spread_v3",
         "--episodes", "100000", "--out", str(out), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            eps = out / "episodes"
            if eps.is_dir() and len([p for p in eps.iterdir() if p.name.startswith("ep_")]) >= 12:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("collector wrote no episodes in 120 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    ds = EpisodeDataset.open(out)
    n = len(ds)
    assert n >= 12
    for ep in ds:  # every finished episode intact
        ep.validate(ds.spec)
        assert ep.steps == 25
    # the dataset can be reopened and appended to; numbering continues
    collect("mpe-simple_spread_v3", out, 2, progress=False)
    ds = EpisodeDataset.open(out)
    assert len(ds) == n + 2
    assert not any(p.name.startswith(".tmp-") for p in (out / "episodes").iterdir())
