"""The tag sidecar: ``<stem>.json`` beside each image tag writes, saying what each part of its caption is.

A caption's text does not tell which part is which: ``fox`` may be the trigger or a tag, ``red hero`` a character
or a general tag.  augment's tile captions must know, because a tagger can judge a general tag (it sees it in a
tile or not) but not the trigger, the rating, an artist or a character name.  So beside each output image tag
writes its caption's parts with their categories and tags, and its post as fetch's sidecars hold one (so a later
tag run over the folder reads the post from it, and a step that knows only post sidecars still reads it).

The readers of a training folder pass it by: the web UI's trainer tries every file as an image and skips what
Pillow cannot open, sd-scripts lists image extensions only, and this tool's check and preview count images only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable, Optional

from .boorus.base import Post
from .files import Refused, read_inside
from .tags import Part

log = logging.getLogger(__name__)

EXT = ".json"
CAPTION_PARTS = "caption_parts"  # the key of the caption's parts: no field of a post's is named so
MAX_BYTES = 4 * 1024 * 1024  # a post with every tag a site allows stays far under this
_ABOUT = "sd_dataset tag: the post of this image and what each part of its caption is (augment reads it)"


def sidecar_path(image: Path) -> Path:
    """The sidecar of the image (or caption) file ``image``: the same stem, ``.json``."""
    return image.with_suffix(EXT)


def sidecar_text(image: str, parts: Iterable[Part], post: Optional[Post] = None,
                 found: Optional[dict] = None) -> str:
    """The sidecar of an output made from the source image named ``image``: its caption's ``parts``, its ``post``
    (None for an untagged image kept), and ``found``, how its tags were found when no site gave them."""
    data = post.to_json() if post is not None else {}
    data |= {"about": _ABOUT, "image": image,
             CAPTION_PARTS: [{"text": p.text, "category": p.category, "tag": p.tag} for p in parts]}
    if found:
        data["found"] = found
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def read_parts(image: Path, real_root: Optional[Path] = None) -> Optional[list[Part]]:
    """The caption parts the sidecar beside ``image`` names; None when there is none, or it is not tag's (fetch's
    sidecars name no parts), unreadable or malformed, or no regular file inside its folder (``real_root``: the
    folder resolved): the caller reads the caption's text instead."""
    path = sidecar_path(image)
    try:
        data = json.loads(read_inside(path, real_root or path.parent.resolve(), MAX_BYTES))
    except FileNotFoundError:
        return None
    except Refused as exc:
        log.info("left the sidecar %s unread: %s", path, exc)
        return None
    except (OSError, ValueError) as exc:
        log.info("could not read the sidecar %s (%s); its caption is read as text", path, exc)
        return None
    entries = data.get(CAPTION_PARTS) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    parts = []
    for entry in entries:
        fields = [entry.get(key) for key in ("text", "category", "tag")] if isinstance(entry, dict) else None
        if not fields or not all(isinstance(f, str) for f in fields):
            log.info("the sidecar %s has a malformed caption part; its caption is read as text", path)
            return None
        parts.append(Part(*fields))
    return parts
