"""Small pieces of the steps' reports: a few example names, a share as a percentage, a line per reason."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, List, Tuple

EXAMPLES = 3


def examples(names: List[str], count: int = EXAMPLES) -> str:
    """The first few names, with an ellipsis when there are more."""
    return ", ".join(names[:count]) + (", …" if len(names) > count else "")


def percent(part: int, whole: int, digits: int = 0) -> str:
    """``part`` of ``whole`` as a percentage rounded half up (5 of 8 is 63%, not the 62% of Python's half-even)."""
    if whole <= 0:
        return "0%"
    exact = Decimal(part) * 100 / Decimal(whole)
    return f"{exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)}%"


def by_reason(entries: Iterable[Tuple[str, str, str]], verb: str) -> List[str]:
    """One line per reason, most frequent first: ``{verb} N, {reason}: a (detail), b (detail), …``.

    ``entries`` are (name, reason, detail); the reason is what the entries share, the detail what is their own.
    """
    groups: dict = defaultdict(list)
    for name, reason, detail in entries:
        groups[reason].append(f"{name} ({detail})" if detail else name)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [f"{verb} {len(names)}, {reason}: {examples(sorted(names))}" for reason, names in ranked]
