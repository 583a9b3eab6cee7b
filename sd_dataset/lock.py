"""One run per output folder: the operating system's lock on a small file that names the run.

``folder_lock(folder, step)`` opens ``<folder>/.sd_dataset.lock`` and holds an
exclusive lock on it for the run's life: ``flock`` on POSIX, ``msvcrt.locking``
on Windows.  The operating system drops the lock when the process ends, however
it ends (SIGKILL included), so only the lock decides who runs: a file left by a
killed run, an empty file left by a full disk, a garbled or edited one, keeps no
run out and lets no second one in.  What the file holds (pid, start, step, host)
is information only, for the sentence a second run refuses with.

A run removes the file when it ends (on POSIX while still holding the lock, so a
run that opened the old file meanwhile sees that it is gone and opens the new
one), so the trainer's folder holds none of ours afterwards; the name starts with
a dot, so every step's file listing skips it.  A lock file that cannot be written
(a full disk) is removed again before the one-sentence error.

The lock holds between processes and between runs of one process (each run opens
the file anew).  On a network folder it holds as far as the file system passes
locks on (NFS does; some SMB mounts lock only per computer).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import DatasetError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_NAME = ".sd_dataset.lock"
MAX_INFO_BYTES = 4096  # the run's description is under 200 bytes: anything longer is not ours
# A run that just took the lock writes its description at once; a second run reading in between waits this
# long for it before naming the holder "another run"
_INFO_WAIT = 0.5
_OPEN_TRIES = 20  # each retry means another run removed the file between our open and our lock
# Windows locks byte ranges, and a locked byte cannot be read by others: lock one far past the description
_WINDOWS_LOCK_OFFSET = 1 << 30


class FolderBusy(DatasetError):
    """Another live run holds the folder's lock."""


@dataclass
class HeldLock:
    """A lock this process holds: the open file the operating system's lock is on, and what it says."""

    path: Path
    fd: int
    info: dict


def lock_path(folder: Path) -> Path:
    return Path(folder) / LOCK_NAME


def describe(info: dict) -> str:
    step = info.get("step") or "run"
    started = info.get("started") or "an unknown time"
    host = info.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"{step} (pid {info.get('pid')}{where}, started {started})"


def _busy(folder: Path, info: dict) -> FolderBusy:
    named = f", {describe(info)}," if info.get("pid") else ""  # a run that has not written its description yet
    return FolderBusy(f"Another sd_dataset run{named} is using {folder}; wait for it to finish or stop it, then run "
                      f"again.")


def _try_lock(fd: int) -> bool:
    """Take the operating system's lock on ``fd`` without waiting; False when another open file holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):  # flock says EWOULDBLOCK, msvcrt EACCES
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (the run we waited for removes it as it ends)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (opened.st_dev, opened.st_ino)


def _read_info(fd: int) -> dict:
    """The description the holder wrote, ``{}`` while it is not there yet or is not ours."""
    deadline = time.monotonic() + _INFO_WAIT
    while True:
        try:
            data = json.loads(os.pread(fd, MAX_INFO_BYTES + 1, 0) if hasattr(os, "pread") else _read_start(fd))
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return {}
        time.sleep(0.05)


def _read_start(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, MAX_INFO_BYTES + 1)


def _write_info(fd: int, info: dict) -> None:
    data = json.dumps(info).encode("utf-8")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    while data:
        data = data[os.write(fd, data):]
    os.fsync(fd)


def _cannot(path: Path, exc: OSError, advice: str) -> DatasetError:
    return DatasetError(f"Cannot write the lock file {path} ({(exc.strerror or str(exc)).lower()}); {advice}.")


def _open(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0), 0o644)
    except OSError as exc:
        raise _cannot(path, exc, "choose a folder you can write to") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DatasetError(f"{path} is not a file sd_dataset wrote (it is a folder, FIFO or device); remove it, then "
                           f"run again.")
    return fd


def acquire(folder: Path, step: str) -> HeldLock:
    """Take ``folder``'s lock for ``step`` or raise :class:`FolderBusy` naming the run that holds it."""
    folder = Path(folder)
    path = lock_path(folder)
    info = {"pid": os.getpid(), "step": step, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "host": socket.gethostname()}
    for _ in range(_OPEN_TRIES):
        fd = _open(path)
        try:
            if not _try_lock(fd):
                raise _busy(folder, _read_info(fd))
            if not _same_file(fd, path):
                os.close(fd)  # the run we waited for removed it as it ended: the next open finds the current one
                continue
            try:
                _write_info(fd, info)
            except OSError as exc:
                with contextlib.suppress(OSError):  # ours alone while we hold the lock: none is left saying nothing
                    path.unlink()
                raise _cannot(path, exc, "free some space on its disk, then run again") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return HeldLock(path, fd, info)
    raise FolderBusy(f"Could not take the lock {path}, which other runs keep changing; wait for them to finish, "
                     f"then run again.")


def release(held: HeldLock) -> None:
    """Remove the lock file, then let the operating system's lock go."""
    try:
        if fcntl is not None and _same_file(held.fd, held.path):
            held.path.unlink()
    finally:
        os.close(held.fd)
    if fcntl is None:  # Windows removes no file another process has open: try once the lock is gone
        with contextlib.suppress(OSError):
            held.path.unlink()


@contextlib.contextmanager
def folder_lock(folder: Path, step: str) -> Iterator[dict]:
    """Hold ``folder``'s lock for the ``with`` block; the folder must exist.  Yields what the lock file says."""
    held = acquire(folder, step)
    try:
        yield held.info
    finally:
        release(held)
