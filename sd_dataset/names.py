"""Turning any text (tags, captions, user-entered names) into a file name that is legal everywhere.

A safe name has no path separators, no character Windows refuses (``<>:"/\\|?*`` and
control characters) nor any other of text.py's unsafe ones (bidi overrides, C1 controls), no
trailing dot or space, is not ``.``/``..`` or a reserved Windows device name, and fits in
``max_bytes`` bytes of UTF-8.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from .errors import DatasetError
from .files import TEMP_NAME_EXTRA
from .text import UNSAFE_CHARS

ILLEGAL_CHARS = '<>:"/\\|?*'
REPLACEMENT = "_"
_ILLEGAL_RE = re.compile(f"[{re.escape(ILLEGAL_CHARS)}{UNSAFE_CHARS}]")  # controls and bidi marks too
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                       *(f"lpt{i}" for i in range(1, 10))})
_EXT_RE = re.compile(r"\.[A-Za-z0-9]{1,10}$")


# the caps where os.pathconf cannot tell: 255 bytes a name (ext4, APFS; NTFS counts UTF-16 units, never more than
# UTF-8 bytes), and Windows' MAX_PATH of 260 characters with its terminating NUL
NAME_MAX = 255
WINDOWS_PATH_MAX = 260


def name_budget(folder: Path) -> int:
    """The most UTF-8 bytes a file name in ``folder`` may have so that it and its temporary name fit both the
    file system's name cap and the platform's path cap (the temporary name is ``TEMP_NAME_EXTRA`` longer)."""
    folder = Path(folder).resolve()
    name_max, path_max = NAME_MAX, WINDOWS_PATH_MAX
    if hasattr(os, "pathconf"):
        try:
            name_max = min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX"))
            path_max = os.pathconf(folder, "PC_PATH_MAX")
        except (OSError, ValueError):
            path_max = 4096  # Linux's PATH_MAX
    # the path and its separator come before the name; the cap counts the terminating NUL
    path_room = path_max - 1 - len(os.fsencode(folder)) - 1
    return min(name_max, path_room) - TEMP_NAME_EXTRA


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``max_bytes`` (never splits a character)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max(0, max_bytes)].decode("utf-8", errors="ignore")


def safe_filename(name: str, max_bytes: int = 240) -> str:
    """``name`` made into a legal, non-empty file name of at most ``max_bytes`` bytes of UTF-8.

    Illegal characters become ``_``; a short extension (``.png``) is kept when the
    name must be shortened.  Names that are already safe come back unchanged.
    """
    if max_bytes < 8:
        raise ValueError("max_bytes must be at least 8")
    text = _ILLEGAL_RE.sub(REPLACEMENT, str(name))
    text = text.rstrip(". ")
    if utf8_len(text) > max_bytes:
        match = _EXT_RE.search(text)
        ext = match.group(0) if match and match.start() > 0 else ""
        stem = text[:len(text) - len(ext)] if ext else text
        stem = cut_utf8(stem, max_bytes - utf8_len(ext)).rstrip(". ")
        text = stem + ext if stem else cut_utf8(text, max_bytes).rstrip(". ")
    if not text or text in (".", ".."):
        return REPLACEMENT
    if is_device_name(text):
        text = cut_utf8(REPLACEMENT + text, max_bytes).rstrip(". ")
    return text


def is_device_name(name: str) -> bool:
    """True when Windows takes ``name`` for a device (``con``, ``nul.png``, ``LPT1 .txt``)."""
    return name.split(".", 1)[0].rstrip(" ").lower() in _RESERVED


def is_safe_filename(name: str, max_bytes: int = 240) -> bool:
    """True when :func:`safe_filename` would leave ``name`` as it is."""
    try:
        return safe_filename(name, max_bytes) == name
    except ValueError:
        return False


def safe_user_name(name: str, max_bytes: int = 240) -> str:
    """A name the user typed (dataset, template, embedding…) as one safe file name, or one sentence why not.

    Unlike a caption, a typed name also loses leading dots and spaces (no hidden
    files), has its whitespace collapsed, and must keep a letter or digit.
    """
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(name))).strip(" .")
    result = safe_filename(text, max_bytes).lstrip(". ") if text else ""
    if not result.strip("_ ."):
        raise DatasetError(f'The name "{name}" has no characters usable in a file name; use letters or digits.')
    return result
