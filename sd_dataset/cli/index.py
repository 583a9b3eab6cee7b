"""``index posts-export.csv.gz``: build the offline post index ``tag`` reads before asking the site."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..postcache import PostCache
from ..postindex import build_index, index_size
from ..progress import TqdmProgress
from .output import say


def register(sub) -> None:
    parser = sub.add_parser(
        "index",
        help="build the offline post index from e621's posts export",
        description="Load e621's posts export (posts-YYYY-MM-DD.csv.gz from db_export) into the local post cache, "
        "so tag finds those posts with no request. The export has no tag categories: give the tags export with "
        "--tags so 'by <artist>' and the category rules work.",
    )
    parser.add_argument("posts", help="e621's posts export, plain or .gz")
    parser.add_argument("--tags", metavar="FILE", help="e621's tags export (plain or .gz), for tag categories")
    parser.add_argument("--cache", metavar="PATH", help="the post cache folder (default $XDG_CACHE_HOME/sd_dataset, "
                        "else ~/.cache/sd_dataset)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with PostCache(args.cache) as cache:
        posts, tags = build_index(cache, Path(args.posts), Path(args.tags) if args.tags else None,
                                  progress=TqdmProgress())
        total = index_size(cache)
        say(f"indexed {posts} posts" + (f" and {tags} tag categories" if args.tags else "")
              + f" into {cache.path} ({total} posts in the index)")
        if not args.tags:
            say("note: without --tags the index has no tag categories; tag then reads categories from the "
                  "vocabulary when it has them (autocomplete format, tags export) and treats the rest as general.")
    return 0
