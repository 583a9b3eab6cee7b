import sys
import traceback

reported = []  # stub only: what report() was given, for the tests' diagnostics


def report(message: str, *, exc_info: bool = False) -> None:
    text = message + ("\n" + traceback.format_exc() if exc_info else "")
    reported.append(text)
    print("***", text, file=sys.stderr)
