"""``fetch QUERY --out DIR``: download a search's still images with sidecars."""

from __future__ import annotations

import argparse

from ..boorus import SITES
from ..fetch import fetch
from ..progress import TqdmProgress
from .options import add_site_options, booru_from_args


def register(sub) -> None:
    parser = sub.add_parser(
        "fetch",
        help="download a search's images as <md5>.<ext> with <md5>.json sidecars",
        description="Download the still images (jpg, png, webp; gif with --gif) a search finds, each checked against "
        "its md5, with the post saved beside it. A rerun downloads only what is missing.",
    )
    parser.add_argument("query", help='the search, as on the site, e.g. "wolf solo score:>50"')
    parser.add_argument("--out", required=True, help="folder to download into (created if missing)")
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
        print(line)
    return 0 if report.ok else 1
