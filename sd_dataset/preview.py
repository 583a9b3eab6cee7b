"""What a training folder holds, page by page: thumbnails with captions, tag frequencies, likely traits.

The tab shows a folder of thousands of images, so only one page is ever read,
and thumbnails are made once and kept in the user's cache folder.

Only what is inside the folder is shown, as the steps read it: an image that is a
link out of the folder, a FIFO, socket or device is left out of the page, the count
and the tag table (the steps skip it too).  An image whose caption is such a file, or
larger than ``files.MAX_TEXT_BYTES``, is shown with the reason in place of the
caption, so the user sees which caption to fix without its text being shown.  An
image over ``images.MAX_PIXELS`` is counted but gets no thumbnail (it is never
decoded), like any image that cannot be read.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional


from .cachedir import default_cache_dir
from .files import Refused, atomic_open, read_inside
from .images import ImageProblem, list_images, open_image
from .summaries import percent
from .training import filename_caption
from .tags import iter_caption_tags

THUMB_SIDE = 256
TRAIT_SHARE = 0.8
NOT_TRAITS = re.compile(r"^(by .+|\w+ content)$")  # the caption's artist and rating parts
# A file name that is only a post's md5 (fetch's names; augment adds -split<i> and -flip) is no caption: the image has
# none yet, and its name's hash is no tag.
HASH_NAME = re.compile(r"[0-9a-fA-F]{32}(-split\d+)?(-flip)?( \(\d+\))?")
NO_CAPTION = "(no caption yet)"


@dataclass
class PreviewPage:
    items: list[tuple[str, str]]  # (thumbnail path, caption)
    page: int  # 1-based
    pages: int
    total: int

    @property
    def label(self) -> str:
        return f"page {self.page} of {self.pages} ({self.total} images)"


@dataclass
class TagStats:
    images: int = 0
    captioned: int = 0  # images with a caption (a .txt, or a file name that is more than a hash)
    counts: Counter = field(default_factory=Counter)

    def ranked(self) -> list[tuple[str, int]]:
        """Tags by how many images carry them, most first, ties by name."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))

    def table(self, top: int = 30) -> list[list]:
        return [[tag, n, percent(n, self.images)] for tag, n in self.ranked()[:top]]

    def traits(self, share: float = TRAIT_SHARE) -> list[str]:
        """Tags on at least ``share`` of the images; the rating and artist parts of a caption are not traits."""
        if not self.images:
            return []
        return [tag for tag, n in self.ranked() if n / self.images >= share and not NOT_TRAITS.match(tag)]


def _caption(image: Path) -> Optional[str]:
    """The caption the web UI's trainer would read, None when the image has none yet; :class:`Refused` when its
    ``.txt`` is not to be read."""
    try:
        return read_inside(image.with_suffix(".txt"), image.parent.resolve()).decode("utf-8").strip()
    except Refused:
        raise
    except (OSError, UnicodeDecodeError):
        pass
    return None if HASH_NAME.fullmatch(image.stem) else filename_caption(image.name)


def read_caption(image: Path) -> str:
    """The caption the web UI's trainer would read: ``<stem>.txt``, else what it makes of the file name.

    Empty when there is none yet, and when the ``.txt`` is refused (a link out of the folder, a FIFO, too large):
    its text is not ours to show.
    """
    try:
        return _caption(image) or ""
    except Refused:
        return ""


def _label(image: Path) -> str:
    try:
        caption = _caption(image)
        return f"{image.name}: {NO_CAPTION if caption is None else caption}"
    except Refused as exc:
        return f"{image.name}: (caption not shown: {image.with_suffix('.txt').name}: {exc})"


def tag_stats(folder: Path) -> TagStats:
    stats = TagStats()
    for image in list_images(folder):
        stats.images += 1
        caption = read_caption(image)
        stats.captioned += bool(caption) or image.with_suffix(".txt").is_file()
        stats.counts.update(set(iter_caption_tags(caption)))
    return stats


def thumbnail(image: Path, cache: Optional[Path] = None, side: int = THUMB_SIDE) -> Optional[Path]:
    """A small JPEG of ``image``, made once per file version; None when it is no readable image within the pixel cap."""
    try:
        stat = image.stat()
    except OSError:
        return None
    key = hashlib.sha1(f"{image.resolve()}|{stat.st_mtime_ns}|{stat.st_size}|{side}".encode()).hexdigest()
    folder = (cache or default_cache_dir()) / "thumbs" / key[:2]
    target = folder / f"{key}.jpg"
    if target.exists():
        return target
    try:
        with open_image(image) as img:  # the pixel cap augment uses: a bomb is never decoded
            img.draft("RGB", (side, side))
            img.thumbnail((side, side))
            img = img.convert("RGB")
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_open(target, "wb") as fh:
                img.save(fh, "JPEG", quality=85)
    except (ImageProblem, OSError, ValueError):
        return None
    return target


def preview_page(folder: Path, page: int = 1, per_page: int = 48, cache: Optional[Path] = None) -> PreviewPage:
    images = list_images(Path(folder))
    pages = max(1, math.ceil(len(images) / per_page))
    page = min(max(1, int(page)), pages)
    items = []
    for image in images[(page - 1) * per_page: page * per_page]:
        thumb = thumbnail(image, cache)
        if thumb is not None:
            items.append((str(thumb), _label(image)))
    return PreviewPage(items, page, pages, len(images))
