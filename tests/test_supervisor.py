import json
import math
import re
import statistics
from pathlib import Path

import pytest

from fake_trainer import FakeTrainer, fake_host, read_state
from sd_dataset.cli import main
from sd_dataset.errors import Cancelled, DatasetError
from sd_dataset.lossfile import LossRow, lineage, parse_loss_text, read_loss_log, rolling_median, smooth
from sd_dataset.progress import Progress
from sd_dataset.supervisor import (CONTINUE, JOURNAL, REVERT, STOP, Knobs, Outcome, Standing, Supervisor, decide,
                                   replay, scaled_schedule, trainer_log_folder)
from sd_dataset.schedule import parse
from sd_dataset.training import TrainRequest

NOISE = (0.8, 1.25, 1.0, 0.9, 1.1, 0.7, 1.3)  # deterministic, median 1.0


def one_sentence(text):
    return text.endswith(".") and "\n" not in text and not re.search(r"[.;] [A-Z]", text)


def rows_from(curve, last, rate=0.005):
    return [LossRow(step, curve(step), rate) for step in range(1, last + 1)]


def noisy(base):
    return lambda step: base(step) * NOISE[step % len(NOISE)]


def actions(result):
    return [(d.step, d.action) for d in result.decisions]


# --- decision rules on synthetic curves ------------------------------------------------------------------------------

def test_steady_decrease_continues_and_improves_every_segment():
    result = replay(rows_from(noisy(lambda s: 0.1 + 0.4 / (1 + s / 500)), 3000), Knobs())
    assert actions(result) == [(500 * i, CONTINUE) for i in range(1, 7)]
    assert all(d.improved for d in result.decisions)
    assert result.decisions[-1].standing.best_step == 3000
    assert "best so far" in result.decisions[1].reason and "down from" in result.decisions[1].reason


def test_a_short_spike_does_not_move_the_median():
    def curve(step):
        loss = 0.1 + 0.4 / (1 + step / 500)
        return loss * 10 if 1200 <= step < 1260 else loss  # 60 wild steps in the third segment

    result = replay(rows_from(noisy(curve), 3000), Knobs())
    assert actions(result) == [(500 * i, CONTINUE) for i in range(1, 7)]
    assert all(d.improved for d in result.decisions)


def test_a_longer_spike_reverts():
    def curve(step):
        return 0.3 * 10 if 1100 <= step <= 1500 else 0.3 - step * 1e-5

    result = replay(rows_from(curve, 2000), Knobs())
    assert actions(result) == [(500, CONTINUE), (1000, CONTINUE), (1500, REVERT), (2000, CONTINUE)]
    revert = result.decisions[2]
    assert revert.restore_step == 1000 and revert.rate == 0.005 and revert.next_rate == 0.0025
    assert "tolerance" in revert.reason and "step 1000" in revert.reason


def test_slow_rise_reverts_once_past_the_tolerance():
    def curve(step):  # down to 0.35 at step 1000, flat to step 1500, then up 6% per 500 steps
        if step <= 1000:
            return 0.5 - step * 1.5e-4
        return 0.35 if step <= 1500 else 0.35 * (1 + 0.06 * (step - 1500) / 500)

    result = replay(rows_from(curve, 4000), Knobs())
    # medians: 2000: +3%, 2500: +9%, 3000: +15%, 3500: +21% > 20% → revert to step 1500
    assert actions(result)[:6] == [(500, CONTINUE), (1000, CONTINUE), (1500, CONTINUE), (2000, CONTINUE),
                                   (2500, CONTINUE), (3000, CONTINUE)]
    assert [d.improved for d in result.decisions[:6]] == [True, True, True, False, False, False]
    assert result.decisions[6].action == REVERT and result.decisions[6].restore_step == 1500
    assert "21% above the best" in result.decisions[6].reason


def test_plateau_stops_after_patience_segments_without_a_new_best():
    result = replay(rows_from(noisy(lambda s: 0.3), 5000), Knobs(patience=5))
    assert actions(result) == [(500, CONTINUE), (1000, CONTINUE), (1500, CONTINUE), (2000, CONTINUE),
                               (2500, CONTINUE), (3000, STOP)]
    assert result.decisions[-1].restore_step is None  # a plateau is not a fry: the latest file stays
    assert "5 segments in a row" in result.decisions[-1].reason
    assert result.unjudged_steps == 2000


def test_nan_reverts_steps_down_and_stops_at_the_floor():
    def curve(step):
        return math.nan if step >= 1700 else 0.5 - step * 0.0001

    result = replay(rows_from(curve, 5000), Knobs(patience=0))
    assert actions(result) == [(500, CONTINUE), (1000, CONTINUE), (1500, CONTINUE), (2000, REVERT),
                               (2500, REVERT), (3000, REVERT), (3500, REVERT), (4000, STOP)]
    assert [d.next_rate for d in result.decisions[3:7]] == [0.0025, 0.00125, 0.000625, 0.0003125]
    stop = result.decisions[-1]
    assert stop.restore_step == 1500 and "below the floor 0.00025" in stop.reason
    assert "not finite" in result.decisions[3].reason


def test_a_single_infinite_value_reverts():
    result = replay(rows_from(lambda s: math.inf if s == 777 else 0.5 - s * 1e-5, 1000), Knobs())
    assert actions(result) == [(500, CONTINUE), (1000, REVERT)]
    assert result.decisions[1].loss is None and "1 of the 500" in result.decisions[1].reason


def _decide(standing, value, knobs=Knobs(), start=1000, end=1500, last=None, floor=0.0001, nonfinite=0):
    from sd_dataset.lossfile import Smoothed

    smoothed = Smoothed(value, 100, nonfinite)
    return decide(standing, Outcome(start, end, smoothed), knobs, lambda step: 0.005, last, floor)


def test_decide_tolerance_edge_budget_last_step_and_unjudged():
    standing = Standing(best_loss=0.1, best_step=1000)
    assert _decide(standing, 0.12).action == CONTINUE  # exactly +20%: still within
    assert _decide(standing, 0.1201).action == REVERT
    spent = _decide(Standing(best_loss=0.1, best_step=1000, trained=19500), 0.09, Knobs(budget=20000))
    assert spent.action == STOP and spent.improved and "budget of 20000" in spent.reason
    assert spent.standing.best_step == 1500
    assert _decide(standing, 0.09, last=1500).action == STOP
    unjudged = _decide(standing, None)
    assert unjudged.action == CONTINUE and unjudged.standing.since_best == 1 and "could not be judged" in unjudged.reason
    bad_budget = _decide(Standing(best_loss=0.1, best_step=1000, trained=19500), 0.5, Knobs(budget=20000))
    assert bad_budget.action == STOP and bad_budget.restore_step == 1000


def test_decide_counts_reverts_towards_patience():
    standing = Standing(best_loss=0.1, best_step=1000, since_best=2)
    assert _decide(standing, 0.5, Knobs(patience=3)).action == STOP
    assert _decide(standing, 0.5, Knobs(patience=4)).action == REVERT
    assert _decide(standing, 0.5, Knobs(patience=4)).standing.since_best == 3


def test_first_segment_nan_reverts_to_the_start():
    decision = _decide(Standing(best_step=0), None, start=0, end=500, nonfinite=3)
    assert decision.action == REVERT and decision.restore_step == 0 and decision.standing.scale == 0.5


@pytest.mark.parametrize("knobs, words", [
    (Knobs(segment=0), "segment length"), (Knobs(factor=1.0), "step-down factor"), (Knobs(tolerance=-1), "tolerance"),
    (Knobs(floor=0), "rate floor"), (Knobs(patience=-1), "patience"), (Knobs(window=0), "smoothing window"),
    (Knobs(tolerance=math.nan), "tolerance"),
])
def test_bad_knobs_are_one_sentence(knobs, words):
    with pytest.raises(DatasetError, match=words) as info:
        knobs.validated()
    assert one_sentence(str(info.value))


def test_scaled_schedule_keeps_steps_and_the_text_as_typed():
    schedule = parse("0.005:1000, 1e-3:3000, 0.0001")
    assert scaled_schedule(schedule, 1.0) == "0.005:1000, 1e-3:3000, 0.0001"
    assert scaled_schedule(schedule, 0.5) == "0.0025:1000, 0.0005:3000, 5e-05"
    assert scaled_schedule(parse("0.01:-1"), 0.25) == "0.0025:-1"


# --- the loss log reader ---------------------------------------------------------------------------------------------

def test_reader_skips_a_partial_last_line_and_keeps_nan():
    text = ("step,epoch,epoch_step,loss,learn_rate\r\n1,0,0,0.1000000,0.005\r\n2,0,1,nan,0.005\r\n"
            "3,0,2,inf,0.005\r\nnot,a,row\r\n4,0,3,0.12")
    log = parse_loss_text(text)
    assert [r.step for r in log.rows] == [1, 2, 3]
    assert math.isnan(log.rows[1].loss) and log.rows[2].loss == math.inf and not log.rows[2].finite
    assert log.partial and log.skipped == 1
    assert log.rows[0].learn_rate == 0.005 and log.rows[0].epoch == 0


def test_reader_follows_the_header_order_and_a_second_header():
    log = parse_loss_text("loss,step\n0.5,10\nstep,epoch,epoch_step,loss,learn_rate\n20,1,0,0.25,1e-5\n")
    assert [(r.step, r.loss, r.learn_rate) for r in log.rows] == [(10, 0.5, None), (20, 0.25, 1e-5)]


def test_reader_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="There is no loss log"):
        read_loss_log(tmp_path / "nope.csv")
    assert read_loss_log(tmp_path / "nope.csv", missing_ok=True).rows == ()
    with pytest.raises(DatasetError, match="is a folder"):
        read_loss_log(tmp_path)


def test_lineage_keeps_the_rows_written_last():
    steps = [1, 2, 3, 4, 5, 3, 4, 2, 3, 6]
    rows = [LossRow(s, float(i)) for i, s in enumerate(steps)]
    assert [(r.step, r.loss) for r in lineage(rows)] == [(1, 0.0), (2, 7.0), (3, 8.0), (6, 9.0)]


def test_smooth_and_rolling_median():
    rows = [LossRow(s, float(s)) for s in range(1, 11)]
    assert smooth(rows, 10, 4).value == 8.5 and smooth(rows, 10, 4).count == 4
    assert smooth(rows, 10, 100, after=7).value == 9.0
    assert smooth(rows, 20, 5).judged is False
    assert rolling_median(rows, 3) == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert rolling_median([LossRow(1, math.nan), LossRow(2, 4.0)], 5) == [None, 4.0]


# --- end to end against the stand-in trainer -------------------------------------------------------------------------

def fries_above(rate_limit, after):
    """Loss falls at any rate; above ``rate_limit`` it climbs after ``after`` steps."""
    def curve(step, rate):
        loss = 0.1 + 0.4 / (1 + step / 500)
        if rate > rate_limit and step > after:
            loss *= 1 + (step - after) / 200
        return loss * NOISE[step % len(NOISE)]
    return curve


def make_run(tmp_path, curve, kind="embedding", steps=3000, schedule="0.005", knobs=Knobs(), **trainer_kwargs):
    trainer = FakeTrainer(tmp_path / "webui", curve, kind=kind, **trainer_kwargs)
    trainer.create()
    request = TrainRequest(name=trainer.name, data_root=str(tmp_path / "data"), template_file="subject.txt",
                           learn_rate=schedule, steps=steps, kind=kind, log_directory=str(tmp_path / "logs"),
                           save_every=500, create_image_every=500)
    host = fake_host(trainer)
    snapshots = {}  # step → bytes of the current file right after the segment that reached it
    train_segment = host.train_segment

    def recording(request, rate, end_step):
        result = train_segment(request, rate, end_step)
        snapshots.setdefault(result.step, Path(result.current_file).read_bytes())
        return result

    host.train_segment = recording
    return trainer, request, host, snapshots


def journal(summary):
    return [json.loads(line) for line in summary.journal.read_text(encoding="utf-8").splitlines()]


def test_supervised_run_reverts_to_the_best_copy_and_steps_down(tmp_path):
    trainer, request, host, snapshots = make_run(tmp_path, fries_above(0.003, 1000))
    seen = []

    def on_decision(decision, result):
        seen.append((decision.action, trainer.file().read_bytes(), trainer.csv_every))

    summary = Supervisor(request, host, Knobs(), now=trainer.now, on_decision=on_decision).run()
    assert [(d.step, d.action) for d in summary.decisions] == [
        (500, CONTINUE), (1000, CONTINUE), (1500, REVERT), (1500, CONTINUE), (2000, CONTINUE), (2500, CONTINUE),
        (3000, STOP)]
    # the trainer got the schedule as typed, then halved, resuming from the best copy's step
    assert [(c.learn_rate, c.start_step, c.steps) for c in trainer.calls] == [
        ("0.005", 0, 500), ("0.005", 500, 1000), ("0.005", 1000, 1500), ("0.0025", 1000, 1500),
        ("0.0025", 1500, 2000), ("0.0025", 2000, 2500), ("0.0025", 2500, 3000)]
    revert = summary.decisions[2]
    assert revert.restore_step == 1000 and revert.next_rate == 0.0025
    # after the revert the current file is byte-equal to the file as it was at step 1000
    assert seen[2][0] == REVERT and seen[2][1] == snapshots[1000]
    assert read_state(trainer.file())["step"] == 3000
    assert trainer.csv_every == 500 and {every for _, _, every in seen} == {5}
    # the retrained stretch is logged at the new rate and judged on its own rows
    folder = trainer_log_folder(request.log_directory, request.name, trainer.now())
    rows = lineage(read_loss_log(folder / "textual_inversion_loss.csv").rows)
    assert {r.learn_rate for r in rows if 1000 < r.step <= 1500} == {0.0025}
    records = journal(summary)
    assert records[0]["event"] == "start" and records[0]["previous_csv_every"] == 500
    decisions = [r for r in records if r["event"] == "decision"]
    assert [(r["end"], r["decision"], r["reason"]) for r in decisions] == [
        (d.step, d.action, d.reason) for d in summary.decisions]
    assert decisions[2]["restored"] and decisions[3]["rate"] == "0.0025"
    # every segment is judged on its own 100 values (logged every 5 steps), never on the reverted stretch's rows
    assert [r["values"] for r in decisions] == [100] * 7
    retrained = [r.loss for r in rows if 1000 < r.step <= 1500]
    assert summary.decisions[3].loss == statistics.median(retrained)
    assert summary.best_copy.parent == folder / "supervisor"
    assert list((folder / "supervisor").glob("*.pt")) == [summary.best_copy]  # only the best copy is kept
    assert summary.best_copy.read_bytes() == snapshots[summary.best_step]
    assert (folder / "embeddings" / "thing-500.pt").exists()  # the trainer's own copies as it names them
    assert read_state(folder / "embeddings" / "thing-500.pt")["step"] == 499


def test_nan_in_the_first_segment_restores_the_start_and_a_floor_stop_restores_the_best(tmp_path):
    def curve(step, rate):
        return math.nan if rate > 0.001 and step > 100 else 0.5 - step * 1e-5

    trainer, request, host, _ = make_run(tmp_path, curve, kind="hypernetwork", steps=2000)
    start_bytes = trainer.file().read_bytes()
    seen = []
    summary = Supervisor(request, host, Knobs(floor=0.001), now=trainer.now, on_decision=lambda d, r: seen.append(
        trainer.file().read_bytes())).run()
    # 0.005 → NaN → revert to step 0 at 0.0025 → NaN → 0.00125 → NaN → 0.000625 < floor: stop at the start
    assert [(d.step, d.action) for d in summary.decisions] == [(500, REVERT), (500, REVERT), (500, STOP)]
    assert all(snapshot == start_bytes for snapshot in seen)
    assert trainer.file().read_bytes() == start_bytes and trainer.current_step() == 0
    assert [c.learn_rate for c in trainer.calls] == ["0.005", "0.0025", "0.00125"]
    assert "below the floor 0.001" in summary.decisions[-1].reason
    assert trainer.csv_every == 500


def test_a_host_that_does_not_reload_is_caught(tmp_path):
    trainer, request, _, _ = make_run(tmp_path, fries_above(0.003, 1000))
    host = fake_host(trainer, reload_after_restore=False)
    with pytest.raises(DatasetError, match="did not take the copy"):
        Supervisor(request, host, now=trainer.now).run()
    assert trainer.csv_every == 500


def test_silent_trainer_failure_is_one_sentence_and_settings_are_restored(tmp_path):
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0), fail_at_step=1)
    with pytest.raises(DatasetError) as info:
        Supervisor(request, host, now=trainer.now).run()
    message = str(info.value)
    assert "without training past step 0" in message and one_sentence(message)
    assert trainer.csv_every == 500
    summary_path = trainer_log_folder(request.log_directory, request.name, trainer.now()) / JOURNAL
    assert json.loads(summary_path.read_text().splitlines()[-1])["event"] == "error"


def test_a_trainer_that_stops_mid_segment_is_an_error(tmp_path):
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0), fail_at_step=700)
    with pytest.raises(DatasetError, match="stopped at step 699, before the segment's end at step 1000"):
        Supervisor(request, host, now=trainer.now).run()


def test_cancel_between_segments(tmp_path):
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0))
    progress = Progress()
    with pytest.raises(Cancelled):
        Supervisor(request, host, now=trainer.now, progress=progress, on_decision=lambda d, r: progress.cancel()).run()
    assert len(trainer.calls) == 1 and trainer.csv_every == 500
    summary_path = trainer_log_folder(request.log_directory, request.name, trainer.now()) / JOURNAL
    assert [json.loads(line)["event"] for line in summary_path.read_text().splitlines()] == [
        "start", "decision", "cancelled"]


def test_resume_and_the_trainers_extra_step(tmp_path):
    # "0.005:500, 0.001" with steps=500 makes the web UI train step 501 too; the supervisor takes the step reached
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0), steps=1200, schedule="0.005:500, 0.001",
                                         knobs=Knobs())
    summary = Supervisor(request, host, Knobs(patience=0), now=trainer.now).run()
    assert [(d.step, d.action) for d in summary.decisions] == [(501, CONTINUE), (1001, CONTINUE), (1200, STOP)]
    assert [(c.start_step, c.end_step) for c in trainer.calls] == [(0, 501), (501, 1001), (1001, 1200)]
    assert summary.decisions[1].rate == 0.001


def test_bad_schedule_and_finished_run_are_refused_before_training(tmp_path):
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0), schedule="0.005:abc")
    with pytest.raises(DatasetError, match="schedule is invalid"):
        Supervisor(request, host, now=trainer.now).run()
    assert trainer.calls == [] and trainer.csv_every == 500


# --- the replay command ----------------------------------------------------------------------------------------------

def write_log(path, curve, last, rate=0.005, partial=False):
    lines = ["step,epoch,epoch_step,loss,learn_rate"]
    lines += [f"{s},{(s - 1) // 10},{(s - 1) % 10},{curve(s):.7f},{rate}" for s in range(1, last + 1)]
    text = "\r\n".join(lines) + "\r\n" + ("3001,300,0,0.12" if partial else "")
    path.write_text(text, newline="")
    return path


def test_replay_command_prints_one_line_per_decision(tmp_path, capsys):
    def curve(step):
        return math.nan if step > 2200 else 0.5 - step * 1e-4

    log = write_log(tmp_path / "textual_inversion_loss.csv", curve, 3000, partial=True)
    assert main(["supervise-replay", str(log), "--patience", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "last line incomplete" in out[0]
    decisions = [line for line in out if line.startswith("step ")]
    assert [line.split("  ")[0] + " " + line.split("  ")[2] for line in decisions] == [
        "step 500 continue", "step 1000 continue", "step 1500 continue", "step 2000 continue",
        "step 2500 revert_and_step_down", "step 3000 stop"]
    assert decisions[0].startswith("step 500  loss 0.47495  continue  The smoothed loss 0.4749 is the best so far.")
    assert "stopped at step 3000" in out[-1]


def test_replay_command_with_knobs_and_rate(tmp_path, capsys):
    log = write_log(tmp_path / "loss.csv", lambda s: 0.3 * NOISE[s % 7], 1000)
    assert main(["supervise-replay", str(log), "--segment", "250", "--patience", "2", "--rate", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "floor 0.0005" in out and "step 750  loss 0.3  stop" in out


@pytest.mark.parametrize("content, words", [
    (None, "There is no loss log"), ("", "has no loss rows"), ("step,epoch,epoch_step,loss,learn_rate\r\n",
                                                               "has no loss rows"),
])
def test_replay_command_errors_are_one_sentence_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "loss.csv"
    if content is not None:
        path.write_text(content)
    assert main(["supervise-replay", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and one_sentence(err)


def test_replay_command_bad_knob_and_bad_schedule(tmp_path, capsys):
    log = write_log(tmp_path / "loss.csv", lambda s: 0.3, 600)
    assert main(["supervise-replay", str(log), "--factor", "2"]) == 2
    assert "step-down factor" in capsys.readouterr().err
    assert main(["supervise-replay", str(log), "--schedule", "0.005:1e3"]) == 2
    assert "schedule is invalid" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["supervise-replay", str(log), "--rate", "0.1", "--schedule", "0.1"])


def test_interrupting_the_trainer_mid_segment_cancels(tmp_path):
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0), interrupt_at_step=700)
    progress = Progress()
    train_segment = host.train_segment

    def interrupted(request, rate, end_step):  # the glue turns the web UI's Interrupt into a cancel
        result = train_segment(request, rate, end_step)
        if result.step < end_step:
            progress.cancel()
        return result

    host.train_segment = interrupted
    with pytest.raises(Cancelled):
        Supervisor(request, host, progress=progress, now=trainer.now).run()
    assert trainer.current_step() == 700 and trainer.csv_every == 500


def test_a_missing_current_file_is_one_sentence(tmp_path):
    trainer, request, host, _ = make_run(tmp_path, fries_above(1, 0))
    trainer.file().unlink()
    with pytest.raises(DatasetError, match="Cannot keep a copy") as info:
        Supervisor(request, host, now=trainer.now).run()
    assert one_sentence(str(info.value)) and trainer.calls == [] and trainer.csv_every == 500
