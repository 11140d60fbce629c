"""File I/O of runs: atomic writes (a temporary name in the same folder, fsync, rename; never
half-written) through one guarded path that turns the file system's refusals into one-line
errors, the readers of a run's JSON files, and the checks every output path passes."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from safetensors import SafetensorError

from textgan.errors import CheckpointError, DataError, TextGanError

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


class WriteError(TextGanError):
    """The file system refused a write (full disk, read-only, no permission, a folder in the way)."""


def write_error(path: Path, exc: BaseException, fix: str = "choose another --out") -> WriteError:
    """The one-line error for a failed write of `path`: its cause (OSError or safetensors'
    SafetensorError, whose message is all it carries) and the fix."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "Disk quota" in text:
        return WriteError(f"could not write {path}: the disk is full; free space or {fix}")
    choose = fix.startswith("choose")  # "choose another --out": say where to
    if code == errno.EROFS or "Read-only file system" in text:
        return WriteError(f"could not write {path}: the file system is read-only; {fix}"
                          f"{' on a writable disk' if choose else ''}")
    if code in (errno.EACCES, errno.EPERM):
        return WriteError(f"could not write {path}: permission denied; {fix}"
                          f"{' in a folder you may write to' if choose else ''}")
    if code == errno.EISDIR:
        return WriteError(f"could not write {path}: it is a folder; pass a file path")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return WriteError(f"could not write {path}: a file stands where a folder is needed; {fix}")
    reason = getattr(exc, "strerror", None) or (text.splitlines()[0] if text else type(exc).__name__)
    return WriteError(f"could not write {path}: {reason}; {fix}")


@contextmanager
def guarded_write(path: Path, fix: str = "choose another --out") -> Iterator[None]:
    """Every write of textgan runs inside this: an OSError or SafetensorError raised by the
    block becomes a one-line `WriteError` naming `path` (a TextGanError passes unchanged)."""
    try:
        yield
    except TextGanError:
        raise
    except (OSError, SafetensorError) as exc:
        raise write_error(Path(path), exc, fix) from None


@contextmanager
def atomic_path(path: Path, fix: str = "choose another --out") -> Iterator[Path]:
    """Yield a temporary file path that replaces `path` only if the block succeeds."""
    path = Path(path)
    with guarded_write(path, fix):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
            yield tmp_path
            with open(tmp_path, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp_path, path)
            _fsync_dir(path.parent)
        except BaseException:
            _quietly(tmp_path.unlink, missing_ok=True)
            raise


def _quietly(cleanup: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run a cleanup step whose failure must not hide the error being reported."""
    try:
        cleanup(*args, **kwargs)
    except OSError as exc:
        log.debug("cleanup %s%s failed: %s", getattr(cleanup, "__name__", cleanup), args, exc)


def atomic_write_text(path: Path, text: str, fix: str = "choose another --out") -> None:
    """Write text (UTF-8) atomically; `fix` ends the error line of a write the disk refuses."""
    with atomic_path(path, fix) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `path` (replacing it) only if the block succeeds."""
    path = Path(path)
    with guarded_write(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            os.chmod(tmp, 0o777 & ~_umask())
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
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def write_with(path: Path, writer: Callable[[Path], None]) -> None:
    """Call writer(tmp_path) and move the result to path atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def append_line(path: Path, line: str) -> None:
    """Append one line to a log file (metrics.jsonl), through the guarded path."""
    path = Path(path)
    with guarded_write(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class FolderLockedError(TextGanError):
    """Another process holds the lock of a folder (a run being trained)."""


def check_path_name(path: str | Path, flag: str = "--out") -> Path:
    """An output path given by the user: not empty (that would be the current folder) and valid
    UTF-8 (a name that is not cannot be logged or written by every writer, TensorBoard's included)."""
    text = str(path)
    if not text.strip():
        raise TextGanError(f"{flag} is empty; pass a path, e.g. {flag} runs/mine")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text).decode("utf-8", "backslashreplace")
        raise TextGanError(f"{flag} {shown} is not valid UTF-8; choose a name in UTF-8") from None
    return Path(text)


def read_json(path: Path, fix: str) -> Any:
    """The JSON value of a file a run depends on (checkpoint.json, corpus.json, config.json...);
    a damaged one is a CheckpointError naming the file and `fix`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    except OSError as exc:
        problem = f"unreadable: {exc.strerror or exc}"
    raise CheckpointError(f"{path} is damaged ({problem}); {fix}")


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """`read_json` of a file that must hold one JSON object."""
    value = read_json(path, fix)
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} is damaged (a JSON {type(value).__name__}, not an object); {fix}")
    return value


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines log (none if the file does not exist). A last line that does not
    parse is what a kill during a write leaves: it is dropped with a warning. A bad line before
    it is a DataError naming the line."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; restore it or delete it") from None
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    records = []
    for position, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if position == len(numbered) - 1:
                log.warning("%s: the last line (%d) is incomplete, as a write cut off by a kill leaves it; "
                            "it was dropped", path, number)
                break
            raise DataError(f"{path}:{number} is not valid JSON; repair or delete that line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number} is not a JSON object; repair or delete that line")
        records.append(record)
    return records


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
    lock_file = folder / name
    with guarded_write(lock_file):
        folder.mkdir(parents=True, exist_ok=True)
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
        with guarded_write(lock_file):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield lock_file
    finally:
        os.close(fd)  # closing the descriptor releases the lock
