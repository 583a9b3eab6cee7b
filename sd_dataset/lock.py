"""One run per output folder: a small lock file that a second run reads and names.

``folder_lock(folder, step)`` creates ``<folder>/.sd_dataset.lock`` atomically
(``O_CREAT | O_EXCL``) holding the run's pid, start time, step and a random
token, and removes it when the run ends, however it ends short of a kill.  A
second run that finds the file refuses with one sentence naming the first; a
lock left by a run that no longer exists (its pid is gone, or the pid now
belongs to a process that started later) is taken over.

The name starts with a dot, so every step's file listing skips it, and it does
not outlive a run, so the trainer's folder holds none of ours afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Iterator, Optional

from .errors import DatasetError

LOCK_NAME = ".sd_dataset.lock"
_READ_TRIES = 20  # a lock just created may not hold its text yet: look again for up to a second


class FolderBusy(DatasetError):
    """Another live run holds the folder's lock."""


def lock_path(folder: Path) -> Path:
    return Path(folder) / LOCK_NAME


def _process_start(pid: int) -> Optional[str]:
    """When ``pid`` started, in the kernel's clock ticks since boot (Linux), to tell a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(info: dict) -> bool:
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if info.get("host") not in (None, socket.gethostname()):
        return True  # a run on another computer sharing the folder: we cannot tell, so it counts as alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists but belongs to someone else
    except OSError:
        return True
    recorded, now = info.get("proc_start"), _process_start(pid)
    return not (recorded and now and recorded != now)


def _read(path: Path) -> Optional[dict]:
    """The lock's content; None when there is no lock; ``{}`` when it is unreadable for a second."""
    for _ in range(_READ_TRIES):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:
            text = ""
        try:
            data = json.loads(text)
            if isinstance(data, dict):
                return data
        except ValueError:
            pass
        time.sleep(0.05)
    return {}


def describe(info: dict) -> str:
    step = info.get("step") or "run"
    started = info.get("started") or "an unknown time"
    host = info.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"{step} (pid {info.get('pid', '?')}{where}, started {started})"


def _create(path: Path, info: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _take_over(path: Path, stale: dict) -> None:
    """Move a dead run's lock aside, unless someone replaced it meanwhile."""
    aside = path.with_name(f"{LOCK_NAME}.{secrets.token_hex(4)}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    moved = _read(aside) or {}
    if stale and moved.get("token") != stale.get("token"):
        os.replace(aside, path)  # a live run took it over first: put its lock back
        raise FolderBusy(f"Another sd_dataset run, {describe(moved)}, is using {path.parent}; wait for it to finish "
                         f"or stop it, then run again.")
    with contextlib.suppress(FileNotFoundError):
        aside.unlink()


def acquire(folder: Path, step: str) -> dict:
    """Take the folder's lock for ``step`` or raise :class:`FolderBusy`; returns what the lock holds."""
    path = lock_path(folder)
    info = {"pid": os.getpid(), "step": step, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "host": socket.gethostname(), "proc_start": _process_start(os.getpid()), "token": secrets.token_hex(8)}
    for _ in range(5):
        try:
            if _create(path, info):
                return info
        except OSError as exc:
            raise DatasetError(f"Cannot create the lock file {path} ({(exc.strerror or str(exc)).lower()}); choose "
                               f"a folder you can write to.") from None
        held = _read(path)
        if held is None:
            continue  # it went away meanwhile: try again
        if held and _alive(held):
            raise FolderBusy(f"Another sd_dataset run, {describe(held)}, is using {folder}; wait for it to finish or "
                             f"stop it, then run again.")
        _take_over(path, held)
    raise FolderBusy(f"Could not take the lock {path}, which other runs keep changing; wait for them to finish, "
                     f"then run again.")


def release(folder: Path, info: dict) -> None:
    """Remove the lock if it is still ours."""
    path = lock_path(folder)
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(held, dict) and held.get("token") == info.get("token"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def folder_lock(folder: Path, step: str) -> Iterator[dict]:
    """Hold ``folder``'s lock for the ``with`` block; the folder must exist."""
    info = acquire(folder, step)
    try:
        yield info
    finally:
        release(folder, info)
