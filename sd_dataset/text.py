"""Text from outside (a site's answers, the names in a folder) made harmless before it is kept or shown.

Control characters (C0, DEL, C1), bidi overrides, embeddings, isolates and marks, the Unicode line and paragraph
separators and lone surrogates have no place in a tag, a caption or a file name: NUL makes the csv module refuse
``tags.csv``, ESC sequences retitle, clear or colour a terminal, CR and LF split a caption (and the line a trainer
reads) in two, a bidi override makes a file name read backwards, and a lone surrogate cannot be written as UTF-8.
"""

from __future__ import annotations

import re

# one character class, so that names.py's rule for file names refuses exactly these too
UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")
_UNSAFE_IN_LINES = re.compile(f"(?![\n\t])[{UNSAFE_CHARS}]")  # what a terminal must not get, layout aside


def strip_unsafe(text: str) -> str:
    """``text`` without any of the characters above: how a site's tag, rating or source is kept."""
    return _UNSAFE.sub("", text)


def visible(text: str) -> str:
    """``text`` for a terminal or the tab: each such character but newline and tab written as its escape
    (``\\x1b``, ``\\u202e``), so what a file name or a server's words hold is seen, never obeyed."""
    return _UNSAFE_IN_LINES.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
