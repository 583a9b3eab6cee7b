"""A local tagger for images no site knows: an ONNX model folder the user downloads.

Two folder layouts are read, both a ``model.onnx`` beside a tag list:

* WD14 (SmilingWolf's wd-*-tagger models): ``selected_tags.csv`` with ``tag_id,name,category,count`` columns,
  categories numbered as Danbooru's (0 general, 4 character …) plus 9 for the four ratings;
* e621's Z3D (Z3D-E621-Convnext): ``tags-selected.csv`` with ``name`` and ``category`` columns, categories
  numbered as e621's (0 general, 4 character, 5 species …); it rates nothing.

Both models take one NHWC image of BGR values 0–255, the picture centred on a white square; the side comes from
the model's own input shape (448 where the model leaves it open).  Their outputs are already probabilities.

A :class:`TaggerResult` keeps, per category, the tags scoring at least that category's threshold, and the rating
with the highest score; :meth:`TaggerResult.to_post` makes it a :class:`~sd_dataset.boorus.base.Post`, so the
vocabulary filter and the caption rules treat it as any site's post.  ``onnxruntime`` is an optional extra,
imported only when a model is loaded.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence

from PIL import Image

from .boorus import VOCAB_NUMBERINGS
from .boorus.base import UNCATEGORISED, Post
from .errors import DatasetError
from .files import MAX_TEXT_BYTES, open_checked, read_at_most
from .images import ImageProblem, exif_orientation, load_rgb, open_image, pad_offset
from .wording import option

if TYPE_CHECKING:
    import numpy

MODEL_FILE = "model.onnx"
WD14, Z3D = "wd14", "z3d"
TAG_FILES = {WD14: "selected_tags.csv", Z3D: "tags-selected.csv"}  # which tag list marks which layout
RATING = "rating"
WD14_RATING_NUMBER = 9
# how each layout numbers its categories (the rating number is WD14's own addition to Danbooru's)
LAYOUT_NUMBERS = {WD14: {**VOCAB_NUMBERINGS["danbooru"], WD14_RATING_NUMBER: RATING},
                  Z3D: VOCAB_NUMBERINGS["e621"]}
DEFAULT_SIDE = 448  # WD14's and Z3D's input side, for a model whose input shape leaves it open
PAD = (255, 255, 255)  # both layouts were trained on images padded white
# A name's tags must be sure for a caption to name a character, a copyright or an artist; a general tag wrong now
# and then costs little
DEFAULT_THRESHOLDS = {"general": 0.35, "species": 0.35, "meta": 0.35, "lore": 0.35,
                      "character": 0.85, "copyright": 0.85, "artist": 0.85}
OTHER_THRESHOLD = 0.35  # a category the table does not name (contributor, invalid, a tag of unknown category)
THRESHOLD_CATEGORIES = tuple(dict.fromkeys(tuple(DEFAULT_THRESHOLDS) + ("contributor", "invalid")))
INSTALL = 'pip install "sd-webui-dataset[tagger]" (or pip install onnxruntime)'
# a rating word the site has no word for reads as the nearest it has: Danbooru split "safe" into general and
# sensitive, so on a three-level site (e621's s, q, e) both are safe
RATING_FALLBACKS = {"general": ("general", "safe"), "sensitive": ("sensitive", "safe")}
# a tag list larger than this is no tag list (WD14's hold about 10,000 tags, Z3D's about 9,000)
MAX_TAG_LIST_BYTES = max(MAX_TEXT_BYTES, 64 * 1024 * 1024)


@dataclass(frozen=True)
class Label:
    name: str
    category: str  # a category name (general, character …) or "rating"


@dataclass
class TaggerResult:
    """What a tagger saw in one image, after the thresholds.

    ``tags``: category → tags at or above the category's threshold, highest score first; ``scores``: each of those
    tags' score; ``rating``: the rating word with the highest score ("" when the model rates nothing);
    ``rating_scores``: every rating's score; ``thresholds``: the thresholds applied; ``model``: which model.
    """

    tags: dict[str, list[str]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    rating: str = ""
    rating_scores: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    model: str = ""

    def general(self) -> list[str]:
        """The general tags seen (tags of no known category too), highest score first."""
        return self.tags.get("general", []) + self.tags.get(UNCATEGORISED, [])

    def all_tags(self) -> list[str]:
        return [tag for tags in self.tags.values() for tag in tags]

    def to_post(self, md5: str, ext: str, rating_words: Mapping[str, str]) -> Post:
        """The result as a post of no site, its rating as the letter whose word in ``rating_words`` (the site
        table's, of the site whose caption rules the post will follow) says the same."""
        return Post(id=0, md5=md5, file_url=None, ext=ext, rating=rating_letter(self.rating, rating_words),
                    tags={category: list(tags) for category, tags in self.tags.items()})

    @classmethod
    def from_record(cls, tags: Mapping[str, Sequence[str]], record: Mapping) -> "TaggerResult":
        """A result back from a tag sidecar's tags and :meth:`record`; ``ValueError`` when it is not one."""
        if record.get("by") != "tagger":
            raise ValueError("not a tagger's record")

        def numbers(value) -> dict[str, float]:
            if not isinstance(value, dict):
                raise ValueError("scores are not a table")
            return {str(k): float(v) for k, v in value.items()}

        return cls(tags={str(c): [str(t) for t in names] for c, names in tags.items()},
                   scores=numbers(record.get("scores", {})), rating=str(record.get("rating") or ""),
                   rating_scores=numbers(record.get("rating_scores", {})),
                   thresholds=numbers(record.get("thresholds", {})), model=str(record.get("model") or ""))

    def record(self) -> dict:
        """How the tags were found, for the tag sidecar: a tagger, which model, the scores and the thresholds."""
        return {"by": "tagger", "model": self.model, "scores": {t: round(s, 4) for t, s in self.scores.items()},
                "rating": self.rating, "rating_scores": {r: round(s, 4) for r, s in self.rating_scores.items()},
                "thresholds": dict(self.thresholds)}


def rating_letter(word: str, rating_words: Mapping[str, str]) -> str:
    """The letter ``rating_words`` (letter → word) gives the rating ``word``, or the nearest word it has; ``""``
    when it has none (then the caption has no rating part)."""
    for wanted in RATING_FALLBACKS.get(word, (word,)):
        for letter, name in rating_words.items():
            if name == wanted:
                return letter
    return ""


# -- thresholds ------------------------------------------------------------------------------

def thresholds_with(overrides: Optional[Mapping[str, float]] = None) -> dict[str, float]:
    """The default thresholds with ``overrides`` (category → value) put over them, each checked."""
    merged = dict(DEFAULT_THRESHOLDS)
    for category, value in (overrides or {}).items():
        merged[_threshold_category(category)] = _threshold_value(category, value)
    return merged


def parse_thresholds(texts: Iterable[str]) -> dict[str, float]:
    """``category=value`` pairs (each text may hold several, comma separated) as category → value."""
    found: dict[str, float] = {}
    for text in texts:
        for pair in str(text or "").split(","):
            if not pair.strip():
                continue
            category, sep, value = pair.partition("=")
            if not sep:
                raise DatasetError(f"The tagger threshold {pair.strip()!r} is no category=value pair; write e.g. "
                                   f"character=0.9 in {option('tagger_threshold')}.")
            try:
                number = float(value)
            except ValueError:
                raise DatasetError(f"The tagger threshold {pair.strip()!r} needs a number after the =, e.g. "
                                   f"{category.strip() or 'general'}=0.35.") from None
            found[_threshold_category(category)] = _threshold_value(category, number)
    return found


def _threshold_category(category: str) -> str:
    name = str(category).strip().lower()
    if name not in THRESHOLD_CATEGORIES:
        raise DatasetError(f"The tagger has no threshold for a category {name!r} ({option('tagger_threshold')}); "
                           f"choose from: {', '.join(THRESHOLD_CATEGORIES)}.")
    return name


def _threshold_value(category: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 1):
        raise DatasetError(f"The tagger threshold for {str(category).strip()} is a score above 0 and at most 1; "
                           f"enter e.g. {DEFAULT_THRESHOLDS.get(str(category).strip().lower(), OTHER_THRESHOLD)}.")
    return float(value)


# -- taggers ---------------------------------------------------------------------------------

class Tagger:
    """Something that tags a picture.  ``with tagger:`` brackets a batch (a model another program shares is
    moved to its device once for all images, not once per image)."""

    name: str = ""
    thresholds: dict[str, float]
    # what changes when the model does (its files' sizes and times): a tag sidecar of another is not reused
    fingerprint: str = ""

    def __enter__(self) -> "Tagger":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def tag(self, image: Image.Image) -> TaggerResult:
        raise NotImplementedError

    def tag_file(self, path: Path) -> TaggerResult:
        """Tag the image file ``path`` (upright, its first frame); :class:`~sd_dataset.images.ImageProblem`
        saying why when it cannot be read."""
        img = open_image(Path(path))
        try:
            rgb = load_rgb(img, exif_orientation(img), PAD)
            return self.tag(rgb)
        finally:
            img.close()


class OnnxTagger(Tagger):
    """A WD14 or Z3D model folder loaded into onnxruntime (see :func:`load_tagger`)."""

    def __init__(self, folder: Path, layout: str, labels: Sequence[Label], session, side: int,
                 thresholds: Mapping[str, float]):
        self.folder = folder
        self.layout = layout
        self.labels = list(labels)
        self.session = session
        self.side = side
        self.thresholds = dict(thresholds)
        self.name = folder.name
        self._input = session.get_inputs()[0].name
        files = [(folder / MODEL_FILE).stat(), (folder / TAG_FILES[layout]).stat()]
        self.fingerprint = f"{layout}:" + ":".join(f"{st.st_size}-{st.st_mtime_ns}" for st in files)

    def scores(self, image: Image.Image) -> dict[str, float]:
        """Every label's score for ``image`` (an RGB picture of any size), before any threshold."""
        batch = preprocess(image, self.side)
        try:
            output = self.session.run(None, {self._input: batch})[0]
        except Exception as exc:  # onnxruntime raises its own classes, none shared with Python's
            raise DatasetError(f"The tagger model {self.folder / MODEL_FILE} failed on an image ({_first_line(exc)}); "
                               "check that it is a WD14 or Z3D tagger model.") from None
        values = output.reshape(-1)
        if values.shape[0] != len(self.labels):
            raise DatasetError(_size_mismatch(self.folder, self.layout, values.shape[0], len(self.labels)))
        return {label.name: float(v) for label, v in zip(self.labels, values)}

    def tag(self, image: Image.Image) -> TaggerResult:
        scores = self.scores(image)
        result = TaggerResult(thresholds=dict(self.thresholds), model=self.name)
        kept: dict[str, list[tuple[float, str]]] = {}
        for label in self.labels:
            score = scores[label.name]
            if label.category == RATING:
                result.rating_scores[label.name] = score
            elif score >= self.thresholds.get(label.category, OTHER_THRESHOLD):
                kept.setdefault(label.category, []).append((score, label.name))
        for category, pairs in kept.items():
            pairs.sort(key=lambda p: (-p[0], p[1]))
            result.tags[category] = [name for _, name in pairs]
            result.scores.update((name, score) for score, name in pairs)
        if result.rating_scores:
            result.rating = max(result.rating_scores, key=lambda r: (result.rating_scores[r], r))
        return result


def preprocess(image: Image.Image, side: int) -> "numpy.ndarray":
    """``image`` as WD14 and Z3D models take it: centred on a white square, resized to ``side``, as a
    ``(1, side, side, 3)`` float32 array of BGR values 0–255."""
    import numpy

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    square = Image.new("RGB", (max(w, h),) * 2, PAD)
    square.paste(rgb, pad_offset(w, h))
    if square.size != (side, side):
        square = square.resize((side, side), Image.Resampling.BICUBIC)
    pixels = numpy.asarray(square, dtype=numpy.float32)[:, :, ::-1]  # RGB → BGR, the order both were trained in
    return numpy.ascontiguousarray(pixels)[None, ...]


def load_tagger(folder, thresholds: Optional[Mapping[str, float]] = None) -> OnnxTagger:
    """The tagger in ``folder`` (WD14 or Z3D layout), with the default thresholds under ``thresholds``; one
    sentence when the folder, its files or onnxruntime are missing or wrong."""
    folder = Path(folder).expanduser()
    merged = thresholds_with(thresholds)
    layout, tag_file = _layout_of(folder)
    labels = read_labels(tag_file, layout)
    session = _session(folder / MODEL_FILE)
    side, outputs = _shapes(session, folder)
    if outputs is not None and outputs != len(labels):
        raise DatasetError(_size_mismatch(folder, layout, outputs, len(labels)))
    return OnnxTagger(folder, layout, labels, session, side, merged)


def tagger_for(folder, thresholds: Iterable[str] = ()) -> Optional[OnnxTagger]:
    """The tagger a face's options name: the model ``folder`` (None or blank: no tagger) with ``thresholds`` typed
    as ``category=value``; thresholds without a folder are refused, as they would do nothing."""
    overrides = parse_thresholds(thresholds)
    if folder is None or not str(folder).strip():
        if overrides:
            raise DatasetError(f"Tagger thresholds apply to a local tagger; give its model folder in "
                               f"{option('tagger')} too.")
        return None
    return load_tagger(folder, overrides)


def _layout_of(folder: Path) -> tuple[str, Path]:
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise DatasetError(f"The tagger model folder {folder} {what}; give the folder holding {MODEL_FILE} and "
                           f"{TAG_FILES[WD14]} (WD14) or {TAG_FILES[Z3D]} (Z3D) in {option('tagger')}.")
    if not (folder / MODEL_FILE).is_file():
        raise DatasetError(f"The tagger model folder {folder} has no {MODEL_FILE}; download the model's "
                           f"{MODEL_FILE} into it.")
    for layout, name in TAG_FILES.items():
        if (folder / name).is_file():
            return layout, folder / name
    raise DatasetError(f"The tagger model folder {folder} has no tag list; download the model's "
                       f"{TAG_FILES[WD14]} (WD14) or {TAG_FILES[Z3D]} (Z3D) into it.")


def read_labels(path: Path, layout: str) -> list[Label]:
    """The tag list of a model folder: one label per model output, in the model's order."""
    numbers = LAYOUT_NUMBERS[layout]
    try:
        with open_checked(path) as fh:
            text = read_at_most(fh, MAX_TAG_LIST_BYTES).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"Cannot read the tagger's tag list {path} ({_first_line(exc)}); download the model's "
                           f"{path.name} again.") from None
    head = [c.strip().lower() for c in rows[0]] if rows else []
    if "name" not in head or "category" not in head:
        raise DatasetError(f"The tagger's tag list {path} has no name and category columns; download the model's "
                           f"{path.name} again.")
    i_name, i_cat = head.index("name"), head.index("category")
    labels = []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            name, category = row[i_name].strip(), int(row[i_cat])
        except (IndexError, ValueError):
            raise DatasetError(f"Line {number} of the tagger's tag list {path} has no name or no category number; "
                               f"download the model's {path.name} again.") from None
        labels.append(Label(name, numbers.get(category, UNCATEGORISED)))
    if not labels:
        raise DatasetError(f"The tagger's tag list {path} has no tags; download the model's {path.name} again.")
    return labels


def _session(model: Path):
    try:
        import onnxruntime
    except ImportError:
        raise DatasetError(f"The local tagger needs onnxruntime, which is not installed; install it with {INSTALL}.") \
            from None
    try:
        return onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own error classes for a file that is no model
        raise DatasetError(f"Cannot load the tagger model {model} ({_first_line(exc)}); download the model's "
                           f"{MODEL_FILE} again.") from None


def _shapes(session, folder: Path) -> tuple[int, Optional[int]]:
    """The side of the model's square NHWC input (:data:`DEFAULT_SIDE` where the shape leaves it open) and the
    size of its output (None where open)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = list(inputs[0].shape) if inputs else []
    if len(inputs) != 1 or len(shape) != 4 or shape[3] not in (3, None) and not isinstance(shape[3], str):
        raise DatasetError(f"The tagger model {folder / MODEL_FILE} does not take one image of height, width and 3 "
                           f"colours (its input is {shape}); use a WD14 or Z3D tagger model.")
    height, width = shape[1], shape[2]
    fixed = [d for d in (height, width) if isinstance(d, int) and d > 0]
    if len(fixed) == 2 and height != width:
        raise DatasetError(f"The tagger model {folder / MODEL_FILE} takes {width}x{height} images, not square ones; "
                           "use a WD14 or Z3D tagger model.")
    side = fixed[0] if fixed else DEFAULT_SIDE
    out_shape = list(outputs[0].shape) if outputs else []
    size = out_shape[-1] if out_shape and isinstance(out_shape[-1], int) and out_shape[-1] > 0 else None
    return side, size


def _size_mismatch(folder: Path, layout: str, outputs: int, labels: int) -> str:
    return (f"The tagger model {folder / MODEL_FILE} scores {outputs} tags but {TAG_FILES[layout]} lists {labels}; "
            "download the model and its tag list from the same release.")


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 160 else text[:159] + "…"

