"""``template``, ``schedule`` and ``check``: the last mile before the web UI's trainer."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..schedule import PRESETS, plan, schedule_or_preset
from ..templates import DEFAULT_FLAVOURS, DEFAULT_PREFIX, KINDS, make_template
from ..checks import check_readiness, verdict
from ..training import EMBEDDING, HYPERNETWORK, HostState, TrainRequest, has_errors
from .options import folder_arg
from .output import say


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give e.g. 1000") from None


def register(sub) -> None:
    parser = sub.add_parser(
        "template", help="write a prompt template file for the web UI's trainers",
        description="Write a prompt template (one prompt per line; [name] is the embedding's name, [filewords] the "
                    "image's caption) for the web UI's textual_inversion_templates folder. After writing into that "
                    "folder, refresh the template list in the web UI's Train tab.")
    parser.add_argument("--kind", required=True, choices=KINDS,
                        help="subject: 'P, [name], [filewords]'; subject-last: 'P, [filewords], [name]'; "
                             "style: 'P, by [name], [filewords]'")
    parser.add_argument("--out", required=True, type=folder_arg,
                        help="the file to write (.txt is added when missing); an existing folder gets <kind>.txt")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX,
                        help=f'text that starts every line (default "{DEFAULT_PREFIX}"; "" for models not trained '
                             "on e621)")
    parser.add_argument("--artists", help="comma-separated artists, one extra line each: 'P, [name] by ARTIST, "
                                          "[filewords]' (subject kinds)")
    parser.add_argument("--flavours", nargs="?", const=",".join(DEFAULT_FLAVOURS), default=None,
                        help="add one line per flavour; alone it uses "
                             f"{', '.join(repr(f) for f in DEFAULT_FLAVOURS)}; or give your own, comma-separated")
    parser.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    parser.set_defaults(run=run_template)

    parser = sub.add_parser(
        "schedule", help="explain a learning-rate schedule the way the web UI's trainer reads it",
        description="Check a learning-rate schedule ('rate:step, rate:step, …, rate'; a step of -1 means to the end) "
                    "and print the steps each rate covers, as the web UI's trainer will use them. Without a "
                    "schedule, list the presets; a preset's name can be given instead of a schedule.")
    parser.add_argument("schedule", nargs="?", help='e.g. "0.005:1000, 0.0005" or a preset name')
    parser.add_argument("--steps", type=_whole, help="the run's max steps (the web UI's 'Max steps')")
    parser.add_argument("--resume-from", type=_whole, default=0,
                        help="the step the embedding or hypernetwork is already at")
    parser.set_defaults(run=run_schedule)

    parser = sub.add_parser(
        "check", help="list what would make the web UI's training fail or go wrong, before it starts",
        description="Check a dataset folder, template, schedule and settings against what the web UI's "
                    "textual-inversion and hypernetwork trainers need. Prints each finding with its fix; exits 2 "
                    "when there are errors.")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="the folder the trainer reads (e.g. <dataset>/train)")
    parser.add_argument("--template", required=True, help="the prompt template file")
    parser.add_argument("--schedule", required=True, help="learning-rate schedule, or a preset name")
    parser.add_argument("--steps", required=True, help="max steps")
    parser.add_argument("--batch-size", default="1", help="batch size (default 1)")
    parser.add_argument("--gradient-step", default="1", help="gradient accumulation steps (default 1)")
    parser.add_argument("--kind", choices=(EMBEDDING, HYPERNETWORK), default=EMBEDDING,
                        help="what is trained (default embedding)")
    parser.add_argument("--name", help="the embedding or hypernetwork's name (default: the dataset folder's name)")
    parser.add_argument("--width", default="512", help="training width (default 512)")
    parser.add_argument("--height", default="512", help="training height (default 512)")
    parser.add_argument("--varsize", action="store_true", help="the web UI's 'do not resize images'")
    parser.add_argument("--save-every", default="500", help="save a copy every N steps, 0 to disable (default 500)")
    parser.add_argument("--preview-every", default="500", help="save an image every N steps, 0 to disable "
                                                               "(default 500)")
    parser.add_argument("--resume-from", type=_whole, help="the step the embedding or hypernetwork is already at")
    parser.add_argument("--csv-every", type=_whole,
                        help="the web UI's training_write_csv_every setting (default there 500)")
    parser.set_defaults(run=run_check)


def run_template(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    if out.is_dir():
        folder, name = out, args.kind
    else:
        folder, name = out.parent, out.name
    result = make_template(folder, name, kind=args.kind, prefix=args.prefix, artists=args.artists,
                           flavours=args.flavours, overwrite=args.overwrite)
    say(result.headline())
    for line in result.lines:
        say(f"  {line}")
    for text in result.warnings:
        say(f"warning: {text}", file=sys.stderr)
    return 0


def run_schedule(args: argparse.Namespace) -> int:
    if args.schedule is None:
        for candidate in PRESETS:
            say(f"{candidate.key} ({candidate.kind}): {candidate.schedule}")
            say(f"    {candidate.why}")
        return 0
    text = schedule_or_preset(args.schedule)
    if text != args.schedule:
        say(f"{args.schedule.strip()}: {text}")
    result = plan(text, args.steps, args.resume_from)
    for line in result.lines():
        say(line)
    for text in result.warnings:
        say(f"warning: {text}", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    name = args.name or os.path.basename(os.path.normpath(args.dataset))
    request = TrainRequest(
        name=name, data_root=args.dataset, template_file=args.template, learn_rate=schedule_or_preset(args.schedule),
        steps=args.steps, kind=args.kind, batch_size=args.batch_size, gradient_step=args.gradient_step,
        training_width=args.width, training_height=args.height, varsize=args.varsize,
        create_image_every=args.preview_every, save_every=args.save_every)
    host = None
    if args.resume_from is not None or args.csv_every is not None:
        host = HostState(current_step=args.resume_from, training_write_csv_every=args.csv_every)
    findings = check_readiness(request, host)
    for finding in findings:
        say(finding)
    say(verdict(findings))
    return 2 if has_errors(findings) else 0
