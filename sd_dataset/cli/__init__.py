"""``python -m sd_dataset …``: one subcommand per pipeline step, each a thin face over the library."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from .. import __version__
from ..errors import Cancelled, DatasetError
from . import augment, fetch, index, supervise, tag, training, ui
from .output import VisibleFormatter, say
from .parsing import CommandParser

COMMANDS = [fetch, tag, index, augment, training, supervise, ui]

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m sd_dataset",
        description="Build training datasets for the Stable Diffusion web UI from booru searches or image folders.",
        hint=fetch.command_usage_hint,  # fetch's search split into words comes back here as unrecognized arguments
    )
    parser.add_argument("--version", action="version", version=f"sd-webui-dataset {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries and other details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=CommandParser)
    for command in COMMANDS:
        command.register(sub)
    for subparser in sub.choices.values():  # an unknown option is the subcommand's to explain, with its usage
        subparser.set_defaults(subparser=subparser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.subparser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # -v shows this package's details (retries and the like), not every library's INFO lines
    handler = logging.StreamHandler()
    handler.setFormatter(VisibleFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    package = logging.getLogger("sd_dataset")
    if args.verbose and package.getEffectiveLevel() > logging.INFO:  # a caller's own DEBUG set-up stays
        package.setLevel(logging.INFO)
    try:
        return args.run(args)
    except Cancelled as exc:
        say(f"stopped: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        say("stopped: interrupted; a rerun finishes what is not done.", file=sys.stderr)
        return EXIT_CANCELLED
    except DatasetError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
