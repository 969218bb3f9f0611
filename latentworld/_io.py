"""Crash-safe file writes shared by datasets, checkpoints and policies."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename inside it) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    try:  # Linux: read it without changing it (setting it races with other threads)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def open_temp(folder: Path, suffix: str = "") -> tuple[int, str]:
    """``tempfile.mkstemp`` in ``folder``, with the mode a plain ``open()`` would give
    (0666 minus the umask): mkstemp makes 0600, which hid datasets and checkpoints from
    teammates and services reading them as other users."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write under a temporary name in the same folder, fsync, then rename into place:
    readers see the old file or the whole new one, never a torn one."""
    fd, tmp = open_temp(path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
