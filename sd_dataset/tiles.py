"""Captions that fit each tile: augment's ``--tile-captions``.

A split tile or a centre crop shows part of its source, and the source's caption names what is anywhere in it.
With a local tagger (:mod:`sd_dataset.tagger`) each such output keeps of its caption's general tags only those the
tagger sees in it (its score at least the threshold for the tag's category); every other part stays: the trigger,
the rating, artists, characters and the other name categories (a tagger cannot judge a name from a tile), and
general tags the tagger's list does not hold (it cannot judge what it does not know).  A mirror gets its tile's
caption with left and right swapped.

Which part of a caption is which comes from tag's sidecar beside the source (:mod:`sd_dataset.sidecars`); a source
without one has its caption's parts judged by the tagger's own list, a part it files as general being a general
tag.  The tagger runs in the main process after augment's worker pool (an onnxruntime session does not pickle),
on the tiles as written.  What it saw in each tile is kept in :data:`RECORD` in the output folder with the model
and thresholds, so a rerun asks it again only about tiles that changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

from .boorus.base import UNCATEGORISED
from .captions import SEPARATOR, escape_prompt, name_form
from .errors import DatasetError
from .files import read_inside, write_record
from .images import ImageProblem
from .progress import Progress
from .tags import Part, normalize_tag
from .wording import option

if TYPE_CHECKING:
    from .tagger import Tagger

log = logging.getLogger(__name__)

RECORD = ".sd_dataset-tiles.json"
MAX_RECORD_BYTES = 512 * 1024 * 1024
# caption categories a tagger can see or miss in a picture (a tag no one filed counts as general, as the tagger's
# TaggerResult.general() counts its own uncategorised tags)
JUDGED = frozenset({"general", UNCATEGORISED})
SHOWN_TILES = 20  # tiles the report names one by one; the record names them all


def check_tagger_given(tile_captions: bool, tagger_given: bool) -> None:
    """One sentence when tile captions lack a tagger, or augment is given a tagger it would not use; a face calls
    this before it loads the model, so the sentence names what is missing rather than what the model lacks."""
    if tile_captions and not tagger_given:
        raise DatasetError(f"Tile captions need a local tagger to look at each tile; give its model folder in "
                           f"{option('tagger')}, or turn {option('tile_captions')} off.")
    if tagger_given and not tile_captions:
        raise DatasetError(f"Augment uses a local tagger only for tile captions; turn {option('tile_captions')} on, "
                           f"or leave {option('tagger')} empty.")


# --------------------------------------------------------------------------- one caption


@dataclass(frozen=True)
class Judged:
    """A tile's caption after the tagger looked: the text, the parts dropped (as written), and how many general
    tags stayed because the tagger does not know them."""

    text: str
    dropped: tuple[str, ...]
    unknown: int


def general_labels(tagger: "Tagger") -> frozenset:
    """The tags ``tagger`` can judge: those its list files as general (or under no category); one sentence for a
    tagger that lists none (the web UI's DeepDanbooru), which would drop every tag it does not know."""
    labels = getattr(tagger, "labels", None)
    if not labels:
        raise DatasetError(f"Tile captions need a tagger that lists the tags it knows, and {tagger.name} does not; "
                           f"give a WD14 or Z3D model folder in {option('tagger')}.")
    return frozenset(label.name for label in labels if label.category in JUDGED)


def tile_caption(caption: str, parts: Optional[Iterable[Part]], knows: frozenset, seen: Iterable[str]) -> Judged:
    """``caption`` with the general tags the tagger knows (``knows``) but did not see in the tile (``seen``) left
    out; ``parts`` (the sidecar's) say what each piece of the caption is, None: each piece is a tag of no known
    category.  A caption that loses nothing is returned as it was, byte for byte."""
    what = _part_lookup(parts or ())
    seen = set(seen)
    kept, dropped, unknown = [], [], 0
    pieces = [piece.strip() for piece in caption.split(",")]
    for piece in pieces:
        part = what.get(piece) or Part(piece, UNCATEGORISED, normalize_tag(piece))
        if piece and part.category in JUDGED and part.tag:
            if part.tag not in knows:
                unknown += 1
            elif part.tag not in seen:
                dropped.append(piece)
                continue
        kept.append(piece)
    if not dropped:
        return Judged(caption, (), unknown)
    return Judged(SEPARATOR.join(p for p in kept if p), tuple(dropped), unknown)


def _part_lookup(parts: Iterable[Part]) -> dict[str, Part]:
    """Each way a part can stand in a caption's text (as is, escaped for the prompt parser, as a file name
    writes it), and each comma-separated piece of a part that holds commas (a trigger of several words), → the
    part; the first part wins a text two share."""
    found: dict[str, Part] = {}
    for part in parts:
        for piece in part.text.split(","):
            piece = piece.strip()
            for form in (piece, escape_prompt(piece), name_form(piece)):
                found.setdefault(form, part)
    return found


# --------------------------------------------------------------------------- the tiles of a run


@dataclass(frozen=True)
class TileJob:
    """An output showing part of its source (a split tile or a crop), made by a worker for the tagger pass."""

    image: Path  # the output, not mirrored
    mirror: Optional[Path]  # its mirror, when --flip made one
    caption: bytes  # the source's whole caption
    parts: Optional[tuple[Part, ...]]  # the source's sidecar's parts; None: it has none


@dataclass
class TileResult:
    name: str  # the output's name
    dropped: tuple[str, ...]
    unknown: int
    reused: bool  # the record of an earlier run answered, not the tagger


@dataclass
class TileReport:
    """What tile captions did in one run."""

    model: str = ""
    tiles: list[TileResult] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (tile, why it kept its whole caption)
    without_sidecar: int = 0  # tiles whose source had no tag sidecar: the tagger's list told the general tags

    def summary(self) -> list[str]:
        if not self.tiles and not self.failed:
            return [f"  tile captions: no output is a split tile or a crop, so every caption stays whole (they "
                    f"apply with {option('split')} or {option('square')} crop)"]
        cut = sorted((t for t in self.tiles if t.dropped), key=lambda t: t.name)  # the pool finishes in any order
        dropped = sum(len(t.dropped) for t in self.tiles)
        reused = sum(t.reused for t in self.tiles)
        unknown = sum(t.unknown for t in self.tiles)
        line = (f"  tile captions by the tagger {self.model}: {len(self.tiles)} tiles, {len(cut)} of them dropped "
                f"tags they do not show ({dropped} in all)")
        notes = [f"{reused} answered by an earlier run's record"] if reused else []
        notes += [f"{unknown} caption parts the tagger does not know kept"] if unknown else []
        notes += [f"{self.without_sidecar} without a tag sidecar, their general tags told by the tagger's list"] \
            if self.without_sidecar else []
        lines = [line + (f"; {'; '.join(notes)}" if notes else "")]
        lines += [f"    {t.name}: dropped {len(t.dropped)} ({', '.join(t.dropped)})" for t in cut[:SHOWN_TILES]]
        if len(cut) > SHOWN_TILES:
            lines.append(f"    … and {len(cut) - SHOWN_TILES} more; {RECORD} in the output folder lists every tile's")
        return lines

    def failure_lines(self) -> list[str]:
        return [f"  tile caption of {name} failed: {why}" for name, why in self.failed]


class SeenRecord:
    """What the tagger saw in each tile of an output folder, for the model file and thresholds that saw it.

    A tile is looked up by its name and its file's size and time, so a tile written again is looked at again.
    """

    def __init__(self, out: Path, key: dict):
        self.path, self.key = out / RECORD, key
        self.tiles: dict[str, dict] = {}
        try:
            data = json.loads(read_inside(self.path, out.resolve(), MAX_RECORD_BYTES))
        except (OSError, ValueError):
            return  # none yet, or one we cannot use: the tagger looks again
        if isinstance(data, dict) and data.get("tagger") == key and isinstance(data.get("tiles"), dict):
            self.tiles = data["tiles"]

    def seen(self, image: Path) -> Optional[list[str]]:
        entry = self.tiles.get(image.name)
        if not isinstance(entry, dict) or entry.get("file") != _stamp(image):
            return None
        seen = entry.get("seen")
        return seen if isinstance(seen, list) and all(isinstance(t, str) for t in seen) else None

    def put(self, image: Path, seen: list[str], dropped: tuple[str, ...]) -> None:
        self.tiles[image.name] = {"file": _stamp(image), "seen": seen, "dropped": list(dropped)}

    def save(self) -> None:
        text = json.dumps({"about": "what sd_dataset augment's tagger saw in each tile (the general tags) and which "
                                    "caption parts each dropped; a rerun with the same model asks only about "
                                    "changed tiles", "tagger": self.key, "tiles": self.tiles},
                          ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        write_record(self.path, text)


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def tagger_key(tagger: "Tagger") -> dict:
    """What decides a tagger's answers: the model (its files' sizes and times) and the thresholds."""
    return {"model": tagger.name, "fingerprint": tagger.fingerprint, "thresholds": dict(tagger.thresholds)}


def caption_tiles(jobs: list[TileJob], tagger: "Tagger", out: Path, report: TileReport,
                  progress: Progress) -> Iterator[tuple[TileJob, bytes]]:
    """Each job with its tile's caption (the source's whole caption where the tagger could not read the tile, which
    ``report`` then names); what the tagger saw is kept in :data:`RECORD` even when the run is cut short."""
    report.model = tagger.name
    if not jobs:
        return
    knows = general_labels(tagger)
    record = SeenRecord(out, tagger_key(tagger))
    progress.start(len(jobs), "tile captions")
    try:
        with tagger:
            for job in jobs:
                progress.check()
                yield job, _caption_one(job, tagger, knows, record, report)
                progress.advance()
    finally:
        progress.close()
        record.save()


def _caption_one(job: TileJob, tagger: "Tagger", knows: frozenset, record: SeenRecord,
                 report: TileReport) -> bytes:
    try:
        caption = job.caption.decode("utf-8")
    except UnicodeDecodeError:
        report.failed.append((job.image.name, "its caption is not UTF-8 text, so it stays whole"))
        return job.caption
    seen = record.seen(job.image)
    reused = seen is not None
    if seen is None:
        try:
            seen = tagger.tag_file(job.image).general()
        except ImageProblem as exc:
            report.failed.append((job.image.name, f"the tagger could not read it ({exc}); it keeps the whole "
                                                  "caption, and a rerun tries again"))
            return job.caption
    judged = tile_caption(caption, job.parts, knows, seen)
    record.put(job.image, seen, judged.dropped)
    report.tiles.append(TileResult(job.image.name, judged.dropped, judged.unknown, reused))
    report.without_sidecar += job.parts is None
    return judged.text.encode("utf-8") if judged.dropped else job.caption
