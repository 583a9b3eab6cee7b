"""Posts for images whose md5 no site knows (re-saved, resized copies), by the site's reverse-image search (IQDB).

Each image still without a post after the md5 look-up is sent as a small JPEG thumbnail; the best match scoring at
least the cutoff is its post.  The site's throttle for these searches is far slower than its API rate (e621: one a
minute without a login), so every answer, a miss too, is remembered in the post cache by the file's md5 at once,
and a rerun asks nothing.  When the site refuses or keeps failing, the search stops there: the images it did not
reach fail with one reason, and a rerun asks about them again.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .boorus.base import Booru, ImageMatch
from .errors import Cancelled, DatasetError
from .images import ImageProblem, draft_for, exif_orientation, fit_long_side, load_rgb, open_image, oriented_size, \
    resize
from .postcache import MISSING, PostCache, site_key
from .progress import Progress
from .ratelimit import Pace
from .wording import option

log = logging.getLogger(__name__)

IQDB = "iqdb"  # how a post found this way was found (``found.by``), and its key in the report's sources
DEFAULT_CUTOFF = 80.0
THUMBNAIL_SIDE = 256  # the long side sent: IQDB itself compares 128x128 (e621) or 180x180 (Danbooru) copies
THUMBNAIL_QUALITY = 90
LONG_WAIT = 120.0  # seconds of searching past which tag suggests logging in


@dataclass
class ImageSearch:
    """What the image look-up found: ``matches`` by the file's md5, ``remembered`` of them from the cache,
    ``failed`` the images it could not look up, with why."""

    matches: dict[str, ImageMatch] = field(default_factory=dict)
    remembered: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    estimate: str = ""


def check_cutoff(cutoff: float) -> None:
    if not 0 < cutoff <= 100:
        raise DatasetError(f"{option('iqdb_cutoff')} is an IQDB score above 0 and at most 100; enter e.g. "
                           f"{DEFAULT_CUTOFF:g}.")


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE) -> bytes:
    """``path`` as an upright RGB JPEG whose long side is at most ``side``; :class:`ImageProblem` when it cannot
    be read."""
    img = open_image(path)
    try:
        orientation = exif_orientation(img)
        draft_for(img, orientation, fit_long_side(*oriented_size(img, orientation), side))
        rgb = load_rgb(img, orientation)  # may be ``img`` itself: saved before it is closed
        small = resize(rgb, fit_long_side(*rgb.size, side)) if max(rgb.size) > side else rgb
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=THUMBNAIL_QUALITY)
    finally:
        img.close()
    return buf.getvalue()


def estimate(count: int, pace: Pace, owed: float = 0.0, faster: Optional[Pace] = None) -> str:
    """One sentence on how long ``count`` searches take at ``pace``, with ``owed`` seconds to wait before the
    first; ``faster``: the pace a login gives, suggested when the wait is long."""
    seconds = pace.seconds_for(count, owed)
    plural = "" if count == 1 else "s"
    sentence = f"{count} image look-up{plural} at {pace.text()} take{'s' if count == 1 else ''} {duration(seconds)}"
    if faster is not None and seconds >= LONG_WAIT:
        sentence += (f"; logging in ({option('username')} and {option('api_key')}) makes it {faster.text()}, "
                     f"{duration(faster.seconds_for(count))}")
    return sentence + "."


def duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"about {minutes} minute{'' if minutes == 1 else 's'}"
    return f"about {minutes / 60:.1f} hours"


def search_images(booru: Booru, images: dict[str, Path], cutoff: float, cache: Optional[PostCache] = None, *,
                  retry_missing: bool = False, progress: Optional[Progress] = None) -> ImageSearch:
    """The posts of ``images`` (file md5 → a path to it) by image, the cache's remembered answers first."""
    progress = progress or Progress()
    result = ImageSearch()
    site, logged_in = site_key(booru), booru.http.logged_in
    remembered = cache.get_image_matches(site, images, cutoff, include_misses=not retry_missing,
                                         logged_in=logged_in) if cache is not None else {}
    for md5, answer in remembered.items():
        if answer != MISSING:
            result.matches[md5] = answer
            result.remembered += 1
    todo = [md5 for md5 in images if md5 not in remembered]
    if not todo:
        return result
    pace = booru.image_pace()
    owed = booru.http.pace_wait(booru.base_url, pace)
    result.estimate = estimate(len(todo), pace, owed, booru.logged_in_image_pace())
    progress.note(result.estimate)
    progress.start(len(todo), "image look-up")
    try:
        for number, md5 in enumerate(todo):
            progress.check()
            try:
                small = thumbnail(images[md5])  # before the throttle's wait: an unreadable file costs no search
            except ImageProblem as exc:
                result.failed[md5] = f"could not be read for the image search: {exc}"
                progress.advance()
                continue
            try:
                match = booru.post_by_image(small, cutoff)
            except Cancelled:
                raise
            except DatasetError as exc:
                reason = _stopped(exc, booru)
                result.failed.update((m, reason) for m in todo[number:] if m not in result.failed)
                break
            if cache is not None:
                cache.put_image_match(site, md5, match, cutoff, logged_in=logged_in)
            if match is not None:
                result.matches[md5] = match
            progress.advance()
    finally:
        progress.close()
    return result


def _stopped(exc: DatasetError, booru: Booru) -> str:
    """Why every image from the failing one on went unsearched: the site's sentence, once for all of them."""
    text = str(exc).rstrip(".")
    faster = booru.logged_in_image_pace()
    hint = f"; logging in allows {faster.text()}" if faster is not None and "429" in text else ""
    return f"the image search stopped ({text}){hint}; a rerun asks again"
