"""Files → md5 → post → caption → output files: the ``tag`` step.

Which post a file shows comes from the 32-hex run in its name (else from its bytes);
the post comes from the fetch sidecar, the local cache, the offline index or, for what
is left, one batched API lookup.  Images are copied into the output folder with their
captions (``<stem>.txt``, the caption as the filename, or kohya's ``<N>_<concept>/``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import postindex
from .boorus.base import Booru, Post
from .errors import DatasetError
from .fetch import Failure, read_sidecar, sidecar_path
from .files import (TEMP_SUFFIX, Refused, atomic_open, ensure_writable_dir, md5_of_file, open_checked, read_inside,
                    remove_stale_temps, write_text_if_changed)
from .images import IMAGE_EXTS, SIGNATURE_BYTES, has_image_signature, scan_images
from .lock import folder_lock
from .names import _ILLEGAL_RE, REPLACEMENT, cut_utf8, safe_filename, safe_user_name, utf8_len
from .postcache import MISSING, PostCache, site_key
from .progress import Progress
from .tags import CaptionRules
from .summaries import by_reason
from .wording import offers, option

log = logging.getLogger(__name__)

CAPTION_MODES = ("txt", "filename", "both")
LAYOUTS = ("flat", "kohya")
MAX_NAME_BYTES = 240
MANIFEST = ".sd_dataset-tag.json"
# The manifest names every output, up to 240 bytes each: a million images stay under this.
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
FREQUENCY_FILE = "tags.csv"
SIDECAR, CACHE, INDEX, API = "sidecar", "cache", "index", "api"
NO_POST = "no post found for their md5"
NOT_AN_IMAGE = f"not an image (its bytes are in none of the formats {', '.join(sorted(IMAGE_EXTS))})"

_MD5_RUN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")
_OLD_PREPROCESS = re.compile(r"^\d+-\d([0-9a-fA-F]{32})(?![0-9a-fA-F])")  # A1111's old "00001-0<name>"
_WEBUI_PREFIX = re.compile(r"^[-\d]+\s*")  # what the web UI strips from a filename caption


def filename_reminder() -> str:
    return ("Captions are in the file names: set the web UI's Settings → Training → \"Filename join string\" to "
            f"\", \" (or tag again with {option('caption')} txt, which the trainer reads verbatim).")


def md5_from_name(stem: str) -> Optional[str]:
    """The md5 a file name carries: the last run of exactly 32 hex digits in the stem, lower-cased."""
    runs = _MD5_RUN.findall(stem)
    if runs:
        return runs[-1].lower()
    old = _OLD_PREPROCESS.match(stem)
    return old.group(1).lower() if old else None


@dataclass
class TagOptions:
    rules: CaptionRules = field(default_factory=CaptionRules)
    caption: str = "txt"
    layout: str = "flat"
    repeats: int = 10
    concept: str = ""
    keep_untagged: bool = False
    exclude_common: Optional[float] = None  # drop tags on at least this share of images from captions
    common_threshold: float = 0.8  # flag tags on at least this share of images as likely subject traits
    retry_missing: bool = False
    offline: bool = False

    def validate(self) -> None:
        if self.caption not in CAPTION_MODES:
            raise DatasetError(f"Unknown caption form {self.caption!r}; choose txt, filename or both.")
        if self.layout not in LAYOUTS:
            raise DatasetError(f"Unknown layout {self.layout!r}; choose flat or kohya.")
        if self.layout == "kohya" and self.caption == "filename":
            raise DatasetError(f"The kohya layout reads .txt captions; use {option('caption')} txt or both with "
                               f"{option('layout')} kohya.")
        if self.layout == "kohya" and self.repeats < 1:
            raise DatasetError(f"{option('repeats')} must be at least 1; enter e.g. 10.")
        for value, name in ((self.exclude_common, option("exclude_common")), (self.common_threshold, "The threshold")):
            if value is not None and not 0 < value <= 1:
                raise DatasetError(f"{name} is a share of the images, above 0 and at most 1; enter e.g. 0.8.")


@dataclass
class Item:
    path: Path
    md5: Optional[str] = None
    post: Optional[Post] = None
    caption: str = ""
    output: Optional[str] = None


@dataclass
class TagReport:
    images: int = 0
    tagged: int = 0
    untagged: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)  # files not read on purpose (links out, FIFOs, too large)
    sources: Counter = field(default_factory=Counter)
    frequency: Counter = field(default_factory=Counter)
    captions: dict[str, str] = field(default_factory=dict)  # output name -> caption
    common: list[str] = field(default_factory=list)
    common_threshold: float = 0.8
    excluded_common: bool = False
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    api_requests: int = 0
    retries: int = 0
    kept_untagged: bool = False
    offline: bool = False
    caption_mode: str = "txt"
    folder: Optional[Path] = None
    tag_names: dict[str, str] = field(default_factory=dict)  # tag -> caption form
    vocab_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self, top: int = 30) -> list[str]:
        untagged_note = "kept with no tags" if self.kept_untagged else "left out"
        lines = [f"{self.images} images: tagged {self.tagged}, untagged {len(self.untagged)} ({untagged_note}), "
                 f"failed {len(self.failed)}"]
        if any(self.sources.values()):
            lines.append("  posts from: " + ", ".join(f"{k} {self.sources[k]}" for k in (SIDECAR, CACHE, INDEX, API)
                                                        if self.sources[k]))
        lines += [f"  {line}" for line in by_reason(((n, NO_POST, "") for n in self.untagged), "untagged")]
        lines += self.failure_lines()
        lines += [f"  skipped {f.name}: {f.reason}" for f in self.skipped]
        if self.untagged and self.offline:
            lines.append(f"hint: {option('offline')} asked no site; tag again without it to look these up.")
        elif self.untagged:
            retry = f"{option('retry_missing')} asks the site again, " if offers("retry_missing") else ""
            lines.append(f"hint: misses are remembered; {retry}{option('keep_untagged')} keeps these images with "
                         "empty captions.")
        lines.append(f"output {self.folder}: {self.written} images written, {self.unchanged} already complete"
                     + (f", {self.removed} stale files removed" if self.removed else ""))
        lines.append(f"API requests: {self.api_requests}" + (f", {self.retries} retried" if self.retries else ""))
        if self.frequency:
            lines.append(f"top tags of {self.tagged} tagged images (full table in {FREQUENCY_FILE}):")
            width = max(len(self.tag_names.get(t, t)) for t, _ in self.frequency.most_common(top))
            for tag, n in self.frequency.most_common(top):
                mark = "  *" if tag in self.common else ""
                lines.append(f"  {self.tag_names.get(tag, tag):<{width}}  {n:>5}  {n / max(1, self.tagged):6.1%}{mark}")
        if self.common:
            names = ", ".join(self.tag_names.get(t, t) for t in self.common)
            if self.excluded_common:
                lines.append(f"* on at least {self.common_threshold:.0%} of images, left out of the captions: {names}")
            else:
                lines.append(f"* on at least {self.common_threshold:.0%} of images, likely traits of the subject: "
                             f"{names}; {option('exclude_common')} at {self.common_threshold:g} leaves them out so a "
                             "textual inversion absorbs them")
        if self.caption_mode in ("filename",) and self.captions:
            lines.append(filename_reminder())
        return lines

    def failure_lines(self) -> list[str]:
        """One line per reason images failed for (the site down is one line), with a count and examples."""
        return [f"  {line}" for line in by_reason(((f.name, f.reason, "") for f in self.failed), "failed")]

    def nothing_made(self) -> Optional[str]:
        """Why the output folder got no image, with what to change; None when it got some."""
        if self.written or self.unchanged:
            return None
        if self.untagged and len(self.untagged) == self.images:
            fix = (f"tag again without {option('offline')} to ask the site" if self.offline else
                   f"keep them with empty captions with {option('keep_untagged')}, or caption them yourself")
            return f"No post was found for any of the {self.images} images, so none was captioned; {fix}."
        parts = [f"{len(self.untagged)} without a post"] if self.untagged else []
        parts += [f"{len(self.failed)} failed"] if self.failed else []
        parts += [f"{len(self.skipped)} skipped"] if self.skipped else []
        return (f"None of the {self.images} images was captioned ({', '.join(parts) or 'none readable'}); fix what "
                "the lines above say and tag again.")


# -- the step ----------------------------------------------------------------------------------

def tag_folder(src: Path, out: Path, options: Optional[TagOptions] = None, *, booru: Optional[Booru] = None,
               cache: Optional[PostCache] = None, progress: Optional[Progress] = None) -> TagReport:
    """Caption the images in ``src`` into ``out``; ``booru`` None (or ``options.offline``) makes no request."""
    options = options or TagOptions()
    options.validate()
    progress = progress or Progress()
    src, dest, root = _check_folders(Path(src), Path(out), options)
    files, refused = _list_images(src)
    with folder_lock(ensure_writable_dir(root), "tag"):
        return _tag_locked(src, dest, root, files, refused, options, booru, cache, progress)


def _tag_locked(src: Path, dest: Path, root: Path, files: list[Path], refused: list[tuple[Path, str]],
                options: TagOptions, booru: Optional[Booru], cache: Optional[PostCache], progress: Progress
                ) -> TagReport:
    report = TagReport(images=len(files), caption_mode=options.caption, kept_untagged=options.keep_untagged,
                       offline=options.offline or booru is None,
                       common_threshold=options.exclude_common or options.common_threshold)
    report.skipped += [Failure(path.name, reason) for path, reason in refused]
    items = _identify(files, report, progress)
    _find_posts(items, src, booru, cache, options, report)
    _caption(items, options, report)
    root = ensure_writable_dir(root)
    dest = ensure_writable_dir(dest)
    remove_stale_temps(dest)
    _write_outputs(items, dest, root, options, report, progress)
    report.folder = dest
    return report


def _check_folders(src: Path, out: Path, options: TagOptions) -> tuple[Path, Path, Path]:
    src = src.expanduser()
    if not src.exists():
        raise DatasetError(f"The source folder {src} does not exist; check the path.")
    if not src.is_dir():
        raise DatasetError(f"{src} is a file; pass the folder that holds the images.")
    root = out.expanduser()
    dest = root
    if options.layout == "kohya":
        concept = options.concept or options.rules.trigger or src.resolve().name or "concept"
        dest = root / f"{options.repeats}_{safe_user_name(concept, MAX_NAME_BYTES - 12)}"
    real_src, real_root, real_dest = src.resolve(), root.resolve(), dest.resolve()
    for folder in (real_root, real_dest):
        if folder == real_src or real_src in folder.parents:
            raise DatasetError(f"The output folder {out} is inside the source folder {src}; choose an output "
                               f"folder outside it (the source is never written).")
    return src, dest, root


def _list_images(src: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    try:
        files, refused = scan_images(src)
    except OSError as exc:
        raise DatasetError(f"Cannot read the source folder {src} ({exc.strerror or exc}); check its permissions.") \
            from None
    if refused and not files:
        raise DatasetError(f"Every image in {src} is a link to a file outside it or not a regular file, and such "
                           f"files are never read; copy the images into the folder.")
    if not files:
        raise DatasetError(f"{src} has no images ({', '.join(sorted(IMAGE_EXTS))}); point tag at the folder that "
                           f"holds them.")
    return files, refused


def _identify(files: list[Path], report: TagReport, progress: Progress) -> list[Item]:
    """The images among ``files`` with their md5; a file that is no image fails here, before a site is asked about
    its hash."""
    images = []
    for path in files:
        problem = _not_an_image(path)
        if problem:
            report.failed.append(Failure(path.name, problem))
        else:
            images.append(path)
    items = []
    needs_hash = [p for p in images if md5_from_name(p.stem) is None]
    if needs_hash:
        progress.start(len(needs_hash), "hash")
    for path in images:
        md5 = md5_from_name(path.stem)
        if md5 is None:
            progress.check()
            try:
                md5 = md5_of_file(path)
            except OSError as exc:
                report.failed.append(Failure(path.name, f"could not read the file ({exc.strerror or exc})"))
                continue
            progress.advance()
        items.append(Item(path, md5))
    if needs_hash:
        progress.close()
    return items


def _not_an_image(path: Path) -> str:
    """Why ``path`` is no image file, from its first bytes (nothing is decoded), or ``""``."""
    try:
        with open_checked(path) as fh:
            head = fh.read(SIGNATURE_BYTES)
    except OSError as exc:
        return f"could not read the file ({exc.strerror or exc})"
    return "" if has_image_signature(head) else NOT_AN_IMAGE


def _find_posts(items: list[Item], src: Path, booru: Optional[Booru], cache: Optional[PostCache],
                options: TagOptions, report: TagReport) -> None:
    wanted = list(dict.fromkeys(item.md5 for item in items))
    posts: dict[str, Post] = {}
    real_src = src.resolve()
    for md5 in wanted:
        post = _read_sidecar(src, real_src, md5, report)
        if post is not None and post.md5 == md5:
            posts[md5] = post
            report.sources[SIDECAR] += 1
    unknown = [m for m in wanted if m not in posts]
    site = site_key(booru) if booru is not None else "offline"
    logged_in = booru is not None and booru.http.credentials.complete
    missing: set[str] = set()
    if unknown and cache is not None:
        for md5, answer in cache.get_many(site, unknown, include_misses=not options.retry_missing,
                                          logged_in=logged_in).items():
            if answer == MISSING:
                missing.add(md5)
            else:
                posts[md5] = answer
                report.sources[CACHE] += 1
        unknown = [m for m in unknown if m not in posts and m not in missing]
    if unknown and cache is not None and (booru is None or booru.name in postindex.INDEX_SITES):
        for md5, post in postindex.lookup(cache, unknown).items():
            posts[md5] = post
            report.sources[INDEX] += 1
        unknown = [m for m in unknown if m not in posts]
    failed_md5s: dict[str, str] = {}
    if unknown and booru is not None and not options.offline:
        before, retries_before = booru.http.stats.api_requests, booru.http.stats.retries
        try:
            found = booru.posts_by_md5(unknown)
        except DatasetError as exc:
            failed_md5s = {m: f"the site lookup failed ({exc}); a rerun asks again" for m in unknown}
            found = {}
        finally:
            report.api_requests += booru.http.stats.api_requests - before
            report.retries += booru.http.stats.retries - retries_before
        rejected = list(booru.rejected)
        booru.rejected.clear()
        report.failed += [Failure(label, f"refused the site's data: {why}") for label, why in rejected]
        posts.update(found)
        report.sources[API] += len(found)
        if cache is not None and not failed_md5s:
            misses = [] if rejected else [m for m in unknown if m not in found]
            cache.put_many(site, found.values(), misses, logged_in=logged_in)
    for item in items:
        item.post = posts.get(item.md5)
        if item.post is None and item.md5 in failed_md5s:
            report.failed.append(Failure(item.path.name, failed_md5s[item.md5]))
        elif item.post is None:
            report.untagged.append(item.path.name)
        else:
            report.tagged += 1


def _read_sidecar(src: Path, real_src: Path, md5: str, report: TagReport) -> Optional[Post]:
    """The post fetch saved beside the image; None when there is none or it is unusable (a refused one reported)."""
    try:
        return read_sidecar(src, md5, real_src)
    except Refused as exc:
        report.skipped.append(Failure(sidecar_path(src, md5).name, f"{exc}; its post is looked up elsewhere"))
        return None


def _caption(items: list[Item], options: TagOptions, report: TagReport) -> None:
    rules = options.rules
    tagged = [item for item in items if item.post is not None]
    content = {id(item): rules.content_tags(item.post) for item in tagged}
    for tags in content.values():
        report.frequency.update(tags)
    threshold = options.exclude_common or options.common_threshold
    report.common = sorted((t for t, n in report.frequency.items() if tagged and n / len(tagged) >= threshold),
                           key=lambda t: (-report.frequency[t], t))
    drop = frozenset(report.common) if options.exclude_common else frozenset()
    report.excluded_common = bool(options.exclude_common)
    report.tag_names = {t: rules.fmt(t) for t in report.frequency}
    if rules.vocab is not None:
        report.vocab_counts = {t: rules.vocab.count(t) for t in report.frequency}
    for item in items:
        if item.post is not None:
            item.caption = rules.caption(item.post, drop)
        elif options.keep_untagged:
            item.caption = rules.caption(None)


# -- output files --------------------------------------------------------------------------------

def _write_outputs(items: list[Item], dest: Path, root: Path, options: TagOptions, report: TagReport,
                   progress: Progress, workers: int = 8) -> None:
    keep = [item for item in items if item.post is not None or options.keep_untagged]
    failed_names = {f.name for f in report.failed}
    keep = [item for item in keep if item.path.name not in failed_names]
    manifest_path = root / MANIFEST
    previous = _read_manifest(manifest_path)
    taken = {p.name.casefold() for p in _safe_listdir(dest)
             if not p.name.endswith(TEMP_SUFFIX) and _rel(p, root) not in previous}
    taken |= {n.casefold() for n in (MANIFEST, FREQUENCY_FILE)}
    with_txt = options.caption in ("txt", "both")
    companions = (".txt",) if with_txt else ()
    for item in keep:  # names first, in a fixed order, so a rerun picks the same ones
        ext = item.path.suffix.lower()
        if options.caption == "txt" or not item.caption:
            item.output = unique_name(safe_filename(item.path.stem, MAX_NAME_BYTES - 16), ext, taken, companions)
        else:
            item.output = caption_filename(item.caption, ext, taken, guard_prefix=options.caption == "filename",
                                           companions=companions)
    # claim every planned name before writing any, so a run killed midway (no ``finally`` runs then) leaves a
    # manifest naming its files as ours: the rerun picks the same names instead of numbering around them
    planned = {_rel(dest / item.output, root) for item in keep}
    if with_txt:
        planned |= {_rel(dest / (item.output[:-len(item.path.suffix)] + ".txt"), root) for item in keep}
    _write_manifest(manifest_path, planned | previous)
    written: set[str] = set()
    complete = False
    progress.start(len(keep), "tag")
    try:
        # copies and captions are fsynced one by one; a few threads keep the disk busy meanwhile
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tag") as pool:
            futures = {}
            try:
                for item in keep:
                    futures[pool.submit(_write_item, item, dest, with_txt)] = item
                for future in as_completed(futures):
                    progress.check()
                    item = futures[future]
                    try:
                        wrote, outputs = future.result()
                    except OSError as exc:
                        report.failed.append(Failure(item.path.name, f"could not write {item.output} "
                                                                     f"({exc.strerror or exc})"))
                        if item.post is not None:
                            report.tagged -= 1
                    else:
                        written.update(_rel(p, root) for p in outputs)
                        report.written += 1 if wrote else 0
                        report.unchanged += 0 if wrote else 1
                    progress.advance()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        report.captions = {item.output: item.caption for item in keep
                           if item.path.name not in {f.name for f in report.failed}}
        complete = not report.failed
    finally:
        progress.close()
        # only a run that made every output may drop what earlier runs made and this one did not
        report.removed += _remove_stale(previous - written, root) if complete else 0
        if complete:
            _write_manifest(manifest_path, written)
        else:  # files of a cut-short run may exist beyond those we counted: keep every planned name claimed
            _write_manifest(manifest_path, written | planned | previous)
        _write_frequency(root / FREQUENCY_FILE, report)


def _write_item(item: Item, dest: Path, with_txt: bool) -> tuple[int, list[Path]]:
    name = item.output
    outputs = [dest / name]
    wrote = _copy_image(item.path, dest / name)
    if with_txt:
        txt = dest / (name[:-len(item.path.suffix)] + ".txt")
        outputs.append(txt)
        wrote += write_text_if_changed(txt, item.caption)
    return wrote, outputs


def _free(name: str, ext: str, taken: set[str], companions: tuple[str, ...]) -> bool:
    """Claim ``name`` (and ``stem + companion`` for each companion extension) unless one is taken."""
    stem = name[:-len(ext)] if ext and name.endswith(ext) else name
    wanted = [name.casefold()] + [(stem + c).casefold() for c in companions]
    if any(w in taken for w in wanted):
        return False
    taken.update(wanted)
    return True


def unique_name(stem: str, ext: str, taken: set[str], companions: tuple[str, ...] = ()) -> str:
    """``stem + ext``, or ``stem (2) + ext``, ``(3)``… — the first not in ``taken`` (compared case-blind).

    ``companions`` are extensions of files that go beside it (``.txt``), which must be free too.
    """
    number = 1
    while True:
        suffix = "" if number == 1 else f" ({number})"
        limit = MAX_NAME_BYTES - utf8_len(suffix + ext)
        name = safe_filename(cut_utf8(stem, limit).rstrip(". ") + suffix + ext, MAX_NAME_BYTES)
        if _free(name, ext, taken, companions):
            return name
        number += 1


def caption_filename(caption: str, ext: str, taken: set[str], guard_prefix: bool = True,
                     companions: tuple[str, ...] = ()) -> str:
    """The caption as a safe, unique file name: whole tags only, at most 240 bytes with extension and number.

    Escaped parentheses lose their backslash (illegal in Windows names).  With ``guard_prefix`` a caption
    the web UI would clip (one starting with a digit or ``-``, which it strips as a preprocess number) gets
    a ``0 `` in front, which the web UI strips instead.
    """
    # a file name cannot hold the backslash of an escaped parenthesis: write the parenthesis itself
    unescaped = caption.replace("\\(", "(").replace("\\)", ")")
    parts = [_ILLEGAL_RE.sub(REPLACEMENT, part) for part in unescaped.split(", ") if part]
    prefix = "0 " if guard_prefix and parts and _WEBUI_PREFIX.match(parts[0]) else ""
    number = 1
    while True:
        suffix = "" if number == 1 else f" ({number})"
        budget = MAX_NAME_BYTES - utf8_len(prefix + suffix + ext)
        stem = ""
        for part in parts:
            longer = f"{stem}, {part}" if stem else part
            if utf8_len(longer.rstrip(". ")) > budget:
                break
            stem = longer
        if not stem:  # the first tag alone is too long: cut inside it
            stem = cut_utf8(parts[0] if parts else "", budget)
        name = safe_filename(prefix + stem.rstrip(". ") + suffix + ext, MAX_NAME_BYTES)
        if _free(name, ext, taken, companions):
            return name
        number += 1


def _copy_image(source: Path, final: Path) -> int:
    """Copy unless ``final`` already is this copy (same size and time); returns 1 when it wrote."""
    st = source.stat()
    try:
        existing = final.stat()
        if existing.st_size == st.st_size and existing.st_mtime_ns == st.st_mtime_ns:
            return 0
    except FileNotFoundError:
        pass
    with open_checked(source) as fin, atomic_open(final, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1024 * 1024)
    os.utime(final, ns=(st.st_atime_ns, st.st_mtime_ns))
    return 1


def _safe_listdir(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_manifest(path: Path) -> set[str]:
    try:
        data = json.loads(read_inside(path, path.parent.resolve(), MAX_MANIFEST_BYTES))
        return {f for f in data.get("files", []) if isinstance(f, str) and f and ".." not in f.split("/")
                and not f.startswith("/") and "\\" not in f and ":" not in f}
    except (OSError, ValueError, AttributeError):
        return set()


def _write_manifest(path: Path, files: set[str]) -> None:
    text = json.dumps({"about": "files sd_dataset tag wrote here; a rerun removes those it no longer makes",
                       "files": sorted(files)}, ensure_ascii=False, indent=1) + "\n"
    write_text_if_changed(path, text)


def _remove_stale(stale: set[str], root: Path) -> int:
    """Delete outputs an earlier run wrote that this run no longer makes (never anything else)."""
    removed = 0
    for rel in sorted(stale):
        path = root / rel
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the stale output %s (%s)", path, exc)
    return removed


def _write_frequency(path: Path, report: TagReport) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["tag", "caption", "images", "share", "vocab_count", "common"])
    total = max(1, report.tagged)
    for tag, n in sorted(report.frequency.items(), key=lambda kv: (-kv[1], kv[0])):
        writer.writerow([tag, report.tag_names.get(tag, tag), n, f"{n / total:.4f}",
                         report.vocab_counts.get(tag, ""), "yes" if tag in report.common else ""])
    write_text_if_changed(path, buf.getvalue())
