"""The run registry: a training run that lives apart from any page, one at a time, followed by its id."""

import logging
import threading
import time

import pytest

from sd_dataset.errors import Cancelled, DatasetError
from sd_dataset.runs import FAILED, FINISHED, INTERRUPTED, NOT_STARTED, RunRefused, RunRegistry


def ended(runs: RunRegistry, run_id: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    view = runs.wait(run_id, -1, 0)
    while view.running:
        assert time.monotonic() < deadline, view.text()
        view = runs.wait(run_id, view.version, 1)
    return view


class Gate:
    """A run's work that reports, then waits until the test opens the gate."""

    def __init__(self, result=FINISHED, raises=None):
        self.result, self.raises = result, raises
        self.inside, self.open = threading.Event(), threading.Event()
        self.progress = None

    def __call__(self, run):
        self.progress = run.progress()
        run.say("checked: ready")
        self.progress.start(10, "training")
        self.progress.advance(3)
        self.inside.set()
        assert self.open.wait(20)
        if self.raises is not None:
            raise self.raises
        return self.result


def test_a_page_that_comes_later_sees_the_run_so_far_and_then_its_end():
    runs, gate = RunRegistry(), Gate()
    started = runs.start("embedding", "panda", gate)
    assert gate.inside.wait(20)
    later = runs.wait(None, -1, 0)  # a page loading now knows no id: it asks for the latest run
    assert later.id == started.id and later.running
    assert later.text().splitlines() == [f"running: the embedding panda, run started at {started.started:%H:%M:%S}: "
                                         "3 of 10 steps", "checked: ready"]
    assert runs.wait(started.id, later.version, 0.05).version == later.version  # nothing new: as it was
    gate.open.set()
    view = ended(runs, started.id)
    assert view.state == FINISHED and view.headline().startswith("finished: the embedding panda")
    assert later.running and later.lines == ("checked: ready",)  # a view is a copy: it never changes under a page


def test_a_second_start_while_one_runs_is_refused_and_the_running_one_says_so():
    runs, gate = RunRegistry(), Gate()
    first = runs.start("embedding", "panda", gate)
    assert gate.inside.wait(20)
    second = Gate()
    with pytest.raises(RunRefused) as refused:
        runs.start("hypernetwork", "other", second)
    assert refused.value.run_id == first.id
    assert str(refused.value).startswith("A training run is going already (the embedding panda, started at ")
    assert "press Interrupt" in str(refused.value)
    assert not second.inside.is_set()  # the refused work never ran
    assert runs.latest().lines[-1].endswith("another Train was refused: one run at a time")
    gate.open.set()
    assert ended(runs, first.id).state == FINISHED
    after = Gate()
    after.open.set()
    again = runs.start("embedding", "panda", after)  # once it has ended, a new run may start
    assert again.id != first.id and ended(runs, again.id).state == FINISHED
    assert runs.wait(first.id, -1, 0) is None  # the old run is gone: a page following it stops


def test_interrupt_reaches_the_running_run_only():
    runs = RunRegistry()
    assert runs.interrupt() == "nothing to interrupt: no training run is going"
    gate = Gate()
    run = runs.start("embedding", "panda", gate)
    assert gate.inside.wait(20)
    text = runs.interrupt()
    assert gate.progress.cancelled and "Interrupt pressed" in text.splitlines()[-1]
    gate.result = INTERRUPTED
    gate.open.set()
    assert ended(runs, run.id).state == INTERRUPTED
    assert runs.interrupt() == "nothing to interrupt: no training run is going"  # the ended run is not asked again
    follower = Gate()
    follower.open.set()
    assert ended(runs, runs.start("embedding", "panda", follower).id).state == FINISHED
    assert not follower.progress.cancelled  # a fresh run has a fresh event


@pytest.mark.parametrize("raised, state, line", [
    (DatasetError("The web UI refused to train the embedding (no images); fix that and start again."), FAILED,
     "error: The web UI refused to train the embedding (no images); fix that and start again."),
    (Cancelled(), INTERRUPTED, "Cancelled by the user; a rerun finishes what is not done."),
])
def test_a_run_that_raises_ends_with_its_sentence(raised, state, line):
    runs, gate = RunRegistry(), Gate(raises=raised)
    gate.open.set()
    view = ended(runs, runs.start("embedding", "panda", gate).id)
    assert (view.state, view.lines[-1]) == (state, line)


def test_an_unexpected_exception_ends_the_run_with_one_sentence_and_its_traceback_in_the_console(caplog):
    runs, gate = RunRegistry(), Gate(raises=KeyError("panda"))
    gate.open.set()
    with caplog.at_level(logging.ERROR, logger="sd_dataset.runs"):
        view = ended(runs, runs.start("embedding", "panda", gate).id)
    assert view.state == FAILED
    assert view.lines[-1] == ("error: Training stopped on an unexpected error (KeyError: 'panda'); the console shows "
                              "where it happened: try again, and if it happens again, report it with what the console "
                              "shows.")
    [record] = [r for r in caplog.records if r.name == "sd_dataset.runs"]
    assert record.exc_info[0] is KeyError  # the traceback goes to the console


def test_a_run_that_did_not_start_says_so_in_its_headline():
    runs = RunRegistry()
    run = runs.start("embedding", "panda", lambda run: run.say("training not started: fix the errors above first")
                     or NOT_STARTED)
    view = ended(runs, run.id)
    assert view.headline().startswith("not started: the embedding panda") and view.lines[-1].startswith("training not")
