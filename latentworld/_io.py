"""Crash-safe file writes shared by datasets, checkpoints and policies; one writer per directory."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

LOCK_NAME = ".writer.lock"


class DirectoryBusy(RuntimeError):
    """Another process holds the writer lock of a directory."""


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike, what: str = "output directory") -> Iterator[Path]:
    """Hold the one-writer lock of directory ``path`` (created if missing) while the block runs.

    An OS lock (``flock`` on ``path/.writer.lock``): it goes with the process, also when the
    process is killed, so a rerun after a crash resumes. A second writer is refused at once
    with :class:`DirectoryBusy`, naming the directory and the process holding it."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise DirectoryBusy(f"{root} is in use: another latentworld process (pid {holder}) is writing this "
                                f"{what}; wait for it to finish, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield root
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def no_space(exc: BaseException) -> OSError | None:
    """The "no space left on device" error behind ``exc`` (itself, its cause or its context), or None."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _with_path(e: OSError, path: Path) -> OSError:
    """``e`` with ``path`` named, where the write did not name it (a write to a descriptor)."""
    if e.filename is None and e.errno is not None:
        return type(e)(e.errno, os.strerror(e.errno), str(path))
    return e


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


def atomic_write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    """Write under a temporary name in the same folder, fsync, then rename into place:
    readers see the old file or the whole new one, never a torn one. ``sync=False`` skips the
    fsyncs (the rename still makes the file all-or-nothing for readers; a power loss may lose
    it): for writers that sync many files at once."""
    try:
        fd, tmp = open_temp(path.parent)
    except OSError as e:
        raise _with_path(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _with_path(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)


def content_name(stem: str, data: bytes, suffix: str = ".safetensors") -> tuple[str, str]:
    """(file name carrying the content's digest, full SHA-256): ``stem.<16 hex>.suffix``. A save
    writes such files beside the old ones, then one JSON naming them (the commit), then removes
    the old ones: a save that fails or is killed at any point leaves the previous set whole."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{stem}.{digest[:16]}{suffix}", digest


@contextlib.contextmanager
def new_files() -> Iterator[list[Path]]:
    """A list to record the files a save writes before its commit; if the block fails, they are
    removed (on a full disk the space goes back, and no orphan outlives the failed save)."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise


def remove_unnamed(root: Path, keep: Iterable[str], suffixes: tuple[str, ...]) -> None:
    """Delete the files of ``root`` ending in ``suffixes`` that are not in ``keep`` (the set an
    older save committed, now replaced)."""
    keep = set(keep)
    for p in root.iterdir():
        if p.name.endswith(suffixes) and p.name not in keep and p.is_file():
            p.unlink(missing_ok=True)
