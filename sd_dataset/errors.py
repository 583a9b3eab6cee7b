"""Errors whose message is a complete sentence meant for the user.

The CLI prints them without a traceback and the tab shows them as they are, so
each one says what is wrong and what to do.
"""


class DatasetError(Exception):
    """A problem the user can fix; ``str(err)`` is the sentence to show."""


class Cancelled(DatasetError):
    """The user asked a running step to stop."""

    def __init__(self, message: str = "Cancelled by the user; a rerun finishes what is not done."):
        super().__init__(message)
