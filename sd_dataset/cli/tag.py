"""``tag SRC --out DIR``: caption a folder of images from their posts, filtered to a model's vocabulary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..boorus import SITES, VOCAB_NUMBERINGS
from ..postcache import PostCache
from ..imagesearch import DEFAULT_CUTOFF
from ..progress import TqdmProgress
from ..tagging import CAPTION_MODES, LAYOUTS, TagOptions, tag_folder
from ..tags import CaptionRules, load_vocabulary_and_aliases, normalize_tag, read_tag_list
from .options import add_site_options, add_tagger_options, booru_from_args, folder_arg, tagger_from_args
from .output import say


def _per_site(what) -> str:
    """``e621, e926: a, b; danbooru, …: c`` — a per-site value, sites with the same value together."""
    groups: dict = {}
    for site in SITES.values():
        groups.setdefault(what(site), []).append(site.name)
    return "; ".join(f"{', '.join(names)}: {value}" for value, names in groups.items())


def register(sub) -> None:
    parser = sub.add_parser(
        "tag",
        help="caption images from their posts (md5 → post → caption), filtered to a model's tags",
        description="Find each image's post by the md5 in its name (else its bytes) — from the fetch sidecar, the "
        "local cache, the offline index, or one batched API lookup; with --iqdb by the image itself; what none "
        "knows, a local --tagger model tags — and write the image with its caption into --out. The source folder is never written; a rerun makes no request and skips what is complete.",
    )
    parser.add_argument("src", type=folder_arg, help="folder of images (fetch's output, or any images: their posts are looked up by "
                        "md5 on the --booru site)")
    parser.add_argument("--out", required=True, type=folder_arg, help="folder to write the captioned dataset into (created if missing)")
    vocab = parser.add_argument_group("vocabulary")
    vocab.add_argument("--vocab", metavar="FILE", help="the model's tags: tag,count (the guide's tags.csv), "
                       "tag-autocomplete name,category,count,\"aliases\", or e621's tags export (plain or .gz); "
                       "without it every tag is kept")
    vocab.add_argument("--vocab-numbering", choices=list(VOCAB_NUMBERINGS),
                       help="how a tag-autocomplete vocabulary numbers its categories: e621 (e621.csv: 5 species, "
                       "7 meta), danbooru (danbooru.csv: 5 meta) or merged (danbooru_e621_merged.csv: Danbooru's "
                       "0-5, e621's from 7 up: 7 general, 8 artist, 12 species, 14 meta); default: merged when the "
                       "file uses 9 to 15 or its name says both danbooru and e621, e621's when it uses -1, 2, 6, 7 "
                       "or 8 or its name says e621, danbooru's when its name says danbooru, else each post's site's")
    vocab.add_argument("--aliases", metavar="FILE", help="e621's tag_aliases export (plain or .gz): active aliases "
                       "map tags renamed since training back to the vocabulary's names")
    caption = parser.add_argument_group("caption")
    caption.add_argument("--include", metavar="CATEGORIES", default="",
                         help="also keep these tag categories, comma separated; each site's: "
                         + _per_site(lambda site: ", ".join(site.includable))
                         + " (kept always: " + _per_site(lambda site: " and ".join(site.caption_categories)) + ")")
    caption.add_argument("--exclude", metavar="TAGS", action="append", default=[],
                         help="leave out these tags, comma separated (repeatable), e.g. the subject's own traits")
    caption.add_argument("--exclude-file", metavar="FILE", action="append", default=[],
                         help="leave out the tags in FILE (one a line or comma separated; # comments)")
    caption.add_argument("--exclude-common", metavar="SHARE", type=float, nargs="?", const=0.8,
                         help="leave out tags on at least SHARE of the images (default 0.8 when given bare)")
    caption.add_argument("--no-rating", action="store_true",
                         help="no '<rating> content' part (its words follow the post's site: safe, questionable, "
                         "explicit on e621; general, sensitive, questionable, explicit on danbooru and gelbooru)")
    caption.add_argument("--no-artist", action="store_true", help="no 'by <artist>' parts")
    caption.add_argument("--keep-underscores", action="store_true", help="keep underscores in tag names")
    caption.add_argument("--no-escape", action="store_true",
                         help="do not escape \\ ( ) [ ] for the web UI's prompt parser (kohya: never escaped "
                         "unless --weighted-captions)")
    caption.add_argument("--trigger", metavar="WORD", default="",
                         help="put WORD first in every caption (commas make it several parts, all kept first)")
    output = parser.add_argument_group("output")
    output.add_argument("--caption", choices=CAPTION_MODES, default="txt",
                        help="txt: <stem>.txt beside each image (default); filename: the caption as the file name; "
                        "both")
    output.add_argument("--layout", choices=LAYOUTS, default="flat",
                        help="flat: images in --out (default); kohya: --out/<repeats>_<concept>/ and "
                        "--out/dataset.toml for sd-scripts' --dataset_config")
    output.add_argument("--repeats", type=int, default=10, help="kohya repeats per image (default 10)")
    output.add_argument("--concept", default="", help="kohya concept folder name (default: the trigger, else the "
                        "source folder's name)")
    output.add_argument("--weighted-captions", action="store_true",
                        help="kohya: captions for sd-scripts' --weighted_captions, escaped as prompts (default: "
                        "literal, as sd-scripts reads them without it)")
    output.add_argument("--pin", metavar="PARTS", default="",
                        help="kohya: also keep these parts first when sd-scripts shuffles captions, comma separated: "
                        "rating, artist (the trigger always is); dataset.toml's keep_tokens counts them")
    output.add_argument("--keep-untagged", action="store_true",
                        help="keep images no post was found for (captioned with just the trigger, or empty)")
    lookup = parser.add_argument_group("lookup")
    lookup.add_argument("--offline", action="store_true",
                        help="make no request: use sidecars, the cache and the offline index only")
    lookup.add_argument("--cache", metavar="PATH", help="the post cache folder (default $XDG_CACHE_HOME/sd_dataset, "
                        "else ~/.cache/sd_dataset)")
    lookup.add_argument("--no-cache", action="store_true", help="neither read nor write the post cache")
    lookup.add_argument("--retry-missing", action="store_true",
                        help="ask the site again about hashes (and images) it did not know last time")
    lookup.add_argument("--iqdb", action="store_true",
                        help="look up images whose md5 matches no post (re-saved, resized copies) by the image "
                        "itself, with the site's reverse-image search (e621, e926, danbooru; danbooru needs a login); "
                        "e621 allows 1 a minute without a login, 6 in 10 s with one")
    lookup.add_argument("--iqdb-cutoff", metavar="SCORE", type=float, default=DEFAULT_CUTOFF,
                        help=f"the IQDB score (0-100) a match needs (default {DEFAULT_CUTOFF:g}; below about 80 "
                        "unrelated look-alikes creep in)")
    add_site_options(parser)
    add_tagger_options(parser)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace) -> TagOptions:
    vocab = load_vocabulary_and_aliases(Path(args.vocab) if args.vocab else None,
                                        Path(args.aliases) if args.aliases else None, args.vocab_numbering)
    exclude = [normalize_tag(t) for value in args.exclude for t in value.split(",") if t.strip()]
    for path in args.exclude_file:
        exclude += read_tag_list(Path(path))
    include = tuple(c.strip().lower() for c in args.include.split(",") if c.strip())
    rules = CaptionRules(vocab=vocab, include=include, exclude=frozenset(exclude), rating=not args.no_rating,
                         artist=not args.no_artist, keep_underscores=args.keep_underscores,
                         escape=not args.no_escape, trigger=args.trigger.strip(), site=args.booru,
                         pinned=tuple(p.strip().lower() for p in args.pin.split(",") if p.strip()))
    options = TagOptions(rules=rules, caption=args.caption, layout=args.layout, repeats=args.repeats,
                         concept=args.concept, keep_untagged=args.keep_untagged,
                         exclude_common=args.exclude_common, retry_missing=args.retry_missing,
                         offline=args.offline, weighted_captions=args.weighted_captions, iqdb=args.iqdb,
                         iqdb_cutoff=args.iqdb_cutoff)
    options.validate()
    return options


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    tagger = tagger_from_args(args)  # before any request: a wrong model folder is refused at once
    booru = booru_from_args(args, offline=args.offline)
    cache = None if args.no_cache else PostCache(args.cache)
    try:
        report = tag_folder(Path(args.src), Path(args.out), options, booru=booru, cache=cache,
                            progress=TqdmProgress(), tagger=tagger)
    finally:
        booru.close()
        if cache is not None:
            cache.close()
    for line in report.summary():
        say(line)
    nothing = report.nothing_made()
    if nothing:
        say(f"error: {nothing}", file=sys.stderr)
    return 0 if report.ok and not nothing else 1
