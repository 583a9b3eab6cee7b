"""The augment step: a folder of images (+ ``.txt`` captions) → split / squared / resized / flipped outputs.

Each source becomes ``<stem>.<fmt>`` or ``<stem>-split<i>.<fmt>`` (i from 0 in
reading order), plus ``…-flip.<fmt>`` mirrors with ``--flip``, and every output
gets the source's caption as a ``.txt``: its own ``.txt``, or, for a source without
one, the caption the web UI's trainer reads from its file name (the names of the
outputs would add ``-flip`` / ``-splitN`` to it).  A mirror's caption has ``left``
and ``right`` swapped.  With ``tile_captions`` a split tile's or crop's caption keeps only the general tags a
local tagger sees in it (:mod:`sd_dataset.tiles`).  The source folder is only read.

Work runs in a process pool over all cores; at most a small window of sources
is in flight, so memory does not grow with the folder.  Every file is written
atomically, so "all expected outputs exist" means "this source is done" and a
rerun (after a kill too) skips it without decoding anything.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from . import images, sidecars, tiles
from .captions import swap_sides
from .errors import DatasetError
from .files import (Refused, atomic_open, atomic_write_bytes, ensure_writable_dir, open_checked, read_inside,
                    remove_stale_temps, split_refused, write_record)
from .images import IMAGE_EXTS, ImageProblem
from .lock import folder_lock
from .pools import process_pool
from .progress import Progress
from .summaries import by_reason
from .training import filename_caption
from .wording import option

log = logging.getLogger(__name__)

FORMATS = {"png": ("PNG", "png"), "jpg": ("JPEG", "jpg"), "webp": ("WEBP", "webp")}
SQUARE_MODES = ("pad", "crop", "none")
CAPTION_EXT = ".txt"
SETTINGS_FILE = ".sd_dataset-augment.json"
# the most an output's name adds to its source's stem (up to 999 tiles): a step naming augment's sources leaves it
NAME_GROWTH = len("-split999-flip")

# A phash distance this small is a resized or re-encoded copy, not a different
# picture; synthetic tests and real photos both stay far above it (10+).
DEDUPE_DISTANCE = 4


@dataclass(frozen=True)
class AugmentOptions:
    """What to do to each image; defaults match the CLI's."""

    flip: bool = False
    split: bool = False
    split_threshold: float = 0.5
    overlap: float = 0.2
    square: str = "pad"
    size: int = 512
    keep_size: bool = False
    min_size: int = 256
    dedupe: bool = False
    format: str = "png"
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = images.MAX_PIXELS
    # split tiles and crops keep only the general tags a tagger sees in them (the tagger is augment()'s argument)
    tile_captions: bool = False

    def check(self) -> None:
        """Raise one sentence for the first bad value, before any work starts."""
        if self.square not in SQUARE_MODES:
            raise DatasetError(f"{option('square')} must be one of {', '.join(SQUARE_MODES)}, not {self.square!r}.")
        if self.format not in FORMATS:
            raise DatasetError(f"{option('format')} must be one of {', '.join(FORMATS)}, not {self.format!r}.")
        if not 8 <= self.size <= 16384:
            raise DatasetError(f"{option('size')} must be between 8 and 16384 pixels, not {self.size}.")
        if self.min_size < 0:
            raise DatasetError(f"{option('min_size')} must be 0 or more, not {self.min_size}.")
        if not 0.0 <= self.split_threshold <= 1.0:
            raise DatasetError(f"{option('split_threshold')} must be between 0 and 1, not {self.split_threshold}.")
        if not 0.0 <= self.overlap <= 0.9:
            raise DatasetError(f"{option('overlap')} must be between 0 and 0.9, not {self.overlap}.")

    @property
    def ext(self) -> str:
        return FORMATS[self.format][1]

    def output_settings(self) -> dict[str, str]:
        """The settings that decide an output's pixels and names, in words; equal settings make equal files."""
        settings = {"size": "kept" if self.keep_size else str(self.size), "square": self.square,
                    "format": self.format, "background": ",".join(map(str, self.background)),
                    "split": "yes" if self.split else "no", "flip": "yes" if self.flip else "no"}
        if self.split:
            settings |= {"split threshold": f"{self.split_threshold:g}", "overlap": f"{self.overlap:g}"}
        return settings


def claim_settings(out: Path, options: AugmentOptions) -> None:
    """Record ``options`` in ``out``, or raise one sentence when its outputs were made with other settings.

    Outputs are done when their names exist, so a rerun with another size, square mode or format would leave a
    mix of old and new images behind.  Adding ``flip`` only adds files, so it is no conflict.
    """
    path = out / SETTINGS_FILE
    try:
        before = json.loads(read_inside(path, out.resolve())).get("settings")
    except (OSError, ValueError, AttributeError):
        before = None  # no outputs of ours, or a record we cannot read: nothing to compare with
    now = options.output_settings()
    if isinstance(before, dict) and images.list_images(out):
        differ = [key for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)
                  and not (key == "flip" and now.get(key) == "yes")]
        if differ:
            def words(settings: dict) -> str:
                return ", ".join(f"{key} {settings.get(key, 'unset')}" for key in differ)
            raise DatasetError(f"{out} holds outputs made with {words(before)}, and this run asks for {words(now)}; "
                               "choose a new output folder, or empty this one, so old and new images do not mix.")
    text = json.dumps({"about": "the settings sd_dataset augment made the images here with; a rerun with other "
                                "settings is refused", "settings": now}, indent=1) + "\n"
    write_record(path, text)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """What one source becomes, decided from its header alone (no decoding)."""

    stems: tuple[str, ...]  # output stems, flips included, in writing order
    mirrored: tuple[bool, ...]  # for each stem: is it a mirror
    split: Optional[images.SplitPlan]
    target: Optional[int]  # side the outputs are scaled to; None keeps the size
    decode_at_least: Optional[tuple[int, int]]  # smallest decode that still only shrinks


def plan_for(stem: str, width: int, height: int, opts: AugmentOptions) -> Plan:
    """Output names and geometry for an upright ``width`` x ``height`` source."""
    target = None if opts.keep_size else opts.size
    tile = target or min(width, height)  # keep-size tiles are as wide as the short side
    split = images.split_plan(width, height, tile, tile, opts.split_threshold, opts.overlap) if opts.split else None
    bases = [f"{stem}-split{i}" for i in range(len(split.boxes))] if split else [stem]
    stems, mirrored = [], []
    for base in bases:
        stems.append(base)
        mirrored.append(False)
        if opts.flip:
            stems.append(f"{base}-flip")
            mirrored.append(True)
    return Plan(tuple(stems), tuple(mirrored), split, target, _decode_size(width, height, target, split, opts.square))


def _decode_size(width: int, height: int, target: Optional[int], split: Optional[images.SplitPlan],
                 square: str) -> Optional[tuple[int, int]]:
    if target is None:
        return None
    if split is not None:
        return split.resized
    if square == "crop":  # the short side becomes the target
        scale = target / min(width, height)
    else:  # pad and none: the long side becomes the target
        scale = target / max(width, height)
    return max(1, int(width * scale + 0.999)), max(1, int(height * scale + 0.999))


def shape(img, plan: Plan, square: str):
    """The output images of ``plan`` (mirrors not included), from the upright RGB source."""
    if plan.split is not None:
        return images.split(img, plan.split)
    if square == "crop":
        img = images.crop_to_square(img)
        if plan.target:
            img = images.resize(img, (plan.target, plan.target))
        return [img]
    if plan.target:
        img = images.resize(img, images.fit_long_side(img.width, img.height, plan.target))
    if square == "pad":
        img = images.pad_to_square(img)
    return [img]


# --------------------------------------------------------------------------- one source (runs in a worker)


@dataclass(frozen=True)
class Task:
    source: Path
    out: Path
    opts: AugmentOptions


@dataclass
class SourceResult:
    name: str
    status: str  # WRITTEN, DONE, SKIPPED or FAILED
    reason: str = ""
    images: int = 0  # image files written
    copied: int = 0  # of those, written as the source's own bytes (no re-encode)
    captions: int = 0  # caption files written
    tiles: int = 0  # tiles when the source was split
    named: bool = False  # captioned by its file name (no .txt beside it)
    detail: str = ""  # what is this source's own in a reason many share (its size when too small)
    tile_jobs: list[tiles.TileJob] = field(default_factory=list)  # outputs whose captions the tagger pass writes


WRITTEN, DONE, SKIPPED, FAILED = "written", "done", "skipped", "failed"


def too_small(min_size: int) -> str:
    """The reason of every source skipped for its size (one reason, so the report counts them together)."""
    return f"too small (the short side is under {min_size} pixels)"


def caption_path(source: Path) -> Path:
    return source.with_suffix(CAPTION_EXT)


def process_source(task: Task) -> SourceResult:
    """Turn one source into its outputs; never raises for a bad file, only reports it."""
    name = task.source.name
    try:
        return _process(task)
    except ImageProblem as exc:
        return SourceResult(name, FAILED if exc.failed else SKIPPED, str(exc))
    except OSError as exc:
        return SourceResult(name, FAILED, f"could not write an output ({exc.strerror or exc})")
    except MemoryError:
        return SourceResult(name, FAILED, "ran out of memory decoding it")
    except Exception as exc:  # one odd file must never stop the batch
        log.debug("unexpected error on %s", name, exc_info=True)
        return SourceResult(name, FAILED, f"unexpected error ({exc.__class__.__name__}: {exc})")


def _process(task: Task) -> SourceResult:
    src, out, opts = task.source, task.out, task.opts
    caption = _read_caption(src)
    named = caption is None
    if named:  # the trainer reads the file name: the outputs' names would read otherwise, their .txt will not
        caption = filename_caption(src.name).encode("utf-8")
    with images.open_image(src, opts.max_pixels) as img:
        orientation = images.exif_orientation(img)
        width, height = images.oriented_size(img, orientation)
        if min(width, height) < opts.min_size:
            return SourceResult(src.name, SKIPPED, too_small(opts.min_size), detail=f"{width}x{height}")
        plan = plan_for(src.stem, width, height, opts)
        paths = [out / f"{stem}.{opts.ext}" for stem in plan.stems]
        captions = [_mirrored(caption) if mirror else caption for mirror in plan.mirrored]
        jobs = _tile_jobs(src, plan, paths, caption, opts.tile_captions and _cuts(plan, opts.square, width, height))
        left = {p for job in jobs for p in (job.image, job.mirror) if p is not None}  # the tagger pass's to write
        captions_here = [(p, c) for p, c in zip(paths, captions) if p not in left]
        if all(p.is_file() for p in paths):
            # Every output is renamed into place whole, so all present = complete.
            written = _sync_captions(*_unzipped(captions_here))
            return SourceResult(src.name, DONE, captions=written, named=named, tile_jobs=jobs)
        drafted = bool(plan.decode_at_least) and images.draft_for(img, orientation, plan.decode_at_least)
        rgb = images.load_rgb(img, orientation, opts.background)
        # Still inside ``with``: ``rgb`` may be the file's own image, which closing destroys.
        shaped = shape(rgb, plan, opts.square)
        # The source's own bytes are the output when nothing at all changed: no
        # rotation, conversion, resize, pad or crop, and the same file format.
        untouched = (len(shaped) == 1 and shaped[0] is img and not drafted and not getattr(img, "is_animated", False)
                     and img.format == FORMATS[opts.format][0])
        icc = img.info.get("icc_profile") if img.mode != "CMYK" else None  # a CMYK profile is wrong for RGB
        result = SourceResult(src.name, WRITTEN, tiles=len(shaped) if plan.split else 0, named=named,
                              tile_jobs=jobs)
        named = iter(paths)
        for tile in shaped:
            pictures = [tile, images.mirror(tile)] if opts.flip else [tile]
            for picture in pictures:
                path = next(named)
                if untouched and picture is img:
                    _copy_atomic(src, path)
                    result.copied += 1
                else:
                    save(picture, path, opts.format, icc)
                result.images += 1
    result.captions = _sync_captions(*_unzipped(captions_here))
    return result


def _cuts(plan: Plan, square: str, width: int, height: int) -> bool:
    """Whether the outputs of ``plan`` show only part of the source: split tiles, or a crop of a non-square one."""
    return plan.split is not None or (square == "crop" and width != height)


def _tile_jobs(src: Path, plan: Plan, paths: list[Path], caption: bytes, wanted: bool) -> list[tiles.TileJob]:
    """The outputs that are not mirrors, each with its mirror, for the tagger pass to caption; none unless
    ``wanted``."""
    if not wanted:
        return []
    parts = sidecars.read_parts(src, src.parent.resolve())
    parts = tuple(parts) if parts is not None else None
    jobs = []
    for i, (path, mirrored) in enumerate(zip(paths, plan.mirrored)):
        if mirrored:
            continue
        mirror = paths[i + 1] if i + 1 < len(paths) and plan.mirrored[i + 1] else None
        jobs.append(tiles.TileJob(path, mirror, caption, parts))
    return jobs


def _unzipped(pairs: list[tuple[Path, bytes]]) -> tuple[list[Path], list[bytes]]:
    return [p for p, _ in pairs], [c for _, c in pairs]


def _mirrored(caption: bytes) -> bytes:
    """A mirror's caption: left and right swapped (a caption that is not UTF-8, which no trainer reads, as is)."""
    try:
        return swap_sides(caption.decode("utf-8")).encode("utf-8")
    except UnicodeDecodeError:
        return caption


def _read_caption(src: Path) -> Optional[bytes]:
    """The source's caption bytes, None when it has none; a refused caption skips the source (never uncaptioned)."""
    caption = caption_path(src)
    try:
        return read_inside(caption, src.parent.resolve())
    except FileNotFoundError:
        return None
    except Refused as exc:
        raise ImageProblem(f"its caption {caption.name}: {exc}", failed=False) from None
    except OSError as exc:
        raise ImageProblem(f"cannot read its caption ({exc.strerror or exc})") from None


def _sync_captions(paths: list[Path], captions: list[bytes]) -> int:
    """Make each output's ``.txt`` hold its caption; returns how many files were written.

    Compared byte for byte first, so a rerun writes nothing yet still picks up a
    caption the user edited since.
    """
    written = 0
    if not paths:
        return 0
    real_out = paths[0].parent.resolve()
    for path, caption in zip(paths, captions):
        target = path.with_suffix(CAPTION_EXT)
        try:
            # one byte more than the caption is enough to tell a different file; a link out is rewritten as a file
            if read_inside(target, real_out, len(caption)) == caption:
                continue
        except OSError:
            pass
        atomic_write_bytes(target, caption)
        written += 1
    return written


def save(img, path: Path, fmt: str, icc: Optional[bytes] = None) -> None:
    """Encode ``img`` atomically at ``path`` in ``fmt`` (png, jpg or webp)."""
    pil_format = FORMATS[fmt][0]
    # zlib level 4 encodes about 2.5x faster than Pillow's default 6 for files
    # about 5% larger; these are working files for a trainer, not an archive.
    params: dict = {"compress_level": 4}
    if pil_format == "JPEG":
        params = {"quality": 95}
    elif pil_format == "WEBP":
        params = {"quality": 95, "method": 4}
    if icc:
        params["icc_profile"] = icc  # keep the colours the source meant
    with atomic_open(path, "wb") as fh:
        img.save(fh, format=pil_format, **params)


def _copy_atomic(src: Path, final: Path) -> None:
    with open_checked(src) as fin, atomic_open(final, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1024 * 1024)


def hash_source(task: Task) -> tuple[str, Optional[int], int]:
    """(name, perceptual hash or None when unreadable, pixel area) for dedupe."""
    try:
        with images.open_image(task.source, task.opts.max_pixels) as img:
            orientation = images.exif_orientation(img)
            width, height = images.oriented_size(img, orientation)
            if min(width, height) < task.opts.min_size:
                return task.source.name, None, 0  # skipped later anyway; must not win a group
            images.draft_for(img, orientation, (64, 64))  # phash looks at 32x32 anyway
            rgb = images.load_rgb(img, orientation, task.opts.background)
        return task.source.name, images.perceptual_hash(rgb), width * height
    except Exception:  # the augment pass reports why; here it just takes no part
        return task.source.name, None, 0


# --------------------------------------------------------------------------- the folder


@dataclass
class Skipped:
    name: str
    reason: str  # what it shares with others skipped or failed for the same cause
    detail: str = ""  # what is its own


@dataclass
class AugmentReport:
    min_size: int = 0  # the options' minimum short side
    sources: int = 0
    ignored: int = 0  # files that are neither images nor captions (sidecars, ...)
    written: int = 0  # sources that got new outputs this run
    done: int = 0  # sources whose outputs were already complete
    split: int = 0
    tiles: int = 0
    images: int = 0
    copied: int = 0
    captions: int = 0
    named: int = 0  # sources captioned by their file names
    skipped: list[Skipped] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)
    tile_captions: Optional[tiles.TileReport] = None  # with --tile-captions

    @property
    def ok(self) -> bool:
        """No source failed (deliberate skips such as too small or duplicate are fine), nor a tile's caption."""
        return not self.failed and not (self.tile_captions and self.tile_captions.failed)

    def add(self, result: SourceResult) -> None:
        if result.status == FAILED:
            self.failed.append(Skipped(result.name, result.reason, result.detail))
            return
        if result.status == SKIPPED:
            self.skipped.append(Skipped(result.name, result.reason, result.detail))
            return
        if result.status == DONE:
            self.done += 1
        else:
            self.written += 1
        self.split += bool(result.tiles)
        self.tiles += result.tiles
        self.images += result.images
        self.copied += result.copied
        self.captions += result.captions
        self.named += result.named

    def summary(self) -> list[str]:
        lines = [
            f"{self.sources} images: {self.written} augmented, {self.done} already done, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed",
            f"  wrote {self.images} images ({self.copied} copied unchanged) and {self.captions} captions"
            + (f"; split {self.split} into {self.tiles} tiles" if self.split else ""),
        ]
        if self.named:
            lines.append(f"  {self.named} of them have no .txt caption, so the trainer reads their file names: their "
                         "outputs got that caption as .txt files")
        if self.tile_captions is not None:
            lines += self.tile_captions.summary()
        return lines + self.skip_lines() + self.failure_lines()

    def skip_lines(self) -> list[str]:
        """One line per reason sources were skipped for (too small, duplicates, …), with a count and examples."""
        return [f"  {line}" for line in by_reason(_entries(self.skipped), "skipped")]

    def failure_lines(self) -> list[str]:
        """One line per reason sources failed for, with a count and examples; one per tile whose caption failed."""
        tile_lines = self.tile_captions.failure_lines() if self.tile_captions is not None else []
        return [f"  {line}" for line in by_reason(_entries(self.failed), "failed")] + tile_lines

    def nothing_made(self) -> Optional[str]:
        """Why no source has an output, with what to change; None when some have."""
        if self.written or self.done:
            return None
        small = sum(1 for s in self.skipped if s.reason == too_small(self.min_size))
        if small == self.sources:
            which = "The one image is" if small == 1 else f"All {small} images are"
            return (f"{which} under the {self.min_size}-pixel minimum, so nothing was written; lower "
                    f"{option('min_size')} (0 keeps every image).")
        parts = [f"{small} too small"] if small else []
        parts += [f"{len(self.skipped) - small} skipped"] if len(self.skipped) > small else []
        parts += [f"{len(self.failed)} failed"] if self.failed else []
        fix = f"lower {option('min_size')} for the small ones and " if small else ""
        return (f"None of the {self.sources} images made an output ({', '.join(parts)}), so nothing was written; "
                f"{fix}fix what the lines above say.")


def _entries(problems: list[Skipped]) -> list[tuple[str, str, str]]:
    return [(p.name, p.reason, p.detail) for p in problems]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def augment(src: Path, out: Path, options: AugmentOptions = AugmentOptions(), *, workers: Optional[int] = None,
            progress: Optional[Progress] = None, executor_factory: Optional[Callable[[int], Executor]] = None,
            tagger=None) -> AugmentReport:
    """Augment every image in ``src`` into ``out``; see the module docstring for names.

    ``workers`` defaults to every core; 1 runs in this process.  ``executor_factory``
    lets a host supply its own pool (the web UI may want another start method).  ``tagger`` (a
    :class:`~sd_dataset.tagger.OnnxTagger`) looks at each tile for ``options.tile_captions``.
    """
    options.check()
    tiles.check_tagger_given(options.tile_captions, tagger is not None)
    if tagger is not None:
        tiles.general_labels(tagger)  # a tagger that cannot serve is refused before any image is written
    if workers is not None and workers < 1:
        raise DatasetError(f"{option('workers')} must be at least 1.")
    src, out = check_folders(src, out)
    sources, ignored = list_sources(src)
    out = ensure_writable_dir(out)
    with folder_lock(out, "augment"):
        return _augment_locked(src, sources, ignored, out, options, workers, progress or Progress(),
                               executor_factory, tagger)


def _augment_locked(src: Path, sources: list[Path], ignored: int, out: Path, options: AugmentOptions,
                    workers: Optional[int], progress: Progress,
                    executor_factory: Optional[Callable[[int], Executor]], tagger=None) -> AugmentReport:
    remove_stale_temps(out)
    claim_settings(out, options)
    sources, refused = split_refused(sources, src.resolve())
    report = AugmentReport(min_size=options.min_size, sources=len(sources) + len(refused), ignored=ignored)
    report.skipped += [Skipped(path.name, reason) for path, reason in refused]
    workers = min(workers or default_workers(), max(1, len(sources)))
    sources = _drop_name_clashes(sources, options, report)

    make_pool = executor_factory or process_pool
    jobs: list[tiles.TileJob] = []
    with _Runner(workers, make_pool, progress) as runner:
        try:
            if options.dedupe:
                sources = _dedupe(sources, out, options, runner, report)
            progress.start(report.sources, "augment")
            if len(sources) < report.sources:  # name clashes and duplicates are already reported
                progress.advance(report.sources - len(sources))
            tasks = (Task(s, out, options) for s in sources)
            for result in runner.map(process_source, tasks, _worker_died):
                report.add(result)
                jobs += result.tile_jobs
                progress.advance()
        finally:
            progress.close()
    if options.tile_captions:  # after the pool: the tagger's session lives in this process
        report.tile_captions = tiles.TileReport()
        _caption_tiles(jobs, tagger, out, report, progress)
    return report


def _caption_tiles(jobs: list[tiles.TileJob], tagger, out: Path, report: AugmentReport, progress: Progress) -> None:
    """Write each tile's caption, and its mirror's with left and right swapped."""
    for job, caption in tiles.caption_tiles(jobs, tagger, out, report.tile_captions, progress):
        paths, captions = [job.image], [caption]
        if job.mirror is not None:
            paths.append(job.mirror)
            captions.append(_mirrored(caption))
        try:
            report.captions += _sync_captions(paths, captions)
        except OSError as exc:
            report.tile_captions.failed.append((job.image.name, f"could not write its caption "
                                                                f"({exc.strerror or exc})"))


def _worker_died(task: Task) -> SourceResult:
    return SourceResult(task.source.name, FAILED, "its worker process died (out of memory?); a rerun tries it again")


def check_folders(src: Path, out: Path) -> tuple[Path, Path]:
    """Both folders resolved, or one sentence saying what is wrong with them."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.exists():
        raise DatasetError(f"The source folder {src} does not exist; check the path.")
    if not src.is_dir():
        raise DatasetError(f"The source {src} is a file, not a folder; give the folder that holds the images.")
    real_src, real_out = src.resolve(), out.resolve()
    if real_out == real_src or real_src in real_out.parents:
        raise DatasetError(f"The output folder {out} is inside the source folder {src}; choose an output folder "
                           "outside it, because the source is never written.")
    return src, out


def list_sources(src: Path) -> tuple[list[Path], int]:
    """Image entries directly in ``src`` sorted by name, and how many other files were ignored.

    Entries that are not regular files inside ``src`` are listed too, so that the step reports each one it refuses.
    """
    found, ignored = [], 0
    try:
        entries = sorted(os.scandir(src), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"Cannot list the source folder {src} ({exc.strerror or exc}); check its permissions.")
    for entry in entries:
        # Hidden files include macOS "._name.jpg" resource forks, which are not images.
        if entry.name.startswith(".") or entry.is_dir():
            continue
        ext = Path(entry.name).suffix.lower()
        if ext.lstrip(".") in IMAGE_EXTS:
            found.append(Path(entry.path))
        elif ext != CAPTION_EXT:
            ignored += 1
    if not found:
        raise DatasetError(f"The source folder {src} holds no images ({', '.join(sorted(IMAGE_EXTS))}); "
                           "point at the folder that holds them.")
    return found, ignored


def _drop_name_clashes(sources: list[Path], opts: AugmentOptions, report: AugmentReport) -> list[Path]:
    """Leave out sources whose outputs would overwrite another source's.

    ``a.png`` and ``a.jpg`` would both become ``a.png``; ``a-flip.png`` collides
    with the mirror of ``a.png`` under --flip, ``a-split0.png`` with a tile of it
    under --split.  Compared case-insensitively, because Windows and macOS
    folders are.
    """
    owners: dict[str, Path] = {}
    for source in sources:
        key = source.stem.casefold()
        if key in owners:
            report.failed.append(Skipped(source.name, "its outputs would overwrite another source's; rename one of "
                                                      "them", f"those of {owners[key].name}"))
        else:
            owners[key] = source
    kept = []
    for key, source in owners.items():
        base = next((owners[b] for b in _possible_bases(key, opts) if b in owners), None)
        if base is not None:
            report.failed.append(Skipped(source.name, "its name is taken by another source's outputs; rename it",
                                         f"those of {base.name}"))
        else:
            kept.append(source)
    return kept


def _possible_bases(stem: str, opts: AugmentOptions) -> list[str]:
    """Stems whose outputs could be named ``stem`` under these options."""
    patterns = []
    if opts.flip:
        patterns.append(r"(.+)-flip")
    if opts.split:
        patterns.append(r"(.+)-split\d+")
    if opts.flip and opts.split:
        patterns.append(r"(.+)-split\d+-flip")
    return [m.group(1) for p in patterns if (m := re.fullmatch(p, stem))]


def _dedupe(sources: list[Path], out: Path, opts: AugmentOptions, runner: "_Runner",
            report: AugmentReport) -> list[Path]:
    """Drop near-duplicate sources, keeping the one with the most pixels of each group."""
    runner.progress.start(len(sources), "compare")
    hashed = []
    tasks = (Task(s, out, opts) for s in sources)
    for name, value, area in runner.map(hash_source, tasks, lambda task: (task.source.name, None, 0)):
        hashed.append((name, value, area))
        runner.progress.advance()
    by_name = {s.name: s for s in sources}
    # Largest first, so the one kept from each group is the largest; name breaks ties stably.
    order = sorted((h for h in hashed if h[1] is not None), key=lambda h: (-h[2], h[0]))
    kept_hashes: list[tuple[str, int]] = []
    dropped = set()
    for name, value, area in order:
        match = next(((k, images.hamming(value, h)) for k, h in kept_hashes
                      if images.hamming(value, h) <= DEDUPE_DISTANCE), None)
        if match:
            dropped.add(name)
            report.skipped.append(Skipped(name, "near-duplicates of larger images, which are kept",
                                          f"of {match[0]}, hash distance {match[1]}"))
        else:
            kept_hashes.append((name, value))
    return [by_name[n] for n in sorted(by_name) if n not in dropped]


class _Runner:
    """Runs a function over tasks in a pool with a bounded window of work in flight.

    Only ``window`` tasks are ever submitted ahead of the results, so a folder of
    100 000 images costs no more memory than a folder of ten.  A worker that dies
    (killed, out of memory) fails its own tasks and the pool is started again.
    """

    def __init__(self, workers: int, make_pool: Callable[[int], Executor], progress: Progress):
        self.workers, self.make_pool, self.progress = workers, make_pool, progress
        self.window = workers * 2
        self.pool: Optional[Executor] = None

    def __enter__(self) -> "_Runner":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            # On an error or cancel, drop what has not started; running tasks finish (a second each).
            self.pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
            self.pool = None

    def map(self, fn, tasks: Iterable, on_broken: Callable) -> Iterator:
        """Yield ``fn(task)`` for every task, in completion order.

        A task whose worker died yields ``on_broken(task)`` instead, so the caller
        sees one result per task whatever happens.
        """
        tasks = iter(tasks)
        if self.workers == 1:
            for task in tasks:
                self.progress.check()
                yield fn(task)
            return
        pending: dict[Future, object] = {}
        while True:
            self.progress.check()
            while len(pending) < self.window:
                task = next(tasks, None)
                if task is None:
                    break
                if self.pool is None:
                    self.pool = self.make_pool(self.workers)
                pending[self.pool.submit(fn, task)] = task
            if not pending:
                return
            # A timeout keeps cancellation responsive even while a slow image decodes.
            done, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool:
                    broken = True
                    yield on_broken(task)
            if broken:
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = None
