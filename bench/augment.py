"""Benchmark: the augment step against a plain sequential Pillow loop on the same photos.

    python bench/augment.py [--count N] [--workers N] [--keep DIR]

Generates N photo-like 2000x1500 JPEGs, then times, in this one process:

* baseline: for each file open, convert to RGB, resize to 512 on the long side,
  save PNG, mirror, save PNG -- the loop anyone would write first (Pillow's
  default PNG level 6; it is also run at augment's level 4 so the part of the
  ratio that comes from the pool and draft decoding alone is visible);
* augment: ``sd_dataset.augment`` with --split --flip --square pad --size 512
  (4:3 photos are under the split threshold, so each is padded, not split).

It prints images per second for both, the ratio, and peak memory: the largest
single process and the sum over the pool's processes sampled while it ran.
The issue's goal is a ratio of at least 1.8 on two cores.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from sd_dataset.augment import AugmentOptions, augment, default_workers  # noqa: E402


def photo(seed: int, size=(2000, 1500)) -> Image.Image:
    """Something with a photo's structure: a sky gradient, shapes, soft edges and grain."""
    rng = random.Random(seed)
    w, h = size
    top = tuple(rng.randrange(80, 200) for _ in range(3))
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    img = Image.blend(img, Image.new("RGB", (w, h), top), 0.6)
    draw = ImageDraw.Draw(img)
    for _ in range(25):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(40, 400)
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=tuple(rng.randrange(256) for _ in range(3)))
    img = img.filter(ImageFilter.GaussianBlur(3))
    grain = Image.effect_noise((w // 4, h // 4), 24).resize((w, h)).convert("RGB")
    return Image.blend(img, grain, 0.15)


def generate(folder: Path, count: int) -> None:
    for i in range(count):
        photo(i).save(folder / f"photo{i:04d}.jpg", quality=90)


def baseline(src: Path, out: Path, **png) -> int:
    count = 0
    for path in sorted(src.glob("*.jpg")):
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        scale = 512 / max(rgb.size)
        small = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
        small.save(out / f"{path.stem}.png", **png)
        small.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out / f"{path.stem}-flip.png", **png)
        count += 1
    return count


class RssSampler:
    """Peak of (this process + its live children) resident memory, from /proc every 20 ms (Linux)."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        if Path("/proc/self/statm").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self):
        import multiprocessing

        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.02):
            total = 0
            for pid in [os.getpid()] + [p.pid for p in multiprocessing.active_children()]:
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    pass
            self.peak = max(self.peak, total)


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=150, help="photos to generate (default 150)")
    parser.add_argument("--workers", type=int, default=None, help="augment processes (default: every core)")
    parser.add_argument("--keep", type=Path, help="generate into / reuse this folder instead of a temp one")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sdds-bench-"))
    src = args.keep or work / "src"
    src.mkdir(parents=True, exist_ok=True)
    try:
        have = len(list(src.glob("*.jpg")))
        if have != args.count:
            for old in src.glob("*.jpg"):
                old.unlink()
            t = time.perf_counter()
            generate(src, args.count)
            print(f"generated {args.count} photos 2000x1500 in {time.perf_counter() - t:.1f}s")
        workers = args.workers or default_workers()

        (work / "base").mkdir()
        t = time.perf_counter()
        n = baseline(src, work / "base")
        base_s = time.perf_counter() - t
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        # The same loop at augment's PNG level, to show what the pool and draft decoding give alone.
        (work / "base4").mkdir()
        t = time.perf_counter()
        baseline(src, work / "base4", compress_level=4)
        base4_s = time.perf_counter() - t

        options = AugmentOptions(split=True, flip=True, square="pad", size=512)
        with RssSampler() as sampler:
            t = time.perf_counter()
            report = augment(src, work / "aug", options, workers=workers)
            aug_s = time.perf_counter() - t
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        assert report.ok and report.written == n, report.summary()

        t = time.perf_counter()
        rerun = augment(src, work / "aug", options, workers=workers)
        rerun_s = time.perf_counter() - t

        print(f"cpus: {os.cpu_count()} (using {workers} workers); {n} photos, {report.images} outputs")
        print(f"baseline sequential Pillow loop: {n / base_s:6.1f} images/s ({base_s:.1f}s)")
        print(f"augment (split, pad, 512, flip): {n / aug_s:6.1f} images/s ({aug_s:.1f}s)")
        print(f"ratio: {base_s / aug_s:.2f}x  (goal >= 1.8x on two cores)")
        print(f"ratio against the same loop saving PNG at augment's level 4 ({n / base4_s:.1f} images/s): "
              f"{base4_s / aug_s:.2f}x")
        print(f"peak memory: baseline process {mib(base_rss)}; augment all processes together {mib(sampler.peak)}, "
              f"largest worker {mib(child_rss)}")
        print(f"rerun with everything done: {rerun_s:.2f}s, {rerun.images} images written")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
