"""Making user-entered names safe to use as one file name.

A name typed into the tab or given on the command line never becomes a path as
it is: separators, ``..``, characters Windows reserves, control characters and
over-long names are all dealt with here, in one place.
"""

from __future__ import annotations

import os
import re
import unicodedata

from .errors import DatasetError

# Characters no file name may hold on Windows, plus both path separators.
_RESERVED_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
# Device names Windows refuses as a file name, with or without an extension.
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_MAX_SUFFIX_BYTES = 16


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits ``max_bytes`` (never splits a character)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_filename(name: str, max_bytes: int = 240) -> str:
    """``name`` made into one safe file name, or a DatasetError when nothing usable is left.

    Separators and reserved characters become ``_``, surrounding spaces and dots
    go (no hidden files, no ``.``/``..``, no trailing dot Windows would drop),
    Windows device names get a leading ``_`` and the result fits ``max_bytes``
    of UTF-8, shortening the stem rather than the extension.
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be at least 1")
    original = name
    text = unicodedata.normalize("NFC", str(name))
    text = re.sub(r"\s+", " ", text)
    text = _RESERVED_CHARS.sub("_", text)
    text = text.strip(" .")
    if not text.strip("_ ."):
        raise DatasetError(f'The name "{original}" has no characters usable in a file name; use letters or digits.')
    stem, suffix = os.path.splitext(text)
    if not stem or len(suffix.encode("utf-8")) > _MAX_SUFFIX_BYTES:
        stem, suffix = text, ""
    if stem.split(".")[0].upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    if len((stem + suffix).encode("utf-8")) > max_bytes:
        room = max_bytes - len(suffix.encode("utf-8"))
        if room < 1:
            stem, suffix = _truncate_utf8(stem + suffix, max_bytes), ""
        else:
            stem = _truncate_utf8(stem, room)
        stem = stem.rstrip(" .")
    result = (stem + suffix).rstrip(" .")
    if not result.strip("_ ."):
        raise DatasetError(f'The name "{original}" has no characters usable in a file name; use letters or digits.')
    return result
