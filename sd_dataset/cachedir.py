"""Where the user's cache lives: ``$XDG_CACHE_HOME/sd_dataset``, else ``~/.cache/sd_dataset``."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "sd_dataset"
