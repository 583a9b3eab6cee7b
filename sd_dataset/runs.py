"""The tab's training run, kept apart from any page, so that a reload or a second window finds it.

Training takes minutes to hours, and a page may reload, close or open twice meanwhile.  So a run goes in a thread of
its own, and what a page shows of it lives in a :class:`Run` held by a :class:`RunRegistry` (one per web UI process:
it outlives the tab's Blocks): the run's record (id, kind, name, when it started), its log lines, its progress, the
supervisor's decisions and previews, and how it ended.  A page follows a run by its id (:meth:`RunRegistry.wait`) and
Interrupt sets that run's own cancel event.  One run at a time: the web UI trains one thing at a time anyway, and a
second run queued behind the first would start from wherever the first left the file, so a second start while one runs
is refused with a sentence (and the refusal shows in the running run's log).
"""

from __future__ import annotations

import datetime
import logging
import secrets
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Tuple

from .errors import Cancelled, DatasetError, unexpected_error
from .progress import Progress

RUNNING, FINISHED, NOT_STARTED, INTERRUPTED, FAILED = "running", "finished", "not started", "interrupted", "failed"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunView:
    """A run as it was at one moment: pages read these while the run goes on."""

    id: str
    kind: str
    name: str
    started: datetime.datetime
    window: Optional[int] = None  # supervised runs: the supervisor's smoothing window, for the chart
    state: str = RUNNING
    lines: Tuple[str, ...] = ()
    total: Optional[int] = None  # steps this run trains (None: not known yet)
    done: int = 0
    desc: str = ""  # what the run does now, while its total is not known
    decisions: Tuple = ()  # the supervisor's decisions, in order
    loss_csv: Optional[Path] = None  # the loss log the last decision read
    previews: Tuple[Tuple[str, str], ...] = ()  # (image, caption) after each segment that made one
    version: int = 0  # grows with every change

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def headline(self) -> str:
        head = f"{self.state}: the {self.kind} {self.name}, run started at {self.started:%H:%M:%S}"
        if not self.running:
            return head
        if self.total is not None:
            return f"{head}: {self.done} of {self.total} steps"
        return f"{head}: {self.desc}" if self.desc else head

    def text(self) -> str:
        return "\n".join((self.headline(), *self.lines))


class RunRefused(DatasetError):
    """A run was asked for while another one runs; ``run_id`` is the running one."""

    def __init__(self, message: str, run_id: str):
        super().__init__(message)
        self.run_id = run_id


class Run:
    """A run's live state: the training thread changes it, pages read :meth:`view`."""

    def __init__(self, view: RunView, changed: threading.Condition):
        self._view = view
        self._changed = changed
        self.cancel_event = threading.Event()

    def _change(self, changes: Callable[[RunView], dict]) -> None:
        with self._changed:
            self._view = replace(self._view, version=self._view.version + 1, **changes(self._view))
            self._changed.notify_all()

    def view(self) -> RunView:
        with self._changed:
            return self._view

    def say(self, *lines: str) -> None:
        """Add lines to the run's log."""
        self._change(lambda view: {"lines": view.lines + lines})

    def add_decision(self, decision, result) -> None:
        """The supervisor's ``on_decision``: one more decision, the loss log it read and its preview, if any."""
        preview = ((str(result.preview), f"step {decision.step}: {decision.action}"),) if result.preview else ()
        self._change(lambda view: {"decisions": view.decisions + (decision,), "loss_csv": result.loss_csv,
                                   "previews": view.previews + preview})

    def progress(self) -> Progress:
        """A :class:`Progress` that shows in this run's view and stops when its Interrupt is pressed."""
        return _RunProgress(self)

    def end(self, state: str, *lines: str) -> None:
        self._change(lambda view: {"state": state, "lines": view.lines + lines})


class _RunProgress(Progress):
    def __init__(self, run: Run):
        super().__init__(run.cancel_event)
        self._run = run

    def start(self, total, desc):
        super().start(total, desc)
        self._run._change(lambda view: {"total": total, "done": 0, "desc": desc})

    def advance(self, n=1):
        super().advance(n)
        done = self.done
        self._run._change(lambda view: {"done": done})

    def set_total(self, total):
        super().set_total(total)
        self._run._change(lambda view: {"total": total})


#: What a run does: it reports through the :class:`Run` and returns the state it ended in (FINISHED, NOT_STARTED or
#: INTERRUPTED); a DatasetError it raises ends it as FAILED (Cancelled: INTERRUPTED) with its sentence.
Work = Callable[[Run], str]


class RunRegistry:
    """The current, or else the last, training run of a process."""

    def __init__(self):
        self._changed = threading.Condition()
        self._run: Optional[Run] = None

    def start(self, kind: str, name: str, work: Work, window: Optional[int] = None) -> RunView:
        """Start ``work`` in a thread of its own as the new run; RunRefused while another run is running."""
        with self._changed:
            current = self._run.view() if self._run is not None else None
            if current is not None and current.running:
                self._run.say(f"{datetime.datetime.now():%H:%M:%S} another Train was refused: one run at a time")
                raise RunRefused(f"A training run is going already (the {current.kind} {current.name}, started at "
                                 f"{current.started:%H:%M:%S}), so this Train is refused: wait for that run's result "
                                 "here, or press Interrupt and train again.", current.id)
            run = Run(RunView(id=secrets.token_hex(6), kind=kind, name=name, started=datetime.datetime.now(),
                              window=window), self._changed)
            self._run = run
        threading.Thread(target=self._execute, args=(run, work), name=f"sd_dataset training {name}",
                         daemon=True).start()
        return run.view()

    @staticmethod
    def _execute(run: Run, work: Work) -> None:
        try:
            state = work(run)
        except Cancelled as exc:
            run.end(INTERRUPTED, str(exc))
        except DatasetError as exc:
            run.end(FAILED, f"error: {exc}")
        except Exception as exc:  # the run's thread is the last place to catch it: its page must not wait forever
            log.error("The Dataset tab's training run of %s failed", run.view().name, exc_info=True)
            run.end(FAILED, f"error: {unexpected_error('Training', exc)}")
        else:
            run.end(state)

    def latest(self) -> Optional[RunView]:
        with self._changed:
            return self._run.view() if self._run is not None else None

    def wait(self, run_id: Optional[str], version: int, timeout: float) -> Optional[RunView]:
        """The run ``run_id`` (None: the latest) as soon as its version is past ``version`` or it has ended, else
        after ``timeout`` seconds as it is; None when there is no such run (a newer one replaced it)."""
        with self._changed:
            def ready() -> bool:
                run = self._run
                return run is None or (run_id is not None and run.view().id != run_id) \
                    or run.view().version > version or not run.view().running

            self._changed.wait_for(ready, timeout)
            view = self.latest()
            return view if view is not None and run_id in (None, view.id) else None

    def interrupt(self) -> str:
        """Ask the running run to stop after its current step; what its log shows then."""
        with self._changed:
            run = self._run
            if run is None or not run.view().running:
                return "nothing to interrupt: no training run is going"
            run.cancel_event.set()
            run.say(f"{datetime.datetime.now():%H:%M:%S} Interrupt pressed: the trainer stops after its current "
                    "step and saves")
            return run.view().text()
