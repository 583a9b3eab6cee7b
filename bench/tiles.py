"""Benchmark: what tile captions cost augment, on against off, and a rerun that finds its record.

    python bench/tiles.py [--count N] [--workers N] [--side N]

Generates N wide 1536x512 picture-like PNGs with captions, then times ``augment --split --flip`` into fresh
folders with tile captions off and on (the tests' tiny ONNX tagger, tests/tiny_tagger.py, at ``--side``, 448 as
WD14's and Z3D's inputs: the tagger pass's own work, decoding each tile again and preparing the model's input,
is what is measured; a real model's inference adds its own seconds per tile on top), and a rerun with them on,
where the record answers for every tile.  It prints seconds for each and the ratio on / off.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sd_dataset.augment import AugmentOptions, augment  # noqa: E402
from sd_dataset.tagger import load_tagger  # noqa: E402

CAPTION = "safe content, red background, blue background, blue fox, looking left, solo, outdoors"


def generate(folder: Path, count: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from augment import photo  # the augment benchmark's picture-like images

    for i in range(count):
        photo(i, (1536, 512)).save(folder / f"wide{i:04d}.png", compress_level=1)
        (folder / f"wide{i:04d}.txt").write_text(CAPTION)


def timed(src: Path, out: Path, options: AugmentOptions, workers, tagger=None) -> tuple[float, object]:
    start = time.perf_counter()
    report = augment(src, out, options, workers=workers, tagger=tagger)
    return time.perf_counter() - start, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40, help="pictures to generate (default 40)")
    parser.add_argument("--workers", type=int, default=None, help="augment processes (default: every core)")
    parser.add_argument("--side", type=int, default=448, help="the tiny tagger's input side (default 448)")
    args = parser.parse_args()
    from tiny_tagger import write_wd14

    work = Path(tempfile.mkdtemp(prefix="sdds-bench-tiles-"))
    try:
        src = work / "src"
        src.mkdir()
        generate(src, args.count)
        tagger = load_tagger(write_wd14(work / "model", side=args.side))
        plain = AugmentOptions(split=True, flip=True)
        tiled = AugmentOptions(split=True, flip=True, tile_captions=True)
        off, report = timed(src, work / "off", plain, args.workers)
        on, tiles_report = timed(src, work / "on", tiled, args.workers, tagger)
        rerun, _ = timed(src, work / "on", tiled, args.workers, tagger)
        judged = len(tiles_report.tile_captions.tiles)
        print(f"{args.count} pictures, {report.tiles} tiles ({report.images} images with mirrors), "
              f"{judged} judged by the tagger")
        print(f"tile captions off: {off:6.2f} s")
        print(f"tile captions on:  {on:6.2f} s  ({(on - off) / max(1, judged) * 1000:.1f} ms more per tile)")
        print(f"rerun, on:         {rerun:6.2f} s  (the record answers; nothing is decoded)")
        print(f"ratio on / off: {on / off:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
