"""Writing files so that a kill at any moment leaves no partial file under a final name.

Every output is written to a temporary name in the destination folder and
renamed into place (``os.replace`` is atomic within one filesystem).  Temporary
names carry one suffix, so a rerun can tell our leftovers from the user's files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import IO, Iterator, Optional

from .errors import DatasetError

TEMP_SUFFIX = ".sdds-part"
WRITE_PROBE = "write-check"  # the empty file that proves a folder writable, gone at once


def temp_path_for(final: Path) -> Path:
    """A fresh temporary name beside ``final`` (hidden, unique, our suffix)."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


@contextlib.contextmanager
def atomic_open(final: Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``final``; on success it replaces ``final``.

    On any exception the temporary file is removed and ``final`` is untouched.
    """
    tmp = temp_path_for(final)
    encoding = None if "b" in mode else "utf-8"
    newline = None if "b" in mode else "\n"
    try:
        with open(tmp, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(final: Path, data: bytes) -> None:
    with atomic_open(final, "wb") as fh:
        fh.write(data)


def atomic_write_text(final: Path, text: str) -> None:
    with atomic_open(final, "w") as fh:
        fh.write(text)


def read_text_or_none(path: Path) -> Optional[str]:
    """The file's UTF-8 text, or None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_text_if_changed(final: Path, text: str) -> int:
    """Write ``text`` atomically unless ``final`` already holds it (a rerun leaves the file untouched); 1 if
    written."""
    if read_text_or_none(final) == text:
        return 0
    atomic_write_text(final, text)
    return 1


def remove_stale_temps(folder: Path) -> int:
    """Delete temporary files a killed run left in ``folder``; returns how many."""
    removed = 0
    for entry in folder.glob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed += 1
    return removed


def ensure_writable_dir(folder: Path) -> Path:
    """Create ``folder`` if needed and prove we can write into it, or raise one clear sentence."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"{folder} is a file, not a folder; choose a folder for the output.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = temp_path_for(folder / WRITE_PROBE)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DatasetError(f"Cannot write to {folder} ({reason.lower()}); choose a folder you can write to.") from None
    return folder


def link_leaves(path: Path, real_root: Path) -> bool:
    """True when ``path`` is a symbolic link whose target lies outside ``real_root`` (a resolved folder).

    Steps that read a source folder skip such links: a folder handed to the tool
    must not make it read, copy or publish files from elsewhere.  Links that stay
    inside the folder are followed like the files they point to.
    """
    if not os.path.islink(path):
        return False
    try:
        target = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):  # dangling or looping: nothing inside to read
        return True
    return target != real_root and real_root not in target.parents


LINK_OUTSIDE = "it is a link to a file outside the source folder, which is never followed"


def md5_of_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
