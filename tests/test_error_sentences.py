"""Every error the tool raises for the user is one sentence: a ``DatasetError(...)`` (or subclass) message literal
in sd_dataset/ starts with a capital (or a placeholder such as the site's name) and ends with a period, with no
sentence break inside.  f-strings count by their literal parts, and ``{…}`` stands for each placeholder.

Per-file reasons are the one exception: raised inside a step and printed as ``failed NAME: reason``, they start
lower case and have no period of their own.  Messages built elsewhere (a helper's return value) are not checked.
"""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sd_dataset"
ERRORS = {"DatasetError", "FolderBusy", "NotFound", "Rejected", "Cancelled", "Exhausted", "RunRefused"}


def literal(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal(node.left), literal(node.right)
        return None if left is None or right is None else left + right
    return None


def messages():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args:
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in ERRORS:
                    text = literal(node.args[0])
                    if text is not None:
                        yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", text


def problem(text: str) -> str:
    if text[:1].islower():  # a per-file reason
        return "a per-file reason ends without a period" if text.endswith(".") else ""
    if not (text[:1].isupper() or text.startswith(("{}", "--", '"', "'"))):
        return "does not start like a sentence"
    if not text.endswith("."):
        return "does not end with a period"
    # a period followed by a space and a capital is a second sentence (not "e.g. X", not a number)
    if re.search(r"(?<!e\.g)(?<!i\.e)(?<!\.\.)\.\s+[A-Z]", text):
        return "holds more than one sentence"
    return ""


def test_error_messages_are_one_sentence():
    found = list(messages())
    assert len(found) > 60  # the walk really sees the package's errors
    bad = [f"{where}: {problem(text)}: {text!r}" for where, text in found if problem(text)]
    assert bad == []
