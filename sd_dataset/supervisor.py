"""Supervised training: train in segments, watch the loss, revert a run that fries to its best copy.

A supervised run is a sequence of segments of ``K`` steps.  After each one the
supervisor reads the trainer's loss log, takes the median of the loss values
logged in the last ``W`` steps (the *smoothed loss*), and decides (:func:`decide`):

* **continue** while the smoothed loss is finite and no more than ``tolerance``
  above the best seen; a lower one becomes the new best, and the file at that
  step is kept as the *best copy*;
* **revert and step down** when it rises past the tolerance or any value in the
  window is NaN or infinite: the best copy becomes the current embedding or
  hypernetwork again (the host reloads it), every rate is multiplied by
  ``factor`` and training goes on from the best copy's step;
* **stop** when stepping down would take the rate below ``floor``, when
  ``patience`` segments in a row brought no new best, when the run reached its
  last step, or when ``budget`` trained steps (redone ones included) are spent.
  A stop that follows a rise or a NaN first restores the best copy.

Rates: the user's schedule is the starting point.  Each segment hands the web
UI's trainer the user's schedule text with every rate multiplied by
``factor ** n``, where ``n`` is the number of step-downs so far (``n = 0``: the
text exactly as typed), and ``steps`` set to the segment's end; the trainer's
own resume rules pick the items from the current step on.  So until the first
step-down every step trains at exactly the rate the schedule gives it, and after
``n`` step-downs at ``factor ** n`` times that rate.  The floor is compared with
the rate the stepped-down schedule gives the first step after the best copy.

Everything the web UI knows comes through :class:`TrainerHooks`, a handful of
callables the web UI glue (or a test) provides.  Every decision is appended,
with its reason, as one JSON line to ``supervisor.jsonl`` in the run's log
folder ``<log_directory>/<YYYY-MM-DD>/<name>/``; the best copy is kept in that
folder's ``supervisor/`` subfolder (not beside the current file, where the web
UI would load it as another embedding).
"""

from __future__ import annotations

import bisect
import contextlib
import datetime
import json
import math
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from .errors import Cancelled, DatasetError
from .files import atomic_open
from .lossfile import LossRow, Smoothed, lineage, loss_file_name, read_loss_log, smooth
from .progress import Progress
from .schedule import Schedule, format_rate, parse, plan
from .training import TrainRequest, _as_whole

CONTINUE, REVERT, STOP = "continue", "revert_and_step_down", "stop"
ACTIONS = (CONTINUE, REVERT, STOP)
JOURNAL = "supervisor.jsonl"
PINS = "supervisor"
FLOOR_DIVISOR = 20  # default floor: the starting rate / 20
VALUES_PER_WINDOW = 100  # the loss is logged often enough to give about this many values per window


# --- knobs ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Knobs:
    """The supervisor's settings; docs/supervised.md says why the defaults are what they are."""

    segment: int = 500  # K: steps per segment
    window: Optional[int] = None  # W: the smoothed loss is the median of the values in the last W steps; None = K
    tolerance: float = 0.2  # a rise of more than 20 % over the best smoothed loss reverts
    factor: float = 0.5  # each step-down multiplies the rates by this
    floor: Optional[float] = None  # stop instead of stepping below this rate; None = starting rate / 20
    patience: int = 5  # stop after this many segments in a row without a new best; 0 = never
    budget: Optional[int] = None  # stop once this many steps were trained, redone ones included; None = no limit

    @property
    def window_steps(self) -> int:
        return self.window if self.window is not None else self.segment

    def csv_every(self) -> int:
        """How often the loss must be logged for about :data:`VALUES_PER_WINDOW` values per window (≤ K)."""
        return max(1, min(self.segment, self.window_steps) // VALUES_PER_WINDOW)

    def validated(self) -> "Knobs":
        """These knobs, or a DatasetError naming the first bad one."""
        def whole(value, label: str, minimum: int, example: str) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise DatasetError(f"The {label} must be a whole number of {minimum} or more, not {value!r}; "
                                   f"give e.g. {example}.")

        def number(value, label: str, ok: Callable[[float], bool], rule: str, example: str) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not ok(value):
                raise DatasetError(f"The {label} must be {rule}, not {value!r}; give e.g. {example}.")

        whole(self.segment, "segment length", 1, "500")
        if self.window is not None:
            whole(self.window, "smoothing window", 1, "500")
        number(self.tolerance, "tolerance", lambda v: v >= 0, "a number of 0 or more (0.2 allows a 20% rise)", "0.2")
        number(self.factor, "step-down factor", lambda v: 0 < v < 1, "a number between 0 and 1", "0.5")
        if self.floor is not None:
            number(self.floor, "rate floor", lambda v: v > 0, "a rate above 0", "0.00025")
        whole(self.patience, "patience", 0, "5")
        if self.budget is not None:
            whole(self.budget, "step budget", 1, "20000")
        return self


# --- the decision rules ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Standing:
    """What the supervisor knows between segments."""

    best_loss: Optional[float] = None  # None: no segment judged yet
    best_step: int = 0  # the step of the best copy (the start until a segment is judged)
    scale: float = 1.0  # factor ** step_downs
    step_downs: int = 0
    since_best: int = 0  # segments in a row without a new best
    trained: int = 0  # steps trained so far, redone ones included


@dataclass(frozen=True)
class Outcome:
    """One finished segment: it trained steps ``start+1 … end``; ``smoothed`` is the loss judged at ``end``."""

    start: int
    end: int
    smoothed: Smoothed


@dataclass(frozen=True)
class Decision:
    action: str  # CONTINUE, REVERT or STOP
    reason: str  # one sentence
    step: int  # the segment's end
    loss: Optional[float]  # the smoothed loss (None: not finite or nothing logged)
    rate: Optional[float]  # the rate in force at the segment's end
    next_rate: Optional[float]  # the rate the next segment starts at (None after a stop)
    restore_step: Optional[int]  # the best copy's step when it is restored (a revert, or a stop after a rise/NaN)
    improved: bool
    standing: Standing  # after this decision

    def line(self) -> str:
        loss = "-" if self.loss is None else f"{self.loss:.6g}"
        return f"step {self.step}  loss {loss}  {self.action}  {self.reason}"


def show_rate(rate: float) -> str:
    """A rate for people: Python's spelling, rounded to 6 significant digits (5e-06 / 20 shows as 2.5e-07)."""
    return format_rate(float(f"{rate:.6g}"))


def _g(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.4g}"


def decide(standing: Standing, outcome: Outcome, knobs: Knobs, rate_at: Callable[[int], Optional[float]],
           last_step: Optional[int], floor: float) -> Decision:
    """The supervisor's decision after one segment (pure: no files, no host).

    ``rate_at(step)`` is the user's schedule's rate for training step ``step`` (1-based) before any
    step-down; ``last_step`` the run's last step (None: unbounded); ``floor`` the resolved rate floor.
    """
    s, best, b = outcome.smoothed, standing.best_loss, standing.best_step
    trained = standing.trained + max(0, outcome.end - outcome.start)
    since = standing.since_best + 1
    base = rate_at(max(1, outcome.end))
    rate = None if base is None else base * standing.scale
    where = f"steps {outcome.start + 1}\u2013{outcome.end}"
    budget_spent = knobs.budget is not None and trained >= knobs.budget
    out_of_patience = knobs.patience > 0 and since >= knobs.patience

    def make(action: str, reason: str, next_rate: Optional[float], restore: Optional[int], new: Standing,
             improved: bool = False) -> Decision:
        return Decision(action, reason, outcome.end, s.value, rate, next_rate, restore, improved, new)

    bad = None
    if s.nonfinite:
        bad = (f"{s.nonfinite} of the {s.count} loss values logged in the last {knobs.window_steps} steps "
               f"({where}) are not finite (nan or inf)")
    elif s.value is not None and best is not None and s.value > best * (1 + knobs.tolerance):
        rise = (s.value / best - 1) * 100 if best > 0 else math.inf
        bad = (f"the smoothed loss {_g(s.value)} is {rise:.0f}% above the best, {_g(best)} at step {b}, "
               f"more than the {knobs.tolerance * 100:g}% tolerance")

    if bad:
        new_scale = standing.scale * knobs.factor
        base_next = rate_at(b + 1)
        next_rate = None if base_next is None else base_next * new_scale
        kept = replace(standing, since_best=since, trained=trained)
        if next_rate is None or next_rate < floor:
            below = "" if next_rate is None else f" to {show_rate(next_rate)}"
            return make(STOP, f"{bad[0].upper()}{bad[1:]}, and stepping the rate down{below} would take it below the "
                              f"floor {show_rate(floor)}, so training stops at the best copy (step {b}).",
                        None, b, kept)
        if budget_spent:
            return make(STOP, f"{bad[0].upper()}{bad[1:]}, and the budget of {knobs.budget} trained steps is spent, "
                              f"so training stops at the best copy (step {b}).", None, b, kept)
        if out_of_patience:
            return make(STOP, f"{bad[0].upper()}{bad[1:]}, and {since} segments in a row brought no improvement, so "
                              f"training stops at the best copy (step {b}).", None, b, kept)
        return make(REVERT, f"{bad[0].upper()}{bad[1:]}, so training goes back to the copy at step {b} and the rate "
                            f"steps down from {show_rate(rate) if rate is not None else '?'} to "
                            f"{show_rate(next_rate)}.",
                    next_rate, b, replace(kept, scale=new_scale, step_downs=standing.step_downs + 1))

    improved = s.value is not None and (best is None or s.value < best)
    if improved:
        what = (f"The smoothed loss {_g(s.value)} is the best so far"
                + ("" if best is None else f", down from {_g(best)} at step {b}"))
        new = replace(standing, best_loss=s.value, best_step=outcome.end, since_best=0, trained=trained)
    elif s.value is not None:
        what = (f"The smoothed loss {_g(s.value)} is within the {knobs.tolerance * 100:g}% tolerance of the best, "
                f"{_g(best)} at step {b}")
        new = replace(standing, since_best=since, trained=trained)
    else:
        what = f"No loss was logged in the last {knobs.window_steps} steps ({where}), so the segment could not be judged"
        new = replace(standing, since_best=since, trained=trained)
    next_rate = None
    if last_step is not None and outcome.end >= last_step:
        return make(STOP, f"{what}; the run reached its last step, {last_step}.", None, None, new, improved)
    if budget_spent:
        return make(STOP, f"{what}; the budget of {knobs.budget} trained steps is spent.", None, None, new, improved)
    if knobs.patience > 0 and new.since_best >= knobs.patience:
        return make(STOP, f"{what}; {new.since_best} segments in a row brought no improvement over step "
                          f"{new.best_step}.", None, None, new, improved)
    base_next = rate_at(outcome.end + 1)
    next_rate = None if base_next is None else base_next * standing.scale
    return make(CONTINUE, f"{what}.", next_rate, None, new, improved)


def default_floor(start_rate: float) -> float:
    return start_rate / FLOOR_DIVISOR


def schedule_rates(schedule, last_step: Optional[int]) -> Callable[[int], Optional[float]]:
    """``rate_at(step)`` for a schedule text or :class:`Schedule` in a run to ``last_step`` (the trainer's rates)."""
    run = plan(schedule, last_step, 0)
    return run.rate_at


def logged_rates(rows: Sequence[LossRow]) -> Callable[[int], Optional[float]]:
    """``rate_at(step)`` read from a loss log's learn_rate column: the rate logged at the first row at or after
    ``step`` (the last row's after the log ends)."""
    known = [row for row in rows if row.learn_rate is not None]
    if not known:
        raise DatasetError("The loss log has no learn_rate column to read the rates from; give the run's rate with "
                           "--rate or its schedule with --schedule.")
    steps = [row.step for row in known]

    def rate_at(step: int) -> Optional[float]:
        i = bisect.bisect_left(steps, step)
        return known[min(i, len(known) - 1)].learn_rate

    return rate_at


def scaled_schedule(schedule: Schedule, scale: float) -> str:
    """The schedule text with every rate multiplied by ``scale`` (``scale`` 1: the text as typed)."""
    if scale == 1.0:
        return schedule.text
    parts = []
    for item in schedule.items:
        text = format_rate(item.rate * scale)
        parts.append(text if item.step is None else f"{text}:{item.step}")
    return ", ".join(parts)


# --- replay ---------------------------------------------------------------------------------------------------------

@dataclass
class Replay:
    decisions: List[Decision]
    first_step: int
    last_step: int
    unjudged_steps: int  # steps of the log after a stop
    floor: float


def replay(rows: Sequence[LossRow], knobs: Knobs = Knobs(), schedule: Optional[str] = None) -> Replay:
    """The decisions the supervisor would take on an existing loss log, segment by segment.

    The log cannot be rewound: after a revert the log's next segment is judged as if it were the
    retrained one (against the kept best, at the stepped-down rate).  Rates come from ``schedule`` (a
    rate or schedule text) or else from the log's learn_rate column.  Stops at the first stop.
    """
    knobs = knobs.validated()
    rows = lineage(rows)
    if not rows:
        raise DatasetError("The loss log has no loss rows to replay; give the log of a run that trained for at "
                           "least one logged step.")
    first, last = rows[0].step, rows[-1].step
    start = (first - 1) // knobs.segment * knobs.segment if first > 0 else 0
    if schedule is not None:
        try:
            rate_at = schedule_rates(schedule, None)
        except DatasetError as exc:
            raise DatasetError(f"The learning-rate schedule is invalid: {str(exc).rstrip('.')}.") from None
    else:
        rate_at = logged_rates(rows)
    start_rate = rate_at(start + 1)
    floor = knobs.floor if knobs.floor is not None else default_floor(start_rate)
    standing = Standing(best_step=start)
    decisions: List[Decision] = []
    step = start
    while step < last:
        end = min(step + knobs.segment, last)
        outcome = Outcome(step, end, smooth(rows, end, knobs.window_steps))
        decision = decide(standing, outcome, knobs, rate_at, None, floor)
        decisions.append(decision)
        standing = decision.standing
        step = end
        if decision.action == STOP:
            break
    return Replay(decisions, first, last, last - step, floor)


# --- files ----------------------------------------------------------------------------------------------------------

def trainer_log_folder(log_directory, name: str, when: Optional[datetime.datetime] = None) -> Path:
    """The folder the web UI's trainer logs a run into: ``<log_directory>/<YYYY-MM-DD>/<name>``."""
    when = when or datetime.datetime.now()
    return Path(log_directory) / when.strftime("%Y-%m-%d") / name


def trainer_loss_csv(log_folder, kind: str) -> Path:
    return Path(log_folder) / loss_file_name(kind)


def copy_file(source, target) -> None:
    """Copy ``source`` to ``target`` atomically, with its ``.optim`` sidecar (the web UI's optimizer state) when
    there is one; a stale sidecar of ``target`` is removed so it never pairs with the wrong weights."""
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, atomic_open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    optim, target_optim = Path(f"{source}.optim"), Path(f"{target}.optim")
    if optim.exists():
        with open(optim, "rb") as src, atomic_open(target_optim, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
    else:
        with contextlib.suppress(FileNotFoundError):
            target_optim.unlink()


def restore_file(copy, current) -> None:
    """Put a kept copy back as the current embedding/hypernetwork file (atomic; the host then reloads it)."""
    copy_file(copy, current)


def _remove_copy(path: Path) -> None:
    for item in (path, Path(f"{path}.optim")):
        with contextlib.suppress(FileNotFoundError):
            item.unlink()


# --- the host and the run -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentResult:
    """What the host reports after one call of the web UI's train function."""

    step: int  # the step the embedding/hypernetwork is at after the call (the step ``current_file`` holds)
    loss_csv: Path  # the trainer's loss log for this run
    current_file: Path  # the embedding/hypernetwork file the trainer saved at the end (embeddings_dir/<name>.pt)
    log_folder: Optional[Path] = None  # <log_directory>/<YYYY-MM-DD>/<name>, as the trainer made it
    copy: Optional[Path] = None  # the trainer's own last saved copy, if any (for display)
    preview: Optional[Path] = None  # the last preview image, if any (for display)


@dataclass
class TrainerHooks:
    """What the supervisor needs from the web UI (or a test stand-in)."""

    #: Call the web UI's train function with ``request.webui_kwargs()``; the supervisor has already set
    #: ``request.learn_rate = rate`` and ``request.steps = end_step``.  Returns where things are afterwards.
    train_segment: Callable[[TrainRequest, str, int], SegmentResult]
    #: Make the kept copy at this path the current embedding/hypernetwork (e.g. :func:`restore_file`) and reload it.
    restore_copy: Callable[[Path], None]
    #: Set ``opts.training_write_csv_every`` to ``n``; return the value it had.
    set_csv_every: Callable[[int], int]
    #: The step the embedding/hypernetwork is at now (its saved ``step``; 0 when new).
    current_step: Callable[[], int]
    #: The current embedding/hypernetwork file (``embeddings_dir/<name>.pt`` or ``hypernetwork_dir/<name>.pt``).
    current_file: Callable[[], Path]


@dataclass
class RunSummary:
    decisions: List[Decision] = field(default_factory=list)
    start_step: int = 0
    final_step: int = 0
    best_step: int = 0
    best_loss: Optional[float] = None
    best_copy: Optional[Path] = None
    journal: Optional[Path] = None
    log_folder: Optional[Path] = None
    results: List[SegmentResult] = field(default_factory=list)


class Supervisor:
    """Drives a supervised run through :class:`TrainerHooks`; :meth:`run` returns a :class:`RunSummary`."""

    def __init__(self, request: TrainRequest, host: TrainerHooks, knobs: Knobs = Knobs(), progress: Optional[Progress] = None,
                 now: Callable[[], datetime.datetime] = datetime.datetime.now,
                 on_decision: Optional[Callable[[Decision, SegmentResult], None]] = None):
        self.request = request
        self.host = host
        self.knobs = knobs
        self.progress = progress or Progress()
        self.now = now
        self.on_decision = on_decision
        self.summary = RunSummary()

    # journal ---------------------------------------------------------------------------------------------------
    def _record(self, event: str, **fields) -> None:
        record = {"time": self.now().isoformat(timespec="seconds"), "event": event, **fields}
        line = json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
        journal = self.summary.journal
        journal.parent.mkdir(parents=True, exist_ok=True)
        with open(journal, "a", encoding="utf-8") as fh:  # one whole line per write: appends never interleave
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def _pin(self, step: int, source: Path) -> Path:
        """Keep a copy of ``source`` (the file at ``step``) as the best copy; the previous best copy goes."""
        target = self.summary.log_folder / PINS / f"{self.request.name}-{step}.pt"
        previous = self.summary.best_copy
        try:
            copy_file(source, target)
        except OSError as exc:
            reason = (exc.strerror or exc.__class__.__name__).lower()
            raise DatasetError(f"Cannot keep a copy of {source} in {target.parent} ({reason}); check that the "
                               f"{self.request.kind} file exists and the log folder is writable.") from None
        if previous is not None and previous != target:
            _remove_copy(previous)
        self.summary.best_copy = target
        return target

    # the run ---------------------------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        knobs = self.knobs.validated()
        request, host, summary = self.request, self.host, self.summary
        try:
            schedule = parse(request.learn_rate)
        except DatasetError as exc:
            raise DatasetError(f"The learning-rate schedule is invalid: {str(exc).rstrip('.')}.") from None
        start = int(host.current_step() or 0)
        max_steps = _as_whole(request.steps)
        if max_steps is None or max_steps < 1:
            raise DatasetError(f"Max steps must be a whole number of 1 or more, not {request.steps!r}; enter e.g. 10000.")
        last_step = plan(schedule, max_steps, start).last_step  # DatasetError when the web UI would refuse the run
        rate_at = schedule_rates(schedule, max_steps)
        start_rate = rate_at(start + 1)
        floor = knobs.floor if knobs.floor is not None else default_floor(start_rate)

        summary.start_step = summary.final_step = summary.best_step = start
        summary.log_folder = trainer_log_folder(request.log_directory, request.name, self.now())
        summary.journal = summary.log_folder / JOURNAL
        standing = Standing(best_step=start)
        csv_every = knobs.csv_every()
        previous_csv_every = host.set_csv_every(csv_every)
        step = start
        try:
            self._pin(start, Path(host.current_file()))
            self._record("start", name=request.name, kind=request.kind, schedule=schedule.text, start_step=start,
                         last_step=last_step, segment=knobs.segment, window=knobs.window_steps,
                         tolerance=knobs.tolerance, factor=knobs.factor, floor=floor, patience=knobs.patience,
                         budget=knobs.budget, csv_every=csv_every, previous_csv_every=previous_csv_every,
                         best_copy=str(summary.best_copy))
            self.progress.start(last_step - start, f"supervised training of {request.name}")
            reached = start
            while True:
                self.progress.check()
                end = min(step + knobs.segment, last_step)
                rate_text = scaled_schedule(schedule, standing.scale)
                segment_request = replace(request, learn_rate=rate_text, steps=end)
                result = host.train_segment(segment_request, rate_text, end)
                summary.results.append(result)
                if result.step <= step:
                    raise DatasetError(
                        f"The web UI's trainer returned at step {result.step} without training past step {step} "
                        "(it reports the cause, such as an error in its first step, only in its console); fix what "
                        "the console shows and start the run again.")
                if result.step < end:
                    if self.progress.cancelled:
                        raise Cancelled()
                    raise DatasetError(
                        f"The web UI's trainer stopped at step {result.step}, before the segment's end at step {end}, "
                        "without being asked to (see its console for the error); fix that and start the run again.")
                if result.step > reached:
                    self.progress.advance(result.step - reached)
                    reached = result.step
                log = read_loss_log(result.loss_csv, missing_ok=True)
                rows = lineage(log.rows)
                outcome = Outcome(step, result.step, smooth(rows, result.step, knobs.window_steps))
                decision = decide(standing, outcome, knobs, rate_at, last_step, floor)
                copy = None
                if decision.improved:
                    copy = self._pin(result.step, Path(result.current_file))
                standing = decision.standing
                restored = None
                if decision.restore_step is not None:
                    host.restore_copy(summary.best_copy)
                    restored = summary.best_copy
                    now_at = int(host.current_step() or 0)
                    if now_at != decision.restore_step:
                        raise DatasetError(
                            f"After restoring the best copy (step {decision.restore_step}) the web UI reports step "
                            f"{now_at}, so it did not take the copy; reload its embeddings or hypernetworks and "
                            f"restore {summary.best_copy} by hand.")
                    step = decision.restore_step
                else:
                    step = result.step
                summary.decisions.append(decision)
                summary.final_step = step
                summary.best_step, summary.best_loss = standing.best_step, standing.best_loss
                self._record("decision", segment=len(summary.decisions), start=outcome.start, end=result.step,
                             rate=rate_text, rate_at_end=decision.rate, smoothed_loss=_finite(decision.loss),
                             values=outcome.smoothed.count, nonfinite=outcome.smoothed.nonfinite,
                             decision=decision.action, reason=decision.reason, next_rate=decision.next_rate,
                             best_step=standing.best_step, best_loss=_finite(standing.best_loss),
                             best_copy=str(summary.best_copy), kept_copy=str(copy) if copy else None,
                             restored=str(restored) if restored else None, step_downs=standing.step_downs,
                             trained=standing.trained, loss_csv=str(result.loss_csv),
                             trainer_copy=str(result.copy) if result.copy else None,
                             preview=str(result.preview) if result.preview else None)
                if self.on_decision is not None:
                    self.on_decision(decision, result)
                if decision.action == STOP:
                    break
        except BaseException as exc:
            if summary.journal is not None and summary.log_folder is not None:
                with contextlib.suppress(Exception):
                    event = "cancelled" if isinstance(exc, (Cancelled, KeyboardInterrupt)) else "error"
                    self._record(event, step=step, reason=str(exc) or exc.__class__.__name__)
            raise
        finally:
            host.set_csv_every(previous_csv_every)
            self.progress.close()
        return summary


def _finite(value: Optional[float]) -> Optional[float]:
    return value if value is not None and math.isfinite(value) else None
