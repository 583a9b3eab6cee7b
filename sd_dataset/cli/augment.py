"""``augment SRC --out DIR``: split / square / resize / flip a folder of images, captions following."""

from __future__ import annotations

import argparse
import sys

from ..augment import DEDUPE_DISTANCE, FORMATS, SQUARE_MODES, AugmentOptions, augment
from ..progress import TqdmProgress
from ..tiles import check_tagger_given
from .options import add_tagger_options, folder_arg, tagger_from_args
from .output import say


def register(sub) -> None:
    defaults = AugmentOptions()
    parser = sub.add_parser(
        "augment",
        help="split, pad or crop to square, resize and flip images; .txt captions follow every output",
        description="Turn the images in SRC into training images in --out: <stem>.png, <stem>-split<i>.png for "
        "tiles and -flip for mirrored copies, each with a .txt caption: a copy of the source's <stem>.txt, or for a "
        "source with none the caption the trainer reads from its file name; a mirror's has left and right "
        "swapped; with --tile-captions a split tile's or crop's caption keeps only the general tags a local tagger "
        "sees in it. SRC is only read; "
        "a rerun skips images whose outputs are all there. Exits 1 when a file could not be read or written, or "
        "when no image made an output (too-small images and near-duplicates are skipped on purpose and do not "
        "count otherwise).",
    )
    parser.add_argument("src", metavar="SRC", type=folder_arg, help="folder of images (and optional <stem>.txt captions)")
    parser.add_argument("--out", required=True, type=folder_arg, help="folder for the outputs (created if missing; not inside SRC)")
    parser.add_argument("--flip", action="store_true", help="also write a left-right mirrored copy of every output")
    parser.add_argument("--split", action="store_true",
                        help="cut tall or wide images into overlapping squares, like the web UI's preprocess")
    parser.add_argument("--split-threshold", type=float, default=defaults.split_threshold, metavar="F",
                        help="split when short/long side is at most F, 0 to 1 (default %(default)s)")
    parser.add_argument("--overlap", type=float, default=defaults.overlap, metavar="F",
                        help="fraction by which split tiles overlap, 0 to 0.9 (default %(default)s)")
    parser.add_argument("--square", choices=SQUARE_MODES, default=defaults.square,
                        help="pad: extend the canvas with colours blended from the border; crop: keep the centre "
                        "square; none: keep the aspect (default %(default)s)")
    parser.add_argument("--size", type=int, default=defaults.size, metavar="N",
                        help="output side in pixels (with --square none, the long side) (default %(default)s)")
    parser.add_argument("--keep-size", action="store_true", help="do not resize (pad, crop and split still apply)")
    parser.add_argument("--min-size", type=int, default=defaults.min_size, metavar="N",
                        help="skip images whose short side is under N pixels; 0 keeps all (default %(default)s)")
    parser.add_argument("--dedupe", action="store_true",
                        help=f"skip near-duplicates (perceptual hash distance <= {DEDUPE_DISTANCE}), keeping the "
                        "largest of each group")
    parser.add_argument("--format", choices=list(FORMATS), default=defaults.format,
                        help="output file format (default %(default)s)")
    parser.add_argument("--workers", type=int, metavar="N", help="processes to use (default: every core)")
    parser.add_argument("--tile-captions", action="store_true",
                        help="split tiles and crops keep only the general tags the --tagger model sees in them "
                        "(the trigger, rating, names and tags it does not know stay); uses tag's .json sidecars")
    add_tagger_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = AugmentOptions(
        flip=args.flip, split=args.split, split_threshold=args.split_threshold, overlap=args.overlap,
        square=args.square, size=args.size, keep_size=args.keep_size, min_size=args.min_size,
        dedupe=args.dedupe, format=args.format, tile_captions=args.tile_captions,
    )
    check_tagger_given(args.tile_captions, bool(args.tagger))
    report = augment(args.src, args.out, options, workers=args.workers, progress=TqdmProgress(),
                     tagger=tagger_from_args(args))
    for line in report.summary():
        say(line)
    nothing = report.nothing_made()
    if nothing:
        say(f"error: {nothing}", file=sys.stderr)
    return 0 if report.ok and not nothing else 1
