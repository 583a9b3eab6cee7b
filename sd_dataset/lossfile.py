"""The web UI trainers' loss log, read robustly, and the smoothed loss the supervisor judges by.

The textual-inversion and hypernetwork trainers of the web UI (A1111 1.x) append
one row to ``textual_inversion_loss.csv`` / ``hypernetwork_loss.csv`` in the
run's log folder every ``training_write_csv_every`` steps: columns ``step,
epoch, epoch_step, loss, learn_rate``, the header written only when the file is
new, the loss as ``f"{loss:.7f}"`` (so ``nan`` and ``inf`` appear as text), rows
ended by ``\\r\\n``.  Facts this reader copes with:

* the file may be read while the trainer appends to it: a last line without its
  line end is not used (a cut-off ``0.1234567`` would read as a wrong number);
* a resumed or restarted run appends rows whose steps go back; the rows that
  count are the *lineage*: for each step the last written row, later rows
  replacing every earlier row at or after their step (see :func:`lineage`);
* lines that are not rows (a second header, garbage) are skipped and counted.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from .errors import DatasetError

LOSS_FILES = {"embedding": "textual_inversion_loss.csv", "hypernetwork": "hypernetwork_loss.csv"}
COLUMNS = ("step", "epoch", "epoch_step", "loss", "learn_rate")


@dataclass(frozen=True)
class LossRow:
    step: int
    loss: float  # may be nan or inf, exactly as the trainer logged it
    learn_rate: Optional[float] = None
    epoch: Optional[int] = None
    epoch_step: Optional[int] = None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss)


@dataclass(frozen=True)
class LossLog:
    """The rows of a loss log in file order, and how many lines could not be read."""

    path: Path
    rows: Sequence[LossRow]
    skipped: int = 0  # lines that were not rows
    partial: bool = False  # the last line had no line end (a row being written) and was left out


def _int(text: str) -> Optional[int]:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _float(text: str) -> Optional[float]:
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_loss_text(text: str, path: Path = Path("-")) -> LossLog:
    """Rows from the text of a loss log (see the module notes for what is skipped)."""
    lines = text.splitlines(keepends=True)
    partial = False
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()
        partial = True
    order = list(COLUMNS)
    rows: List[LossRow] = []
    skipped = 0
    for line in lines:
        fields = [field.strip() for field in line.strip().split(",")]
        if fields == [""]:
            continue
        if "step" in fields and "loss" in fields:  # a header: use its column order
            order = fields
            continue
        if len(fields) != len(order):
            skipped += 1
            continue
        record = dict(zip(order, fields))
        step = _int(record.get("step", ""))
        loss = _float(record.get("loss", ""))
        if step is None or loss is None or step < 0:
            skipped += 1
            continue
        rate = _float(record["learn_rate"]) if "learn_rate" in record else None
        rows.append(LossRow(step, loss, rate if rate is not None and math.isfinite(rate) else None,
                            _int(record.get("epoch", "")), _int(record.get("epoch_step", ""))))
    return LossLog(path, tuple(rows), skipped, partial)


def read_loss_log(path, missing_ok: bool = False) -> LossLog:
    """Read a loss log; a missing file is an empty log when ``missing_ok``, else a DatasetError."""
    path = Path(path)
    try:
        with open(path, "r", encoding="utf-8", errors="replace", newline="") as fh:
            text = fh.read()
    except FileNotFoundError:
        if missing_ok:
            return LossLog(path, ())
        raise DatasetError(f"There is no loss log at {path}; give the path of a textual_inversion_loss.csv or "
                           "hypernetwork_loss.csv from the web UI's training log folder.") from None
    except IsADirectoryError:
        raise DatasetError(f"{path} is a folder, not a loss log; give the path of its textual_inversion_loss.csv "
                           "or hypernetwork_loss.csv.") from None
    except OSError as exc:
        reason = (exc.strerror or exc.__class__.__name__).lower()
        raise DatasetError(f"Cannot read the loss log {path} ({reason}); check that it exists and is readable.") from None
    return parse_loss_text(text, path)


def lineage(rows: Sequence[LossRow]) -> List[LossRow]:
    """The rows of the run as it stands: a row whose step is not past the one before it replaces, from its
    step on, what was written before (a resume from an earlier copy, or a restart, rewrites that stretch)."""
    kept: List[LossRow] = []
    for row in rows:
        while kept and kept[-1].step >= row.step:
            kept.pop()
        kept.append(row)
    return kept


@dataclass(frozen=True)
class Smoothed:
    """The loss judged at the end of a stretch: the median of the values in the window."""

    value: Optional[float]  # None: no value was logged in the window, or one was not finite
    count: int  # values in the window
    nonfinite: int  # nan/inf values in the window
    first_step: Optional[int] = None
    last_step: Optional[int] = None

    @property
    def judged(self) -> bool:
        return self.value is not None


def smooth(rows: Sequence[LossRow], end: int, window: int, after: int = -1) -> Smoothed:
    """Median of the loss values logged at steps in ``(max(after, end - window), end]`` of ``rows`` (a lineage).

    Per-step loss is noisy (it depends on the noise level drawn for each step), so a
    median, which one wild value cannot move, is the judge.  A non-finite value in
    the window makes the result not finite (``value`` None, ``nonfinite`` > 0).
    """
    low = max(after, end - window)
    values = [row.loss for row in rows if low < row.step <= end]
    bad = sum(1 for value in values if not math.isfinite(value))
    steps = [row.step for row in rows if low < row.step <= end]
    first, last = (steps[0], steps[-1]) if steps else (None, None)
    if not values or bad:
        return Smoothed(None, len(values), bad, first, last)
    return Smoothed(statistics.median(values), len(values), 0, first, last)


@dataclass(frozen=True)
class LossHealth:
    """Whether the losses a run logged are numbers."""

    logged: int  # losses logged for the run's steps
    nonfinite: int  # how many of them are nan or inf
    first_bad: Optional[int] = None  # the first step whose loss is not finite


def loss_health(path, after: int, end: int) -> LossHealth:
    """The health of the losses logged at ``path`` (the lineage; a missing log has none) for steps ``after+1 … end``."""
    rows = [row for row in lineage(read_loss_log(path, missing_ok=True).rows) if after < row.step <= end]
    bad = [row.step for row in rows if not row.finite]
    return LossHealth(len(rows), len(bad), bad[0] if bad else None)


def rolling_median(rows: Sequence[LossRow], window: int) -> List[Optional[float]]:
    """For each row, the median of the finite values logged in the last ``window`` steps up to it (a plot's curve)."""
    out: List[Optional[float]] = []
    ordered: List[float] = []
    start = 0
    for row in rows:
        while rows[start].step <= row.step - window:
            if math.isfinite(rows[start].loss):
                del ordered[bisect.bisect_left(ordered, rows[start].loss)]
            start += 1
        if math.isfinite(row.loss):
            bisect.insort(ordered, row.loss)
        n = len(ordered)
        out.append(None if not n else (ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2))
    return out


def loss_file_name(kind: str) -> str:
    """The loss log's file name for ``embedding`` or ``hypernetwork``."""
    return LOSS_FILES[kind]
