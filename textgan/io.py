"""Atomic file writes: a temporary name in the same folder, fsync, rename; never half-written."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from textgan.errors import TextGanError

log = logging.getLogger(__name__)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _disk_error(path: Path, exc: OSError) -> TextGanError:
    reason = "the disk is full" if exc.errno == 28 else exc.strerror or str(exc)
    return TextGanError(f"could not write {path}: {reason}; free space or choose another --out")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary file path that replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise _disk_error(path, exc) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `path` (replacing it) only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        for child in tmp.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _disk_error(path, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_with(path: Path, writer: Callable[[Path], None]) -> None:
    """Call writer(tmp_path) and move the result to path atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


class FolderLockedError(TextGanError):
    """Another process holds the lock of a folder (a run being trained)."""


def refuse_file(path: Path, flag: str = "--out") -> None:
    """A folder path must not name an existing file (it would be lost or fail mid-way)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TextGanError(f"{flag} {path} is an existing file, not a folder; pass a folder path (new or empty)")


@contextmanager
def folder_lock(folder: Path, name: str = ".lock") -> Iterator[Path]:
    """Hold an exclusive lock on `folder` while the block runs: `fcntl.flock` on `folder/name`,
    which holds the holder's pid. The kernel drops the lock when its process ends, so the lock
    of a killed process is taken over; the file itself stays (removing it would race)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_file = folder / name
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise FolderLockedError(
                f"{folder} is in use by another textgan process (pid {holder}); wait for it to end, "
                "stop it, or choose another --out"
            ) from None
        except (ImportError, OSError) as exc:  # no fcntl (Windows), or a file system without flock
            log.warning("cannot lock %s (%s); make sure no other training writes there", folder, exc)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield lock_file
    finally:
        os.close(fd)  # closing the descriptor releases the lock
