"""Files → md5 → post → caption → output files: the ``tag`` step.

Which post a file shows comes from the 32-hex run in its name (else from its bytes);
the post comes from the fetch sidecar, the local cache, the offline index or, for what
is left, one batched API lookup.  Images are copied into the output folder with their
captions (``<stem>.txt``, the caption as the filename, or kohya's ``<N>_<concept>/`` with the
``dataset.toml`` sd-scripts reads).  Each reader gets its own text (see :mod:`sd_dataset.captions`): the web
UI's prompt parser escaped ``.txt`` captions and file-name captions it reads as written, sd-scripts literal
captions unless it weighs them.
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
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import imagesearch, postindex, sidecars
from .augment import NAME_GROWTH
from .boorus.base import Booru, Post
from .captions import SEPARATOR, caption_text, name_form
from .errors import Cancelled, DatasetError
from .fetch import Failure, read_sidecar, sidecar_path
from .files import (TEMP_SUFFIX, Refused, atomic_open, ensure_writable_dir, md5_of_file, open_checked, read_inside,
                    remove_stale_temps, write_record, write_text_if_changed)
from .http import Exhausted
from .images import IMAGE_EXTS, SIGNATURE_BYTES, ImageProblem, has_image_signature, scan_images
from .kohya import DATASET_CONFIG, Subset, dataset_config
from .lock import folder_lock
from .names import cut_utf8, is_device_name, name_budget, safe_filename, safe_user_name, utf8_len
from .postcache import MISSING, PostCache, site_key
from .progress import Progress
from .tagger import Tagger, TaggerResult
from .tags import CaptionRules, Part, format_tag
from .summaries import by_reason, examples
from .wording import offers, option

log = logging.getLogger(__name__)

CAPTION_MODES = ("txt", "filename", "both")
LAYOUTS = ("flat", "kohya")
MAX_NAME_BYTES = 240  # a folder name (kohya's concept folder)
# the longest extension an output of ours or of augment gets (".jpeg", ".webp"; ".txt" beside them)
LONGEST_EXT = max(len(f".{ext}") for ext in IMAGE_EXTS)
MIN_STEM_BYTES = 40  # room for an md5 name and its number: a folder leaving less is refused
MANIFEST = ".sd_dataset-tag.json"
# The manifest names every output, up to 240 bytes each: a million images stay under this.
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
FREQUENCY_FILE = "tags.csv"
SIDECAR, CACHE, INDEX, API, IQDB = "sidecar", "cache", "index", "api", imagesearch.IQDB
TAGGER = "tagger"
SOURCES = (SIDECAR, CACHE, INDEX, API, IQDB, TAGGER)  # the report's order
# beside each output (sidecars.py): its post and caption parts, and for the local tagger's its scores and thresholds
TAG_SIDECAR_EXT = sidecars.EXT
MAX_TAG_SIDECAR_BYTES = 4 * 1024 * 1024
NO_POST = "no post found for their md5"
NO_POST_NOR_TAG = "no post found for their md5, and the local tagger saw no tag above its thresholds"
NOT_AN_IMAGE = f"not an image (its bytes are in none of the formats {', '.join(sorted(IMAGE_EXTS))})"

_MD5_RUN = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")
_OLD_PREPROCESS = re.compile(r"^\d+-\d([0-9a-fA-F]{32})(?![0-9a-fA-F])")  # A1111's old "00001-0<name>"
_WEBUI_PREFIX = re.compile(r"^[-\d]+\s*")  # what the web UI strips from a filename caption


def filename_reminder() -> str:
    return ("Captions are in the file names: the web UI's trainer reads an image's name, less its leading digits and "
            "dashes, as its caption where no .txt stands beside it; keep its Settings → Training → \"Filename word "
            f"regex\" empty, or it keeps only what that regex matches ({option('caption')} txt is read verbatim).")


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
    weighted_captions: bool = False  # kohya: captions for sd-scripts' --weighted_captions (escaped, as prompts)
    iqdb: bool = False  # look up images no post's md5 matches by the image itself (the site's IQDB)
    iqdb_cutoff: float = imagesearch.DEFAULT_CUTOFF  # the IQDB score (0-100) a match needs

    def escapes(self) -> bool:
        """Whether .txt captions escape the prompt parser's characters: the web UI parses every caption (unless
        the rules turn escaping off); sd-scripts reads them literally unless run with --weighted_captions."""
        return self.weighted_captions if self.layout == "kohya" else self.rules.escape

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
        if self.layout != "kohya" and (self.weighted_captions or self.rules.pinned):
            raise DatasetError(f"Weighted captions and pinned parts are for sd-scripts (kohya), whose prompts are "
                               f"weighed and shuffled that way; set {option('layout')} to kohya, or drop "
                               f"{option('weighted_captions')} and {option('pin')}.")
        for value, name in ((self.exclude_common, option("exclude_common")), (self.common_threshold, "The threshold")):
            if value is not None and not 0 < value <= 1:
                raise DatasetError(f"{name} is a share of the images, above 0 and at most 1; enter e.g. 0.8.")
        if self.iqdb:
            imagesearch.check_cutoff(self.iqdb_cutoff)


@dataclass
class Item:
    path: Path
    md5: Optional[str] = None
    post: Optional[Post] = None
    caption: str = ""  # the .txt caption
    parts: list[str] = field(default_factory=list)  # the caption's parts in display form
    sourced: list[Part] = field(default_factory=list)  # the same, each with its category and tag (the sidecar's)
    output: Optional[str] = None
    found: Optional[dict] = None  # how the tags were found when no md5 gave them (a tagger's, IQDB's record)


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
    dataset_config: Optional[Path] = None  # kohya: the dataset.toml written
    keep_tokens: int = 0
    tagger_images: list[str] = field(default_factory=list)  # images whose tags a local tagger gave
    tagger_name: str = ""
    tagger_reused: int = 0  # of those, how many the tag sidecar of an earlier run gave (the model not run again)
    tagger_blank: list[str] = field(default_factory=list)  # untagged images the local tagger saw no tag in
    iqdb_cutoff: Optional[float] = None  # the cutoff image look-ups used, when they ran

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self, top: int = 30) -> list[str]:
        untagged_note = "kept with no tags" if self.kept_untagged else "left out"
        lines = [f"{self.images} images: tagged {self.tagged}, untagged {len(self.untagged)} ({untagged_note}), "
                 f"failed {len(self.failed)}"]
        if any(self.sources.values()):
            names = {IQDB: f"image look-up (IQDB, score at least {self.iqdb_cutoff or 0:g})"}
            lines.append("  posts from: " + ", ".join(f"{names.get(k, k)} {self.sources[k]}" for k in SOURCES
                                                        if self.sources[k]))
        lines += self.tagger_lines()
        blank = set(self.tagger_blank)
        lines += [f"  {line}" for line in by_reason(((n, NO_POST_NOR_TAG if n in blank else NO_POST, "")
                                                     for n in self.untagged), "untagged")]
        lines += self.failure_lines()
        lines += [f"  skipped {f.name}: {f.reason}" for f in self.skipped]
        if self.untagged and self.offline:
            lines.append(f"hint: {option('offline')} asked no site; tag again without it to look these up.")
        elif self.untagged:
            retry = f"{option('retry_missing')} asks the site again, " if offers("retry_missing") else ""
            local = f"{option('tagger')} tags them with a local tagger model, " if not self.tagger_name else ""
            lower = f"a lower {option('tagger_threshold')} lets the tagger tag more, " if self.tagger_blank else ""
            lines.append(f"hint: misses are remembered; {retry}{local}{lower}{option('keep_untagged')} keeps these "
                         "images with empty captions.")
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
        if self.dataset_config is not None:
            lines.append(f"sd-scripts: train with --dataset_config \"{self.dataset_config}\" (keep_tokens "
                         f"{self.keep_tokens} keeps the first {self.keep_tokens} parts in place when it shuffles)")
        return lines

    def tagger_lines(self) -> list[str]:
        """The images a local tagger tagged, named: their tags are a model's guesses, not a site's."""
        if not self.tagger_images:
            return []
        reused = f"; {self.tagger_reused} from an earlier run's tag sidecars" if self.tagger_reused else ""
        return [f"  tagged by the local tagger {self.tagger_name} {len(self.tagger_images)} (machine tags, each "
                f"with a {TAG_SIDECAR_EXT} sidecar of its scores{reused}): {examples(sorted(self.tagger_images))}"]

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
            seen = (f" and the local tagger saw no tag above its thresholds in {len(self.tagger_blank)}"
                    if self.tagger_blank else "")
            return f"No post was found for any of the {self.images} images{seen}, so none was captioned; {fix}."
        parts = [f"{len(self.untagged)} without a post"] if self.untagged else []
        parts += [f"{len(self.failed)} failed"] if self.failed else []
        parts += [f"{len(self.skipped)} skipped"] if self.skipped else []
        return (f"None of the {self.images} images was captioned ({', '.join(parts) or 'none readable'}); fix what "
                "the lines above say and tag again.")


# -- the step ----------------------------------------------------------------------------------

def tag_folder(src: Path, out: Path, options: Optional[TagOptions] = None, *, booru: Optional[Booru] = None,
               cache: Optional[PostCache] = None, progress: Optional[Progress] = None,
               tagger: Optional[Tagger] = None) -> TagReport:
    """Caption the images in ``src`` into ``out``; ``booru`` None (or ``options.offline``) makes no request;
    ``tagger`` (a local tagger, :mod:`sd_dataset.tagger`) tags what no other source knows."""
    options = options or TagOptions()
    options.validate()
    if options.iqdb and booru is not None and not options.offline:
        booru.check_image_search()
    progress = progress or Progress()
    src, dest, root = _check_folders(Path(src), Path(out), options)
    files, refused = _list_images(src)
    requests = booru.http.cancel_on(progress.cancel_event) if booru is not None else nullcontext()
    with folder_lock(ensure_writable_dir(root), "tag"), requests:
        _check_config_is_ours(root, options)
        return _tag_locked(src, dest, root, files, refused, options, booru, cache, progress, tagger)


def _tag_locked(src: Path, dest: Path, root: Path, files: list[Path], refused: list[tuple[Path, str]],
                options: TagOptions, booru: Optional[Booru], cache: Optional[PostCache], progress: Progress,
                tagger: Optional[Tagger] = None) -> TagReport:
    report = TagReport(images=len(files), caption_mode=options.caption, kept_untagged=options.keep_untagged,
                       offline=options.offline or booru is None,
                       common_threshold=options.exclude_common or options.common_threshold)
    report.skipped += [Failure(path.name, reason) for path, reason in refused]
    items = _identify(files, report, progress)
    _find_posts(items, src, booru, cache, options, report, progress)
    if tagger is not None:
        _tag_locally(items, root, tagger, options, report, progress)
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


def _check_config_is_ours(root: Path, options: TagOptions) -> None:
    """Refuse to overwrite a dataset.toml of the user's (one no earlier run of ours wrote)."""
    config = root / DATASET_CONFIG
    if options.layout == "kohya" and os.path.lexists(config) and DATASET_CONFIG not in _read_manifest(root / MANIFEST):
        raise DatasetError(f"{config} is not one tag wrote, and the kohya layout writes its own there; move it "
                           f"away, or choose another output folder.")


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
                options: TagOptions, report: TagReport, progress: Optional[Progress] = None) -> None:
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
            found = _ask_site(booru, unknown)
        except Cancelled:
            raise
        except DatasetError as exc:
            failed_md5s = {m: f"the site lookup failed ({exc}); a rerun asks again" for m in unknown}
            found = {}
        finally:
            report.api_requests += booru.http.stats.api_requests - before
            report.retries += booru.http.stats.retries - retries_before
        rejected = _take_rejected(booru, report)
        posts.update(found)
        report.sources[API] += len(found)
        if cache is not None and not failed_md5s:
            misses = [] if rejected else [m for m in unknown if m not in found]
            cache.put_many(site, found.values(), misses, logged_in=logged_in)
    if options.iqdb and booru is not None and not options.offline:
        _find_by_image(items, posts, failed_md5s, booru, cache, options, report, progress or Progress())
    for item in items:
        item.post = posts.get(item.md5)
        if item.post is None and item.md5 in failed_md5s:
            report.failed.append(Failure(item.path.name, failed_md5s[item.md5]))
        elif item.post is None:
            report.untagged.append(item.path.name)
        else:
            report.tagged += 1


def _take_rejected(booru: Booru, report: TagReport) -> list[tuple[str, str]]:
    """The site's data the client refused, each once (a last pass refuses it again), as failures of the report."""
    rejected = list(dict.fromkeys(booru.rejected))
    booru.rejected.clear()
    report.failed += [Failure(label, f"refused the site's data: {why}") for label, why in rejected]
    return rejected


def _find_by_image(items: list[Item], posts: dict[str, Post], failed_md5s: dict[str, str], booru: Booru,
                   cache: Optional[PostCache], options: TagOptions, report: TagReport, progress: Progress) -> None:
    """Posts for the images still without one, by the site's image search (see :mod:`sd_dataset.imagesearch`)."""
    images: dict[str, Path] = {}
    for item in items:
        if item.md5 not in posts and item.md5 not in failed_md5s:
            images.setdefault(item.md5, item.path)
    if not images:
        return
    report.iqdb_cutoff = options.iqdb_cutoff
    before, retries_before = booru.http.stats.api_requests, booru.http.stats.retries
    try:
        search = imagesearch.search_images(booru, images, options.iqdb_cutoff, cache,
                                           retry_missing=options.retry_missing, progress=progress)
    finally:
        report.api_requests += booru.http.stats.api_requests - before
        report.retries += booru.http.stats.retries - retries_before
        _take_rejected(booru, report)
    failed_md5s.update(search.failed)
    for md5, match in search.matches.items():
        posts[md5] = match.post
    for item in items:  # the tag sidecar says how: the score of the match, and the cutoff it passed
        match = search.matches.get(item.md5)
        if match is not None:
            item.found = {"by": IQDB, "score": match.score, "cutoff": options.iqdb_cutoff}
    report.sources[IQDB] += len(search.matches)


def _ask_site(booru: Booru, md5s: list[str]) -> dict[str, Post]:
    """The site's posts for ``md5s``; a lookup that failed all its tries gets them again in a last pass."""
    try:
        return booru.posts_by_md5(md5s)
    except Exhausted as exc:
        log.info("the site lookup failed all its tries (%s); a last pass asks again", exc)
        return booru.posts_by_md5(md5s)


def _read_sidecar(src: Path, real_src: Path, md5: str, report: TagReport) -> Optional[Post]:
    """The post fetch saved beside the image; None when there is none or it is unusable (a refused one reported)."""
    try:
        return read_sidecar(src, md5, real_src)
    except Refused as exc:
        report.skipped.append(Failure(sidecar_path(src, md5).name, f"{exc}; its post is looked up elsewhere"))
        return None


def _tag_locally(items: list[Item], root: Path, tagger: Tagger, options: TagOptions, report: TagReport,
                 progress: Progress) -> None:
    """The last source: ``tagger`` tags the images no other source knew.  An earlier run's tag sidecar of the same
    model and thresholds answers for an image instead of the model; an image the tagger cannot read fails alone."""
    report.tagger_name = tagger.name
    untagged = set(report.untagged)
    todo: dict[str, list[Item]] = {}
    for item in items:
        if item.post is None and item.path.name in untagged:
            todo.setdefault(item.md5, []).append(item)
    if not todo:
        return
    earlier = _earlier_tag_sidecars(root, tagger)
    rating_words = options.rules.site_for(Post(id=0, md5="", file_url=None, ext="")).rating_words
    done: set[str] = set()
    progress.start(len(todo), "tagger")
    try:
        with tagger:
            for md5, group in todo.items():
                progress.check()
                first = group[0]
                result = earlier.get(md5)
                try:
                    if result is None:
                        result = tagger.tag_file(first.path)
                    else:
                        report.tagger_reused += 1
                except (ImageProblem, DatasetError) as exc:
                    for item in group:
                        report.failed.append(Failure(item.path.name, f"the tagger could not read it ({exc})"
                                                     if isinstance(exc, ImageProblem) else str(exc)))
                    done.update(item.path.name for item in group)
                    progress.advance()
                    continue
                if not any(result.tags.values()):
                    # a caption of a rating alone, or nothing, is no tagging: the image stays untagged, said why
                    report.tagger_blank.extend(item.path.name for item in group)
                    progress.advance()
                    continue
                for item in group:
                    item.post = result.to_post(md5, first.path.suffix.lower().lstrip(".") or "png", rating_words)
                    item.found = {**result.record(), "fingerprint": tagger.fingerprint}
                    report.tagged += 1
                    report.sources[TAGGER] += 1
                    report.tagger_images.append(item.path.name)
                    done.add(item.path.name)
                progress.advance()
    finally:
        progress.close()
        report.untagged = [name for name in report.untagged if name not in done]


def _earlier_tag_sidecars(root: Path, tagger: Tagger) -> dict[str, TaggerResult]:
    """md5 → the result an earlier run's tag sidecars (named in its manifest) keep for ``tagger``'s model, model
    file and thresholds; anything else there (another model, other thresholds, a sidecar edited into nonsense) is
    left for the model to answer again."""
    found: dict[str, TaggerResult] = {}
    real_root = root.resolve() if root.is_dir() else None
    if real_root is None:
        return found
    for rel in sorted(_read_manifest(root / MANIFEST)):
        if not rel.endswith(TAG_SIDECAR_EXT):
            continue
        try:
            data = json.loads(read_inside(root / rel, real_root, MAX_TAG_SIDECAR_BYTES))
            post, record = Post.from_json(data), data.get("found")
            if not isinstance(record, dict) or record.get("fingerprint") != tagger.fingerprint:
                continue
            result = TaggerResult.from_record(post.tags, record)
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        if result.model == tagger.name and result.thresholds == tagger.thresholds:
            found[post.md5] = result
    return found


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
    escape = options.escapes()
    report.tag_names = {t: format_tag(t, rules.keep_underscores, escape) for t in report.frequency}
    if rules.vocab is not None:
        report.vocab_counts = {t: rules.vocab.count(t) for t in report.frequency}
    for item in items:
        if item.post is not None or options.keep_untagged:
            item.sourced = rules.sourced_parts(item.post, drop)
            item.parts = [part.text for part in item.sourced]
            item.caption = caption_text(item.parts, escape)


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
    companions = ((".txt",) if with_txt else ()) + (sidecars.EXT,)
    budget = _stem_budget(dest)
    for item in keep:  # names first, in a fixed order, so a rerun picks the same ones
        ext = item.path.suffix.lower()
        if options.caption == "txt":
            item.output = unique_name(item.path.stem, ext, taken, companions, budget)
        else:
            item.output = caption_filename(item.parts, ext, taken, budget, companions)
    # claim every planned name before writing any, so a run killed midway (no ``finally`` runs then) leaves a
    # manifest naming its files as ours: the rerun picks the same names instead of numbering around them
    planned = {_rel(dest / item.output, root) for item in keep}
    planned |= {_rel(_txt_path(dest, item), root) for item in keep if _has_txt(item, options)}
    planned |= {_rel(sidecars.sidecar_path(dest / item.output), root) for item in keep}
    if options.layout == "kohya":
        planned.add(DATASET_CONFIG)
    _write_manifest(manifest_path, planned | previous)
    written: set[str] = set()
    if options.layout == "kohya":
        written.add(_write_dataset_config(root, dest, options, report))
    complete = False
    progress.start(len(keep), "tag")
    try:
        # copies and captions are fsynced one by one; a few threads keep the disk busy meanwhile
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tag") as pool:
            futures = {}
            try:
                for item in keep:
                    futures[pool.submit(_write_item, item, dest, _has_txt(item, options))] = item
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


def _stem_budget(dest: Path) -> int:
    """Bytes a name's stem may have in ``dest``: the name, its temporary name, and augment's names made from it
    (``-split0-flip`` and another extension longer) must all fit the file system's caps."""
    budget = name_budget(dest) - NAME_GROWTH - LONGEST_EXT
    if budget < MIN_STEM_BYTES:
        raise DatasetError(f"The output folder's path {dest} is too long to leave room for file names in it; "
                           f"choose a folder with a shorter path.")
    return budget


def _has_txt(item: Item, options: TagOptions) -> bool:
    """Whether ``item`` gets a .txt caption: in txt and both modes, except an empty one in the kohya layout
    (sd-scripts refuses an empty caption file; with none it reads the subset's class tokens)."""
    return options.caption in ("txt", "both") and bool(item.caption or options.layout != "kohya")


def _txt_path(dest: Path, item: Item) -> Path:
    return dest / (item.output[:-len(item.path.suffix)] + ".txt")


def _write_dataset_config(root: Path, dest: Path, options: TagOptions, report: TagReport) -> str:
    """Write the kohya layout's dataset.toml at ``root``; returns its name, relative to ``root``."""
    rules = options.rules
    concept = dest.name.split("_", 1)[1]  # what sd-scripts itself takes from a "<repeats>_<concept>" folder
    subset = Subset(image_dir=dest.resolve(), num_repeats=options.repeats, class_tokens=rules.trigger or concept,
                    keep_tokens=rules.pinned_count())
    path = root / DATASET_CONFIG
    write_text_if_changed(path, dataset_config(subset))
    report.dataset_config, report.keep_tokens = path, subset.keep_tokens
    return DATASET_CONFIG


def _write_item(item: Item, dest: Path, with_txt: bool) -> tuple[int, list[Path]]:
    name = item.output
    outputs = [dest / name, sidecars.sidecar_path(dest / name)]
    wrote = _copy_image(item.path, dest / name)
    # beside every output: augment's tile captions read what each caption part is, a rerun the tagger's record
    wrote += write_text_if_changed(outputs[1], sidecars.sidecar_text(item.path.name, item.sourced, item.post,
                                                                     item.found))
    if with_txt:
        txt = _txt_path(dest, item)
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


def unique_name(stem: str, ext: str, taken: set[str], companions: tuple[str, ...] = (),
                budget: int = MAX_NAME_BYTES) -> str:
    """``stem + ext``, or ``stem (2) + ext``, ``(3)``… — the first not in ``taken`` (compared case-blind), the
    stem cut to ``budget`` bytes.  For .txt-captioned images, whose names the trainer does not read.

    ``companions`` are extensions of files that go beside it (``.txt``), which must be free too.
    """
    number = 1
    while True:
        suffix = "" if number == 1 else f" ({number})"
        name = safe_filename(cut_utf8(stem, budget - utf8_len(suffix)).rstrip(". ") + suffix + ext,
                             budget + utf8_len(ext))
        if _free(name, ext, taken, companions):
            return name
        number += 1


def caption_filename(parts: list[str], ext: str, taken: set[str], budget: int,
                     companions: tuple[str, ...] = ()) -> str:
    """A file name the web UI's trainer reads back as the caption ``parts`` (as many whole parts as fit).

    Each part is in its name form (:func:`~sd_dataset.captions.name_form`: no backslash, no emphasis, no
    character Windows refuses); the stem holds at most ``budget`` bytes.  A number the trainer strips (its
    ``^[-\\d]+\\s*``) goes first where the caption needs one: ``0 4 toes`` keeps the trainer from eating the
    leading digit, ``0 .hidden`` keeps the file visible, ``0 con`` keeps it a file on Windows; and a name
    already taken (case-blind) is numbered ``2 caption``, ``3 caption``…, never suffixed, which the trainer
    would read as part of the last tag.  ``companions`` are extensions of files beside it that must be free too.
    """
    words = [name_form(part) for part in parts if part]
    number = 1
    while True:
        prefix = f"{number} " if number > 1 else ""
        stem = _whole_parts(words, budget - utf8_len(prefix))
        if not prefix and _needs_number(stem):
            prefix = "0 "
            stem = _whole_parts(words, budget - utf8_len(prefix))
        name = (prefix + stem if stem else prefix.rstrip()) + ext
        if _free(name, ext, taken, companions):
            return name
        number += 1


def _whole_parts(words: list[str], room: int) -> str:
    """As many leading ``words`` as fit in ``room`` bytes joined; the first alone cut (at a space if it has one)
    when even it does not fit."""
    stem = ""
    for word in words:
        longer = f"{stem}{SEPARATOR}{word}" if stem else word
        if utf8_len(longer) > room:
            break
        stem = longer
    if not stem and words:
        cut = cut_utf8(words[0], room)
        stem = cut.rsplit(" ", 1)[0] if " " in cut.strip() else cut
    return stem


def _needs_number(stem: str) -> bool:
    """Whether the name ``stem`` needs a number in front: the trainer would eat its leading digits or hyphens,
    it would be hidden (a leading dot) or be a Windows device, or it is empty."""
    return not stem or bool(_WEBUI_PREFIX.match(stem)) or stem.startswith(".") or is_device_name(stem)


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
    write_record(path, text)


def _remove_stale(stale: set[str], root: Path) -> int:
    """Delete outputs an earlier run wrote that this run no longer makes (never anything else).

    The manifest is a file in the output folder, so anyone could have edited it: each name's folder is resolved,
    and a name whose folder lies outside the output (a linked folder) is left alone.  A name that is itself a
    link is removed as the link.
    """
    removed = 0
    real_root = root.resolve()
    for rel in sorted(stale):
        path = root / rel
        folder = path.parent.resolve()
        if folder != real_root and real_root not in folder.parents:
            log.warning("left %s alone: its folder is a link out of the output %s", path, root)
            continue
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
    write_record(path, buf.getvalue())
