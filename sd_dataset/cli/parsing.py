"""The argument parser every command uses: a usage error can end with a hint that says how to fix it."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

Hint = Callable[[str, list], Optional[str]]  # (argparse's message, the words parsed) → one more sentence, or None


class CommandParser(argparse.ArgumentParser):
    def __init__(self, *args, hint: Optional[Hint] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hint = hint
        self._words: list = []

    def parse_known_args(self, args=None, namespace=None):
        self._words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        extra = self.hint(message, self._words) if self.hint else None
        super().error(f"{message}; {extra}" if extra else message)
