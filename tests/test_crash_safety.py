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


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    """Datasets and checkpoints are shared: their files get 0666 minus the umask, like open()."""
    import os
    import stat

    from latentworld._io import atomic_write_bytes

    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "meta.json", b"{}")
        mode = stat.S_IMODE((tmp_path / "meta.json").stat().st_mode)
        collect("mpe-simple_spread_v3", tmp_path / "data", 1, seed=0, progress=False)
        ep_modes = {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data" / "episodes").glob("ep_*.npz")}
    finally:
        os.umask(old)
    assert mode == 0o666 & ~umask and ep_modes == {0o666 & ~umask}
