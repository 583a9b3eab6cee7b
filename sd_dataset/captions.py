"""A caption's parts written for the reader that will read them: one renderer per reader.

A caption is a list of parts (the trigger, ``safe content``, ``by some artist``, tags)
in their display form (:func:`display_tag`).  Each reader gets its own text:

* the web UI's prompt parser, which reads every ``.txt`` caption and file-name
  caption (and sd-scripts' with ``--weighted_captions``): ``\\ ( ) [ ]`` escaped, the
  ``BREAK`` keyword broken by a backslash the parser drops (:func:`prompt_text`);
* sd-scripts without ``--weighted_captions``, which reads captions literally: the parts
  as they are (:func:`literal_text`);
* a file name, which the web UI reads as a caption when no ``.txt`` is beside the image
  and which cannot hold a backslash: the characters Windows refuses and the brackets
  the parser would read as emphasis become their fullwidth forms (:func:`name_form`).
  Those are no syntax to the parser, and the text encoder's tokenizer (ftfy's
  ``fix_character_width``, which transformers' CLIPTokenizer applies) reads them as the
  ASCII characters again.

:func:`swap_sides` turns the captions of a mirrored copy: ``looking left`` ↔ ``looking right``.
"""

from __future__ import annotations

import re

SEPARATOR = ", "
# tag-autocomplete's and the WD14 taggers' kaomoji list (webui-api.md §8): these keep their underscores
KAOMOJI = frozenset("0_0 (o)_(o) +_+ +_- ._. <o>_<o> <|>_<|> =_= >_< 3_3 6_9 >_o @_@ ^_^ o_o u_u x_x |_| ||_||"
                    .split())
ARTIST_PREFIX = "by "

_PARSER_SPECIAL = re.compile(r"[\\()\[\]]")
_BREAK = re.compile(r"\bBREAK\b")  # the parser's keyword, as its re_break finds it (case-sensitive)
# characters Windows refuses in names, and the brackets the prompt parser reads as emphasis
_NAME_SPECIAL = '\\/:*?"<>|()[]'
_FULLWIDTH = str.maketrans({ch: chr(ord(ch) + 0xFEE0) for ch in _NAME_SPECIAL})  # "(" → "（" (U+FF08)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_SIDES = {"left": "right", "right": "left"}
_SIDE_WORD = re.compile(r"(?<![^\W_])(left|right)(?![^\W_])", re.IGNORECASE)  # underscores separate words too


def display_tag(tag: str, keep_underscores: bool = False) -> str:
    """A tag as a caption shows it: ``red_ball`` → ``red ball``; kaomoji (``o_o``, ``^_^``) keep their underscores."""
    if keep_underscores or tag in KAOMOJI:
        return tag
    return tag.replace("_", " ")


def escape_prompt(part: str) -> str:
    """``part`` so that the prompt parser reads exactly ``part``, at weight 1.0, with no ``BREAK``."""
    escaped = _PARSER_SPECIAL.sub(lambda m: "\\" + m.group(0), part)
    return _BREAK.sub(r"B\\REAK", escaped)


def prompt_text(parts: list[str]) -> str:
    """The caption for a prompt parser (the web UI's; sd-scripts' with ``--weighted_captions``)."""
    return SEPARATOR.join(escape_prompt(p) for p in parts)


def literal_text(parts: list[str]) -> str:
    """The caption for a reader that takes it literally (sd-scripts without ``--weighted_captions``)."""
    return SEPARATOR.join(parts)


def caption_text(parts: list[str], escape: bool) -> str:
    """The ``.txt`` caption: for a prompt parser when ``escape``, else literal."""
    return prompt_text(parts) if escape else literal_text(parts)


def name_form(part: str) -> str:
    """``part`` as file names can hold it and the prompt parser reads it with no emphasis and no ``BREAK``.

    ``\\ / : * ? " < > | ( ) [ ]`` become their fullwidth forms (``:3`` → ``：3``, ``<3`` → ``＜3``: still two
    tags); ``BREAK`` is lower-cased, which the text encoder does to every word anyway.
    """
    text = _CONTROL.sub("_", part.translate(_FULLWIDTH))
    return _BREAK.sub("break", text)


def swap_sides(caption: str) -> str:
    """The caption of a mirrored copy: ``left`` and ``right`` swapped wherever they are words of a tag
    (``looking_left``, ``facing right``, ``left-handed``), except in ``by …`` artist parts, which name people."""
    pieces = caption.split(",")
    return ",".join(p if p.lstrip().startswith(ARTIST_PREFIX) else _SIDE_WORD.sub(_swap, p) for p in pieces)


def _swap(match: re.Match) -> str:
    word = match.group(0)
    other = _SIDES[word.lower()]
    if word.isupper():
        return other.upper()
    return other.capitalize() if word[0].isupper() else other
