"""Oracles of what the web UI 1.10.1 reads from a training folder, written from its documented behaviour.

Nothing here comes from our renderers: the prompt parser follows the grammar that
``parse_prompt_attention``'s docstring and webui-api.md §8 describe (its examples
are checked in test_readers.py), the dataset reader follows §8's account of
``textual_inversion/dataset.py``, and :func:`encoder_text` is what the text
encoder's tokenizer makes of a chunk (transformers' CLIPTokenizer with ftfy, which
open-clip-torch installs: ftfy's ``fix_character_width`` turns fullwidth forms into
ASCII, then whitespace is collapsed and the text lower-cased).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Optional

from PIL import Image

ROUND, SQUARE = 1.1, 1 / 1.1
BREAK = "BREAK"
_LITERAL_AFTER_BACKSLASH = "()[]\\"
_SPECIAL = "\\()[]:"


def parse_prompt(text: str, *, keyword_break: bool = True, spaced_weight: bool = True) -> list[list]:
    """``[[text, weight], …]`` as the prompt parser reads ``text``; a ``BREAK`` keyword is ``["BREAK", -1]``.

    * ``\\(`` ``\\)`` ``\\[`` ``\\]`` ``\\\\`` are the literal characters; a backslash before anything else is
      dropped, and what follows it is read as usual;
    * ``(`` … ``)`` multiplies what it encloses by 1.1, ``[`` … ``]`` divides it by 1.1, ``(`` … ``:w)``
      multiplies it by w; a bracket never closed applies to the end; a closing one with nothing open is literal, as is a bare
      ``:``;
    * the uppercase word ``BREAK`` (with the whitespace around it) starts a new chunk;
    * neighbouring pieces of the same weight merge; an empty prompt is ``[["", 1.0]]``.

    sd-scripts' parser for ``--weighted_captions`` is the same but for ``keyword_break=False`` and
    ``spaced_weight=False`` (``:w)`` with no spaces around w).
    """
    pieces: list[list] = []
    rounds: list[int] = []
    squares: list[int] = []
    weight_re = re.compile(r":\s*([+-]?[.\d]+)\s*\)" if spaced_weight else r":([+-]?[.\d]+)\)")

    def scale(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            following = text[i + 1:i + 2]
            if following and following in _LITERAL_AFTER_BACKSLASH:
                pieces.append([following, 1.0])
                i += 2
            else:  # dropped: an empty piece, what follows read as usual
                pieces.append(["", 1.0])
                i += 1
        elif ch == "(":
            rounds.append(len(pieces))
            i += 1
        elif ch == "[":
            squares.append(len(pieces))
            i += 1
        elif ch == ":":
            weighted = weight_re.match(text, i)
            if weighted and rounds:
                scale(rounds.pop(), float(weighted.group(1)))
                i = weighted.end()
            elif weighted:
                pieces.append([weighted.group(0), 1.0])
                i = weighted.end()
            else:
                pieces.append([":", 1.0])
                i += 1
        elif ch == ")" and rounds:
            scale(rounds.pop(), ROUND)
            i += 1
        elif ch == "]" and squares:
            scale(squares.pop(), SQUARE)
            i += 1
        elif ch in ")]":
            pieces.append([ch, 1.0])
            i += 1
        else:
            end = i
            while end < len(text) and text[end] not in _SPECIAL:
                end += 1
            run = text[i:end]
            chunks = re.split(r"\s*\bBREAK\b\s*", run) if keyword_break else [run]
            for n, chunk in enumerate(chunks):
                if n:
                    pieces.append([BREAK, -1])
                pieces.append([chunk, 1.0])
            i = end
    for start in rounds:
        scale(start, ROUND)
    for start in squares:
        scale(start, SQUARE)
    if not pieces:
        return [["", 1.0]]
    merged = [pieces[0]]
    for piece in pieces[1:]:
        if piece[1] == merged[-1][1]:
            merged[-1][0] += piece[0]
        else:
            merged.append(piece)
    return merged


def read_plainly(text: str) -> Optional[str]:
    """The one chunk at weight 1.0 that ``text`` parses to, or None when the parser reads any emphasis or BREAK."""
    parsed = parse_prompt(text)
    return parsed[0][0] if len(parsed) == 1 and parsed[0][1] == 1.0 else None


# -- the dataset reader --------------------------------------------------------------------------------------------

NUMBERS_AT_START = r"^[-\d]+\s*"  # what the trainer strips from a file name (§8), nothing else


def caption_of(image: Path) -> str:
    """The caption the trainer gives ``image``: ``<stem>.txt`` read whole when it exists, else the file name's
    stem without leading digits, hyphens and the whitespace after them (no word regex set)."""
    text_file = Path(os.path.splitext(str(image))[0] + ".txt")
    if text_file.exists():
        with open(text_file, "r", encoding="utf8") as fh:
            return fh.read()
    return re.sub(NUMBERS_AT_START, "", os.path.splitext(image.name)[0])


def training_captions(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` the trainer trains on (each name it lists, hidden ones too, that Pillow opens as
    an image), with its caption."""
    captions = {}
    for name in sorted(os.listdir(folder)):
        path = folder / name
        try:
            with Image.open(path) as img:
                img.load()
        except Exception:
            continue
        captions[name] = caption_of(path)
    return captions


def encoder_text(text: str) -> str:
    """What the text encoder's tokenizer makes of a chunk before it splits it into tokens."""
    wide = "".join(unicodedata.normalize("NFKC", ch) if ch == "\u3000" or 0xFF01 <= ord(ch) < 0xFFF0 else ch
                   for ch in text)
    return re.sub(r"\s+", " ", wide).strip().lower()
