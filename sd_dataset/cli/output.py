"""What the commands print: every line through ``text.visible``, so no file name, tag or server's words can
move the cursor, retitle or clear the terminal, or turn a line around."""

from __future__ import annotations

import logging
import sys
from typing import Optional, TextIO

from ..text import visible


def say(line, file: Optional[TextIO] = None) -> None:
    print(visible(str(line)), file=file or sys.stdout)


class VisibleFormatter(logging.Formatter):
    """Log lines (a path, a server's reason) written as :func:`say` writes."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))
