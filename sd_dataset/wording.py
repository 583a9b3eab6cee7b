"""How a sentence names an option the user sets: a command-line flag, or a control of the tab.

The library's messages name an option through :func:`option`, by the keyword the library knows it by
(``min_size``); the face that runs a step says how it calls its options with :func:`speaking`, for as long as
the step runs.  Outside any face a message speaks the command line's language (``--min-size``), which is also
what a Python caller sees.  :func:`offers` tells whether the face has the option at all, so a hint about a
command-line-only option is left out of the tab's messages instead of naming what the tab lacks.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Mapping, Optional

# where the command line's name is not the keyword's flag
COMMAND_LINE = {"query": "the search (QUERY)", "template_kind": "--kind", "template_overwrite": "--overwrite"}

_names: ContextVar[Optional[Mapping[str, str]]] = ContextVar("sd_dataset_option_names", default=None)


def option(key: str) -> str:
    """What the running face calls the option ``key``."""
    names = _names.get()
    if names is not None and key in names:
        return names[key]
    return COMMAND_LINE.get(key, "--" + key.replace("_", "-"))


def offers(key: str) -> bool:
    """Whether the running face has the option ``key`` (the command line has them all)."""
    names = _names.get()
    return names is None or key in names


@contextmanager
def speaking(names: Mapping[str, str]) -> Iterator[None]:
    """Messages made inside name options by ``names`` (keyword → the face's name, e.g. ``'"Min short side"'``).

    Set and reset in one thread, within one call: never across the ``yield`` of a step run as a generator, whose
    parts a server may run in different threads.
    """
    token = _names.set(names)
    try:
        yield
    finally:
        _names.reset(token)
