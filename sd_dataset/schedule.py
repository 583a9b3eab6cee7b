"""The web UI's learning-rate schedule grammar: parse, validate, explain; and presets.

The web UI's textual-inversion and hypernetwork trainers take their learning
rate (and gradient-clip value) as a text such as ``0.005:100, 1e-3:1000, 1e-5``:
comma-separated items, each ``rate:step`` ("this rate until step") or a bare
``rate`` ("this rate to the end"); a step of ``-1`` also means "to the end".
Facts about how the web UI reads it (``LearnScheduleIterator`` and
``LearnRateScheduler`` in A1111 1.x), which this module follows step for step:

* items are split on ``,``; blank items are ignored; rate is read with
  ``float()``, step with ``int()`` (so ``1e3`` is not a step);
* on resume at step ``cur`` an item whose step is ``<= cur`` is skipped (``-1``
  excepted); an item whose step is past the run's last step is cut to it and
  ends the schedule; a bare rate or ``-1`` runs to the last step and ends it;
* training stops when the last item ends, even before the requested steps;
* the trainer moves to the next item once per step, so an item that ends at or
  before where it starts still trains exactly one step; in particular an item
  ending exactly on the last step, followed by more items, makes the web UI
  train one step past the requested count.

The web UI accepts some texts that are almost certainly typos (items after an
open end, steps going backwards, a step of 0, a rate of 0, ``nan``); here they
are refused with one sentence naming the item.  Every schedule accepted here is
read by the web UI exactly as explained by :func:`plan`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .errors import DatasetError

TO_THE_END = -1
EXAMPLE = "0.005:1000, 0.0005"


def format_rate(rate: float) -> str:
    """A rate the way Python (and the web UI's own log) prints it: ``0.005``, ``5e-06``."""
    return repr(float(rate))


@dataclass(frozen=True)
class Item:
    """One comma item as written: a rate, and the step it runs until (None for a bare rate)."""

    text: str
    rate: float
    step: Optional[int] = None

    @property
    def open_ended(self) -> bool:
        """True for a bare rate or ``rate:-1``: runs to the last step."""
        return self.step is None or self.step == TO_THE_END


@dataclass(frozen=True)
class Schedule:
    """A parsed, valid schedule text."""

    text: str
    items: Tuple[Item, ...]

    @property
    def open_ended(self) -> bool:
        """True when the last item runs to the end, whatever the step count."""
        return self.items[-1].open_ended

    @property
    def last_fixed_step(self) -> Optional[int]:
        """The largest step written in the schedule (None when no item has one)."""
        steps = [item.step for item in self.items if not item.open_ended]
        return max(steps) if steps else None


@dataclass(frozen=True)
class Phase:
    """Training steps ``first``…``last`` (1-based, inclusive) run at ``rate``; ``last`` None = to the end."""

    rate: float
    first: int
    last: Optional[int]

    @property
    def length(self) -> Optional[int]:
        return None if self.last is None else self.last - self.first + 1

    def line(self) -> str:
        last = "end" if self.last is None else str(self.last)
        return f"steps {self.first}\u2013{last}: {format_rate(self.rate)}"


@dataclass(frozen=True)
class Plan:
    """What the web UI's trainer does with a schedule for a given run."""

    schedule: Schedule
    steps: Optional[int]
    resume_from: int
    phases: Tuple[Phase, ...]
    warnings: Tuple[str, ...]

    @property
    def last_step(self) -> Optional[int]:
        """The last step the trainer runs (None: to the end of an unbounded run)."""
        return self.phases[-1].last

    @property
    def ends_early(self) -> bool:
        """True when training stops before the requested step count."""
        return self.steps is not None and self.last_step is not None and self.last_step < self.steps

    def rate_at(self, step: int) -> Optional[float]:
        """The rate used for training step ``step`` (1-based), or None when that step is not trained."""
        for phase in self.phases:
            if phase.first <= step and (phase.last is None or step <= phase.last):
                return phase.rate
        return None

    def lines(self) -> List[str]:
        """The explanation table: one ``steps A–B: RATE`` line per phase."""
        return [phase.line() for phase in self.phases]


@dataclass(frozen=True)
class Preset:
    key: str
    kind: str  # "embedding" or "hypernetwork"
    schedule: str
    why: str


PRESETS: Tuple[Preset, ...] = (
    Preset("embedding-default", "embedding", "0.005",
           "The web UI's own default for embeddings: a good first try and fine for short runs."),
    Preset("embedding-cautious", "embedding", "0.0005",
           "Ten times lower than the default: slower, but far less likely to overshoot on a long run."),
    Preset("embedding-stepped", "embedding", "0.005:25000, 0.0005:75000, 0.0003",
           "The guide's ~100k-step embedding runs, 0.005 then 0.0005 then 0.0003 (the switch at 25k and 75k is ours)."),
    Preset("hypernetwork-guide", "hypernetwork",
           "0.000005:1000,0.0000025:10000,0.00000075:20000,0.0000005:30000,0.00000025:-1",
           "The guide's hypernetwork schedule: 5e-06 to start, stepping down to 2.5e-07 from step 30k to the end."),
    Preset("hypernetwork-cautious", "hypernetwork",
           "0.000005:2500, 0.0000025:20000, 0.0000001:40000, 0.00000001",
           "Lower and longer than the guide's, for datasets where the guide's hypernetwork schedule overfits early."),
)


CUSTOM = "custom"  # what the tab's preset shows for a schedule no preset has
_NAME_LIKE = re.compile(r"\s*[A-Za-z][\w-]*\s*")  # a word, not a rate: "embedding-default", "hypernetwork"


def preset(key: str) -> Preset:
    """The preset named ``key`` or a DatasetError listing the names."""
    for candidate in PRESETS:
        if candidate.key == key:
            return candidate
    names = ", ".join(p.key for p in PRESETS)
    raise DatasetError(f'Unknown schedule preset "{key}"; known: {names}.')


def default_preset(kind: str) -> Preset:
    """The first preset for ``kind`` (embedding or hypernetwork)."""
    return next(p for p in PRESETS if p.kind == kind)


def preset_of(text: str) -> Optional[Preset]:
    """The preset whose schedule ``text`` is (spaces aside), or None for a schedule of one's own."""
    written = re.sub(r"\s+", "", str(text or ""))
    return next((p for p in PRESETS if re.sub(r"\s+", "", p.schedule) == written), None)


def schedule_or_preset(text: str) -> str:
    """A schedule text, a preset's name standing for its schedule; a word that names no preset is refused as an
    unknown preset (a misspelled name is no rate)."""
    if _NAME_LIKE.fullmatch(str(text or "")) and str(text).strip().lower() not in ("nan", "inf", "infinity"):
        return preset(str(text).strip()).schedule
    return text


def _bad(item: str, problem: str) -> DatasetError:
    return DatasetError(f'"{item}": {problem}.')


def _parse_rate(raw: str, item: str) -> float:
    try:
        rate = float(raw)
    except ValueError:
        raise _bad(item, "rate must be a number such as 0.005") from None
    if not math.isfinite(rate):
        raise _bad(item, "rate must be a finite number such as 0.005")
    if rate <= 0:
        raise _bad(item, "rate must be greater than 0")
    return rate


def _parse_step(raw: str, item: str) -> int:
    try:
        step = int(raw)
    except ValueError:
        if re.fullmatch(r"\s*\d+(\.\d*)?[eE][+-]?\d+\s*", raw) or re.fullmatch(r"\s*\d+\.\d*\s*", raw):
            raise _bad(item, "step must be a whole number, written out (e.g. 1000, not 1e3 or 1000.0)") from None
        raise _bad(item, "step must be a whole number, such as 1000") from None
    if step == TO_THE_END:
        return step
    if step <= 0:
        raise _bad(item, 'step must be a whole number above 0, or -1 for "to the end"')
    return step


def parse(text: str) -> Schedule:
    """Parse and validate a schedule text; a DatasetError names the first bad item."""
    if text is None or not str(text).strip(" ,\t\r\n"):
        raise DatasetError(f'The schedule is empty; enter a rate such as 0.005, or rate:step items such as "{EXAMPLE}".')
    text = str(text)
    items: List[Item] = []
    for raw_item in text.split(","):
        item = raw_item.strip()
        if not item:
            continue  # the web UI skips blank items too ("0.005:100,,0.001", a trailing comma)
        if items and items[-1].open_ended:
            raise _bad(item, f'comes after "{items[-1].text}", which already runs to the end; '
                             f'remove it or give "{items[-1].text}" a step')
        parts = item.split(":")
        if len(parts) > 2:
            raise _bad(item, "use one colon, between the rate and the step")
        if len(parts) == 1:
            if items and re.fullmatch(r"\d{3}", item):
                raise _bad(item, "looks like the rest of a step split by a comma; commas separate items, so write "
                                 "steps without thousands separators (1000, not 1,000)")
            items.append(Item(item, _parse_rate(parts[0], item)))
            continue
        rate = _parse_rate(parts[0], item)
        step = _parse_step(parts[1], item)
        if step != TO_THE_END and items and step <= items[-1].step:
            raise _bad(item, f"step must be larger than the step before it ({items[-1].step})")
        items.append(Item(item, rate, step))
    return Schedule(text, tuple(items))


def _whole(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise DatasetError(f"{what} must be a whole number, not {value!r}; give e.g. 1000.")
    if value < minimum:
        raise DatasetError(f"{what} must be at least {minimum}, not {value}; give e.g. 1000.")
    return value


def plan(schedule, steps: Optional[int] = None, resume_from: int = 0) -> Plan:
    """The phases the web UI trains for ``schedule`` over ``steps`` (None: unbounded), resuming after ``resume_from``.

    ``schedule`` is a text or a parsed :class:`Schedule`.  Raises DatasetError
    when the web UI would refuse the run: nothing left after the resume point.
    """
    if not isinstance(schedule, Schedule):
        schedule = parse(schedule)
    if steps is not None:
        steps = _whole(steps, "The step count", 1)
    resume_from = _whole(resume_from or 0, "The resume step", 0)
    if steps is not None and resume_from >= steps:
        raise DatasetError(f"Training resumes at step {resume_from}, which leaves nothing to do in a {steps}-step run; "
                           f"ask for more than {resume_from} steps.")

    phases: List[Phase] = []
    warnings: List[str] = []
    done = resume_from  # steps trained so far
    for item in schedule.items:
        if item.open_ended:
            end = steps
        elif item.step <= resume_from:
            continue  # already passed: the web UI skips it on resume
        else:
            end = item.step if steps is None else min(item.step, steps)
        first = done + 1
        last = None if end is None else max(end, first)
        if steps is not None and last > steps:
            warnings.append(
                f'"{item.text}" starts after step {steps}, the last requested step, yet the web UI trains one more '
                f"step ({last}) at {format_rate(item.rate)} because the item before it ends exactly on step {steps}; "
                f"give that item a later step or remove what follows it.")
        phases.append(Phase(item.rate, first, last))
        if last is None or item.open_ended or (steps is not None and item.step > steps):
            break
        done = last

    if not phases:
        raise DatasetError(
            f'Every step in the schedule "{schedule.text.strip()}" is at or before step {resume_from}, where training '
            f"resumes, so the web UI refuses it; add a later item or end the schedule with a bare rate.")
    result = Plan(schedule, steps, resume_from, tuple(phases), tuple(warnings))
    if result.ends_early:
        warnings.insert(0, f"The schedule ends at step {result.last_step}, before the {steps} steps asked for, so the "
                           f"web UI stops training there; add a final bare rate (e.g. "
                           f'"{format_rate(phases[-1].rate)}") to train to step {steps}.')
        result = Plan(schedule, steps, resume_from, tuple(phases), tuple(warnings))
    return result


def explain(schedule, steps: Optional[int] = None, resume_from: int = 0) -> List[str]:
    """The table lines for a schedule (see :meth:`Plan.lines`)."""
    return plan(schedule, steps, resume_from).lines()
