"""``fetch QUERY --out DIR``: download a search's still images with sidecars."""

from __future__ import annotations

import argparse
from typing import Optional

from ..boorus import SITES
from ..fetch import fetch
from ..progress import TqdmProgress
from .options import add_site_options, booru_from_args, folder_arg
from .output import say


EXAMPLE = "fetch --out DIR -- -female"
NEGATIVE_FIRST = ("a search that is one negative tag (such as -female) reads as an option: put it last, after --, as "
                  f"in: {EXAMPLE}")
OPTIONS_AFTER = f"everything after -- is the search, so put the options before it, as in: {EXAMPLE}"
SPLIT_SEARCH = 'a search of several words is one argument: quote it, as in: fetch "red_panda -female" --out DIR'


def usage_hint(message: str, words: list) -> Optional[str]:
    """What to do when fetch's search (``words``: what follows ``fetch``) was read as options or split into words."""
    if "--" in words:
        return OPTIONS_AFTER if "required" in message or "unrecognized" in message else None
    if "unrecognized arguments" in message:  # a mistyped option is its own mistake, not a split search
        return None if message.split(":", 1)[1].strip().startswith("--") else SPLIT_SEARCH
    negative = any(w.startswith("-") and not w.startswith("--") for w in words)
    return NEGATIVE_FIRST if negative and "required" in message and "query" in message else None


def command_usage_hint(message: str, words: list) -> Optional[str]:
    """The command line's own hint (``words``: all of them): fetch's, when the command is fetch."""
    command = next((w for w in words if not w.startswith("-")), None)
    return usage_hint(message, words[words.index(command) + 1:]) if command == "fetch" else None


def register(sub) -> None:
    parser = sub.add_parser(
        "fetch",
        help="download a search's images as <md5>.<ext> with <md5>.json sidecars",
        description="Download the still images (jpg, png, webp; gif with --gif) a search finds, each checked against "
        "its md5, with the post saved beside it. A rerun downloads only what is missing. A search that is one "
        f"negative tag goes last, after --: {EXAMPLE}",
        hint=usage_hint,
    )
    parser.add_argument("query", help='the search, as on the site, e.g. "wolf solo score:>50"; one that starts with '
                        f"- (a negative tag) goes last, after --: {EXAMPLE}")
    parser.add_argument("--out", required=True, type=folder_arg, help="folder to download into (created if missing)")
    parser.add_argument("--limit", type=int, help="consider at most N search results, in the site's order")
    parser.add_argument("--workers", type=int, default=4, help="parallel file downloads (default 4)")
    parser.add_argument("--gif", action="store_true", help="also download gif files (training uses the first frame)")
    add_site_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    booru = booru_from_args(args)
    try:
        report = fetch(booru, args.query, args.out, limit=args.limit, workers=args.workers,
                       include_gif=args.gif, progress=TqdmProgress())
    finally:
        booru.close()
    for line in report.summary(SITES[args.booru].login_hint):
        say(line)
    return 0 if report.ok else 1
