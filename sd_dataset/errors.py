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


def unexpected_error(step: str, exc: BaseException) -> str:
    """The sentence a step's log shows for an exception nobody expected (its traceback goes to the console): the
    step, the exception's type and first line, with any login blanked out."""
    from .http import redact_logins  # here, not at the top: http imports this module

    first = (str(exc).strip().splitlines() or [""])[0]
    detail = redact_logins(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
    if len(detail) > 200:
        detail = detail[:199] + "…"
    return (f"{step} stopped on an unexpected error ({detail}); the console shows where it happened: try again, and "
            "if it happens again, report it with what the console shows.")
