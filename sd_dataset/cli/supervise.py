"""``supervise-replay``: run an old loss log through the supervisor's decision rules, to tune its knobs."""

from __future__ import annotations

import argparse

from ..errors import DatasetError
from ..lossfile import read_loss_log
from ..schedule import PRESETS
from ..supervisor import FLOOR_DIVISOR, STOP, Knobs, replay, show_rate
from .output import say

_DEFAULTS = Knobs()


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give e.g. 500") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give e.g. 0.5") from None


def register(sub) -> None:
    parser = sub.add_parser(
        "supervise-replay", help="replay a training loss log through the supervised-training rules",
        description="Read a loss log the web UI's trainer wrote (textual_inversion_loss.csv or hypernetwork_loss.csv) "
                    "and print, segment by segment, what supervised training would have decided: continue, revert "
                    "and step down, or stop, each with its reason. The log cannot be rewound, so after a revert the "
                    "log's next segment is judged as if it were the retrained one. Use it to tune the knobs on old "
                    "runs; the loss must have been logged often (the web UI's training_write_csv_every) for the "
                    "smoothing to mean much.")
    parser.add_argument("loss_csv", metavar="LOSS_CSV", help="the trainer's loss log")
    parser.add_argument("--segment", type=_whole, default=_DEFAULTS.segment,
                        help=f"steps per segment (default {_DEFAULTS.segment})")
    parser.add_argument("--window", type=_whole, default=None,
                        help="the smoothed loss is the median of the values logged in the last W steps "
                             "(default: the segment length)")
    parser.add_argument("--tolerance", type=_number, default=_DEFAULTS.tolerance,
                        help=f"revert when the smoothed loss rises more than this fraction over the best "
                             f"(default {_DEFAULTS.tolerance:g}, i.e. {_DEFAULTS.tolerance * 100:g}%%)")
    parser.add_argument("--factor", type=_number, default=_DEFAULTS.factor,
                        help=f"each step-down multiplies the rate by this (default {_DEFAULTS.factor:g})")
    parser.add_argument("--floor", type=_number, default=None,
                        help=f"stop rather than step the rate below this (default: the starting rate / "
                             f"{FLOOR_DIVISOR})")
    parser.add_argument("--patience", type=_whole, default=_DEFAULTS.patience,
                        help=f"stop after this many segments in a row without a new best, 0 never "
                             f"(default {_DEFAULTS.patience})")
    parser.add_argument("--budget", type=_whole, default=None,
                        help="stop once this many steps were trained (default: no limit)")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=_number, help="the run's learning rate (default: read from the log)")
    rate.add_argument("--schedule", help="the run's learning-rate schedule, or a preset name "
                                         "(default: the rates in the log)")
    parser.set_defaults(run=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    knobs = Knobs(segment=args.segment, window=args.window, tolerance=args.tolerance, factor=args.factor,
                  floor=args.floor, patience=args.patience, budget=args.budget)
    schedule = None
    if args.rate is not None:
        schedule = repr(args.rate)
    elif args.schedule is not None:
        schedule = next((p.schedule for p in PRESETS if p.key == args.schedule.strip()), args.schedule)
    log = read_loss_log(args.loss_csv)
    if not log.rows:
        raise DatasetError(f"The loss log {args.loss_csv} has no loss rows; give the log of a run that trained for "
                           "at least one logged step.")
    result = replay(log.rows, knobs, schedule)
    say(f"{args.loss_csv}: steps {result.first_step}\u2013{result.last_step}, {len(log.rows)} rows"
          + (f", {log.skipped} unreadable line{'s' if log.skipped != 1 else ''} skipped" if log.skipped else "")
          + (", last line incomplete (still being written) and left out" if log.partial else ""))
    say(f"segment {knobs.segment}, window {knobs.window_steps}, tolerance {knobs.tolerance:g}, factor "
          f"{knobs.factor:g}, floor {show_rate(result.floor)}, patience {knobs.patience}"
          + (f", budget {knobs.budget}" if knobs.budget else ""))
    for decision in result.decisions:
        say(decision.line())
    last = result.decisions[-1]
    reverts = sum(1 for d in result.decisions if d.action != STOP and d.restore_step is not None)
    if last.action == STOP:
        tail = f"; {result.unjudged_steps} later steps of the log not judged" if result.unjudged_steps else ""
        say(f"stopped at step {last.step}; best copy at step {last.standing.best_step}, {reverts} "
              f"revert{'s' if reverts != 1 else ''}{tail}")
    else:
        say(f"end of the log at step {last.step}; best at step {last.standing.best_step}, {reverts} "
              f"revert{'s' if reverts != 1 else ''}")
    return 0
