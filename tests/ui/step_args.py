"""The values the tab's Tag and Augment sections pass their steps, by the step's parameter names.

A control added to a section adds one default here; a test names only the values it means, so no test spells
the steps' positional order by hand.
"""

import inspect

from sd_dataset.ui import DatasetTab


def bar(*args, **kwargs):
    """A gradio progress stand-in that shows nothing."""


TAG_DEFAULTS = dict(
    site="e621", base_url="", vocab="", numbering="auto", aliases="", caption="txt", layout="flat", repeats=10,
    concept="", trigger="", include=[], exclude="", rating=True, artist=True, keep_underscores=False, escape=True,
    exclude_common=0, keep_untagged=True, offline=True, weighted=False, pin=[], username="", api_key="",
    remember=False, tagger="", tagger_thresholds="", iqdb=False, iqdb_cutoff=80, bar=bar)

AUGMENT_DEFAULTS = dict(
    flip=True, split=False, threshold=0.5, overlap=0.2, square="pad", size=512, keep_size=False, min_size=256,
    dedupe=False, fmt="png", tile_captions=False, tagger="", tagger_thresholds="", bar=bar)


def _ordered(step, defaults: dict, values: dict) -> list:
    names = [name for name in inspect.signature(step).parameters if name != "self"]
    unknown = set(values) - set(names)
    assert not unknown, f"{step.__name__} has no parameter {sorted(unknown)}"
    missing = [name for name in names if name not in values and name not in defaults]
    assert not missing, f"step_args has no default for {step.__name__}'s {missing}"
    return [values[name] if name in values else defaults[name] for name in names]


def tag_args(src, out, **values) -> list:
    """``DatasetTab.tag``'s arguments: ``src`` and ``out`` as strings, ``values`` by name, the rest defaults."""
    return _ordered(DatasetTab.tag, TAG_DEFAULTS, {"src": str(src), "out": str(out), **values})


def augment_args(src, out, **values) -> list:
    """``DatasetTab.augment``'s arguments, likewise."""
    return _ordered(DatasetTab.augment, AUGMENT_DEFAULTS, {"src": str(src), "out": str(out), **values})
