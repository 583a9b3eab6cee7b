"""The ``dataset.toml`` that sd-scripts' ``--dataset_config`` reads for a kohya-layout dataset.

The keys are those of sd-scripts' ``library/config_util.py`` for a DreamBooth-style
subset (``image_dir`` is required; ``num_repeats``, ``class_tokens``,
``caption_extension``, ``shuffle_caption`` and ``keep_tokens`` may all be set on the
subset itself).  ``keep_tokens`` counts the comma-separated parts sd-scripts keeps in
place when it shuffles a caption: the trigger's, and the rating and artist when pinned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

DATASET_CONFIG = "dataset.toml"
CAPTION_EXTENSION = ".txt"
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


@dataclass(frozen=True)
class Subset:
    image_dir: Path
    num_repeats: int
    class_tokens: str
    keep_tokens: int
    shuffle_caption: bool = True


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DatasetError(f"The path {text!r} is not valid UTF-8, which a TOML file cannot hold; rename the "
                           f"folder.") from None
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dataset_config(subset: Subset) -> str:
    """The text of ``dataset.toml`` for one subset: ``sd-scripts … --dataset_config dataset.toml``."""
    return "\n".join([
        "# written by sd_dataset tag for sd-scripts: train with --dataset_config pointing at this file",
        "[[datasets]]",
        "",
        "  [[datasets.subsets]]",
        f"  image_dir = {toml_string(str(subset.image_dir))}",
        f"  num_repeats = {subset.num_repeats}",
        f"  class_tokens = {toml_string(subset.class_tokens)}",
        f"  caption_extension = {toml_string(CAPTION_EXTENSION)}",
        f"  shuffle_caption = {'true' if subset.shuffle_caption else 'false'}",
        f"  keep_tokens = {subset.keep_tokens}",
        "",
    ])
