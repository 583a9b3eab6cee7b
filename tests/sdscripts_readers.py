"""Oracles of what kohya-ss/sd-scripts reads from a dataset, written from its documented behaviour.

* ``--dataset_config``: the DreamBooth-style schema of ``library/config_util.py`` (keys, their types, where
  each may stand; ``image_dir`` required in a subset; no other keys at any level);
* a caption file: its first line, stripped; an empty file stops training; no file means the class tokens;
* shuffling (``shuffle_caption``): the caption split at ``,``, each part stripped, the first ``keep_tokens``
  parts kept in place, the rest shuffled, all joined with ``", "``;
* ``--weighted_captions``: the prompt-parser grammar without ``BREAK`` and with ``:w)`` written tight.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

from webui_readers import parse_prompt

NUMBER = (int, float)
_SUBSET_ANYWHERE = {
    "color_aug": bool, "flip_aug": bool, "num_repeats": int, "random_crop": bool, "shuffle_caption": bool,
    "keep_tokens": int, "keep_tokens_separator": str, "secondary_separator": str, "caption_separator": str,
    "enable_wildcard": bool, "token_warmup_min": int, "token_warmup_step": NUMBER, "caption_prefix": str,
    "caption_suffix": str, "custom_attributes": dict, "resize_interpolation": str, "face_crop_aug_range": list,
    # DreamBooth's
    "caption_extension": str, "class_tokens": str, "cache_info": bool,
    # caption dropout's
    "caption_dropout_every_n_epochs": int, "caption_dropout_rate": NUMBER, "caption_tag_dropout_rate": NUMBER,
}
_SUBSET_ONLY = {"image_dir": str, "is_reg": bool, "alpha_mask": bool}
_DATASET_ANYWHERE = {
    "batch_size": int, "bucket_no_upscale": bool, "bucket_reso_steps": int, "enable_bucket": bool,
    "max_bucket_reso": int, "min_bucket_reso": int, "validation_seed": int, "validation_split": float,
    "resolution": (int, list), "network_multiplier": float,
}


def check_dataset_config(config: dict) -> list[dict]:
    """The subsets of a ``--dataset_config`` document, after checking it against the schema (AssertionError)."""
    assert set(config) <= {"general", "datasets"}, f"unknown top-level keys: {set(config) - {'general', 'datasets'}}"
    _check_keys(config.get("general", {}), {**_DATASET_ANYWHERE, **_SUBSET_ANYWHERE}, "[general]")
    subsets = []
    assert isinstance(config.get("datasets"), list), "datasets must be an array of tables"
    for dataset in config["datasets"]:
        _check_keys({k: v for k, v in dataset.items() if k != "subsets"}, {**_DATASET_ANYWHERE, **_SUBSET_ANYWHERE},
                    "[[datasets]]")
        for subset in dataset.get("subsets", []):
            _check_keys(subset, {**_SUBSET_ANYWHERE, **_SUBSET_ONLY}, "[[datasets.subsets]]")
            assert "image_dir" in subset, "a DreamBooth subset needs image_dir"
            assert "metadata_file" not in subset
            subsets.append({**config.get("general", {}), **{k: v for k, v in dataset.items() if k != "subsets"},
                            **subset})
    return subsets


def _check_keys(table: dict, allowed: dict, where: str) -> None:
    for key, value in table.items():
        assert key in allowed, f"{where} may not hold {key!r}"
        wanted = allowed[key]
        assert isinstance(value, wanted) and not (isinstance(value, bool) and wanted is int), \
            f"{where} {key} = {value!r} is not {wanted}"


# the extensions train_util.glob_images lists a subset's images by (more only with AVIF or JPEG-XL plugins installed)
IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP"]


def subset_images(image_dir: Path) -> list[Path]:
    """The images a DreamBooth-style subset trains on: the files of ``image_dir`` (not its subfolders) whose names
    end in one of :data:`IMAGE_EXTENSIONS`, sorted; every other file is never opened."""
    return sorted(p for p in Path(image_dir).iterdir() if p.is_file() and any(p.name.endswith(ext)
                                                                             for ext in IMAGE_EXTENSIONS))


def read_caption_file(image: Path, extension: str = ".txt") -> Optional[str]:
    """The caption sd-scripts reads for ``image``: the first line of ``<stem><extension>``, stripped; None when
    there is none (the subset's class tokens stand in)."""
    path = image.with_suffix(extension)
    if not path.is_file():
        return None
    with open(path, "rt", encoding="utf-8") as fh:
        lines = fh.readlines()
    assert lines, f"sd-scripts stops: caption file is empty: {path}"
    return lines[0].strip()


def kept_in_place(caption: str, keep_tokens: int) -> list[str]:
    """The parts shuffling never moves."""
    return [t.strip() for t in caption.strip().split(",")][:keep_tokens]


def shuffled(caption: str, keep_tokens: int, rng: random.Random) -> str:
    """The caption as one shuffled training step sees it."""
    tokens = [t.strip() for t in caption.strip().split(",")]
    fixed, flex = tokens[:keep_tokens], tokens[keep_tokens:]
    rng.shuffle(flex)
    return ", ".join(fixed + flex)


def parse_weighted(text: str) -> list[list]:
    """``--weighted_captions``' parser."""
    return parse_prompt(text, keyword_break=False, spaced_weight=False)
