"""The one small interface long work reports through.

The command line drives tqdm with it and the tab drives ``gr.Progress``; the
library only ever sees a :class:`Progress`.  Cancellation travels the other way:
the face sets the event and the library checks it between items; a step that talks
to a site also hands it to its HTTP session, which shuts the request in flight.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Optional

from .errors import Cancelled
from .text import visible

log = logging.getLogger(__name__)


class Progress:
    """Progress sink that shows nothing; subclasses display it."""

    def __init__(self, cancel_event: Optional[threading.Event] = None):
        self.cancel_event = cancel_event or threading.Event()
        self.total: Optional[int] = None
        self.done = 0
        self.desc = ""

    def start(self, total: Optional[int], desc: str) -> None:
        self.total, self.done, self.desc = total, 0, desc

    def advance(self, n: int = 1) -> None:
        self.done += n

    def set_total(self, total: Optional[int]) -> None:
        self.total = total

    def note(self, text: str) -> None:
        """Tell the user something before a long part starts (how long it will take); shown by the face."""
        log.info("%s", text)

    def close(self) -> None:
        pass

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        if self.cancel_event.is_set():
            raise Cancelled()


class TqdmProgress(Progress):
    """Progress bar on the terminal (stderr)."""

    def __init__(self, cancel_event: Optional[threading.Event] = None, disable: bool = False):
        super().__init__(cancel_event)
        self._bar = None
        self._disable = disable

    def start(self, total: Optional[int], desc: str) -> None:
        from tqdm import tqdm

        super().start(total, desc)
        self.close()
        self._bar = tqdm(total=total, desc=desc, unit="file", disable=self._disable, dynamic_ncols=True)

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        if self._bar is not None:
            self._bar.update(n)

    def note(self, text: str) -> None:
        from tqdm import tqdm

        if not self._disable:
            tqdm.write(visible(text), file=sys.stderr)

    def set_total(self, total: Optional[int]) -> None:
        super().set_total(total)
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
