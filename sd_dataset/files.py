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
import stat
from pathlib import Path
from typing import IO, BinaryIO, Iterable, Iterator, Optional

from .errors import DatasetError

TEMP_SUFFIX = ".sdds-part"
WRITE_PROBE = "write-check"  # the empty file that proves a folder writable, gone at once
# The most a caption, sidecar or settings file is read for.  Honest ones hold a few KiB
# (a booru post's JSON with all its tags is under 100 KiB); a larger one is a mistake
# (a log or a video saved under the name) and is refused rather than held in memory.
MAX_TEXT_BYTES = 4 * 1024 * 1024


def temp_path_for(final: Path) -> Path:
    """A fresh temporary name beside ``final`` (hidden, unique, our suffix)."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


# how many bytes longer than its final name a temporary name is: a final name must leave this room
TEMP_NAME_EXTRA = len(temp_path_for(Path("x")).name) - 1


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


def read_text_or_none(path: Path, limit: int = MAX_TEXT_BYTES) -> Optional[str]:
    """The file's UTF-8 text, or None when it is missing, unreadable, not a regular file or over ``limit`` bytes."""
    try:
        with open_checked(path) as fh:
            text = read_at_most(fh, limit).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # the newline handling of Path.read_text


def write_text_if_changed(final: Path, text: str) -> int:
    """Write ``text`` atomically unless ``final`` already holds it (a rerun leaves the file untouched); 1 if
    written."""
    # a file longer than the text cannot hold it, so nothing past that length is worth reading
    if read_text_or_none(final, len(text.encode("utf-8"))) == text:
        return 0
    atomic_write_text(final, text)
    return 1


def write_record(final: Path, text: str) -> int:
    """:func:`write_text_if_changed` for a step's own record (tag's manifest and ``tags.csv``, augment's settings),
    with a write the disk refuses as one sentence; the file it was to replace stays whole, and no part is left."""
    try:
        return write_text_if_changed(final, text)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise DatasetError(f"Cannot write {final} ({reason}); free some space on its disk (or fix its permissions) "
                           f"and run again, which keeps what this run wrote and finishes the rest.") from None


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
NOT_REGULAR = "it is not a regular file (a FIFO, socket, device or folder), which is never read"
REPLACED = "it was replaced while being read; run again to read it"


class Refused(OSError):
    """A file of a folder that is not read; ``str()`` is the reason for the report.

    An ``OSError`` so that any step's "could not read this file" handling reports it
    as one file's problem instead of stopping the batch.
    """


def check_file(path: Path, real_root: Optional[Path] = None) -> os.stat_result:
    """The stat of ``path`` when it is a regular file (inside the folder ``real_root``, a resolved path, when given).

    Otherwise :class:`Refused`, decided from metadata alone, because opening is what
    hangs (a FIFO waits for a writer) or never ends (a device).  A link that stays
    inside is followed.  Raises ``FileNotFoundError`` when nothing is there, a
    dangling link included: no file, so nothing to refuse.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:  # a looping link, a folder we may not enter
        raise Refused(f"it cannot be looked at ({exc.strerror or exc})") from None
    if real_root is not None and link_leaves(path, real_root):
        raise Refused(LINK_OUTSIDE)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(NOT_REGULAR)
    return st


def split_refused(paths: Iterable[Path], real_root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """``paths`` that are regular files inside ``real_root``, and the others with why; vanished ones are dropped."""
    kept, refused = [], []
    for path in paths:
        try:
            check_file(path, real_root)
        except FileNotFoundError:
            continue
        except Refused as exc:
            refused.append((path, str(exc)))
        else:
            kept.append(path)
    return kept, refused


@contextlib.contextmanager
def open_checked(path: Path, real_root: Optional[Path] = None) -> Iterator[BinaryIO]:
    """``path`` opened for reading in binary once :func:`check_file` accepts it.

    The file opened must be the file checked: O_NONBLOCK makes opening a FIFO that
    took its place in between return at once instead of waiting for a writer, and the
    device and inode comparison then refuses it, or a link swapped in.
    """
    checked = check_file(path, real_root)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as fh:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (checked.st_dev, checked.st_ino):
            raise Refused(REPLACED)
        yield fh


def read_at_most(fh: BinaryIO, limit: int) -> bytes:
    """All of ``fh`` when it holds at most ``limit`` bytes, else :class:`Refused`; never reads more than one past it."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"it is larger than {limit:,} bytes, more than such a file honestly holds, so it is not read")
    return data


def read_inside(path: Path, real_root: Path, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of ``path``, a regular file inside the folder ``real_root`` of at most ``limit`` bytes.

    Raises ``FileNotFoundError`` when it is not there and :class:`Refused` when it is
    not such a file: the one way the steps and the preview read a caption or sidecar.
    """
    with open_checked(path, real_root) as fh:
        return read_at_most(fh, limit)


def md5_of_file(path: Path) -> str:
    digest = hashlib.md5()
    with open_checked(path) as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
