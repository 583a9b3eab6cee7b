"""Pure image transforms for the augment step: load, split, square, resize, flip, hash.

Nothing here touches the file system except :func:`open_image` and the listing
:func:`scan_images` (which only read), and nothing knows about names or captions;
that lives in ``augment.py``.
Every function takes and returns Pillow images or plain numbers, so each can be
tested pixel by pixel on its own.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PIL import Image, ImageFilter, UnidentifiedImageError

from .files import check_file, split_refused

# Above this many pixels an image is treated as a decompression bomb.  100 MP is
# larger than any camera or scan a dataset needs (12000x8000 is 96 MP) yet keeps
# one decoded image per worker under about 300 MB of RGB.  We check it ourselves
# instead of changing Image.MAX_IMAGE_PIXELS, which is global state the web UI and
# other extensions share.
MAX_PIXELS = 100_000_000
# Extensions of the image files the steps read, and the web UI's trainer tries, as training images.
IMAGE_EXTS = frozenset({"png", "jpg", "jpeg", "jfif", "webp", "gif", "bmp", "tif", "tiff"})


# How each format of IMAGE_EXTS begins: enough to tell an image file from a web page, a text or a video.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
SIGNATURE_BYTES = 12


def has_image_ext(name: str) -> bool:
    return Path(name).suffix.lower().lstrip(".") in IMAGE_EXTS


def has_image_signature(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first :data:`SIGNATURE_BYTES` bytes) is in one of the image formats
    the steps read; from the bytes alone, without Pillow."""
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def scan_images(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Images directly in ``folder`` by name, and the image-named entries that are not read, with why.

    Hidden and temporary files are left out, folders too; what is refused is a link
    out of the folder or a FIFO, socket or device (see :func:`files.check_file`).
    Raises ``OSError`` when the folder cannot be listed.
    """
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    named = [Path(e.path) for e in entries
             if not e.name.startswith(".") and has_image_ext(e.name) and not e.is_dir()]
    return split_refused(named, Path(folder).resolve())


def list_images(folder: Path) -> list[Path]:
    """The images :func:`scan_images` accepts; none when the folder cannot be listed."""
    try:
        return scan_images(folder)[0]
    except OSError:
        return []


HIGH_QUALITY = Image.Resampling.LANCZOS

# EXIF orientations 5-8 store the image turned by 90 degrees: width and height swap.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


class ImageProblem(Exception):
    """A file that cannot become an output; ``str()`` is the reason for the report.

    ``failed`` tells a broken file (the user should look at it) from a deliberate
    skip such as an image below the minimum size.
    """

    def __init__(self, reason: str, failed: bool = True):
        super().__init__(reason)
        self.failed = failed


# --------------------------------------------------------------------------- loading


def open_image(path: Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``path`` lazily (header only) or raise :class:`ImageProblem` saying why not.

    The caller must close the returned image.  Pillow's own bomb warning is turned
    into an error here so a host that lowered ``Image.MAX_IMAGE_PIXELS`` still gets
    a skip, not a warning and a giant decode.
    """
    path = Path(path)
    try:
        if check_file(path).st_size == 0:  # a FIFO or device is refused before Pillow opens it and waits
            raise ImageProblem("empty file (0 bytes)")
    except OSError as exc:
        raise ImageProblem(f"cannot read the file ({exc.strerror or exc})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except UnidentifiedImageError:
            raise ImageProblem("not an image (Pillow cannot identify its contents)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageProblem(_bomb_reason(None, max_pixels)) from None
        except Exception as exc:  # a broken header raises many kinds (SyntaxError, struct.error, ...)
            raise ImageProblem(f"corrupt image header ({_short(exc)})") from None
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise ImageProblem(_bomb_reason((w, h), max_pixels))
    if w < 1 or h < 1:
        img.close()
        raise ImageProblem("corrupt image header (zero width or height)")
    return img


def _bomb_reason(size: Optional[tuple[int, int]], max_pixels: int) -> str:
    dims = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, " if size else ""
    return f"decompression bomb ({dims}over the limit of {max_pixels:,} pixels)"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) <= 120 else text[:117] + "..."


def exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8) of a lazily opened image; 1 when absent or unreadable."""
    try:
        value = int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # malformed EXIF must not cost the image, only its rotation
        return 1
    return value if 1 <= value <= 8 else 1


def oriented_size(img: Image.Image, orientation: int) -> tuple[int, int]:
    """The size the image has once its EXIF orientation is applied."""
    w, h = img.size
    return (h, w) if orientation in _SWAPPING_ORIENTATIONS else (w, h)


def draft_for(img: Image.Image, orientation: int, needed: tuple[int, int]) -> bool:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale when ``needed`` (oriented) is that much smaller.

    Pillow's draft keeps the result at least ``needed`` in both sides, so the
    high-quality resize that follows still only shrinks.  Returns whether it applied.
    """
    if img.format != "JPEG":
        return False
    want = (needed[1], needed[0]) if orientation in _SWAPPING_ORIENTATIONS else needed
    before = img.size
    try:
        img.draft(None, want)
    except Exception:
        return False
    return img.size != before


def load_rgb(img: Image.Image, orientation: int, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Decode ``img`` (its first frame) into an upright RGB image or raise :class:`ImageProblem`."""
    try:
        img.seek(0)  # animated files: the first frame is the one a trainer would see
        img.load()
    except ImageProblem:
        raise
    except Exception as exc:  # truncated data raises OSError; other decoders raise other things
        raise ImageProblem(f"corrupt or truncated image ({_short(exc)})") from None
    if orientation != 1:
        img = _apply_orientation(img, orientation)
    try:
        return to_rgb(img, background)
    except Exception as exc:
        raise ImageProblem(f"unsupported colour mode {img.mode} ({_short(exc)})") from None


_ORIENTATION_OPS = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    # Done by hand from the number we already read, because ImageOps.exif_transpose
    # re-parses the EXIF and would fail again on the malformed blocks we tolerate.
    for op in _ORIENTATION_OPS.get(orientation, ()):
        img = img.transpose(op)
    return img


def to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """RGB version of ``img``: transparency composited over ``background``, CMYK and 16-bit converted."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P" and "transparency" in img.info or mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Pillow's direct conversion clips 16-bit values at 255; scale them down instead.
        wide = img.convert("I") if mode != "I" else img
        top = 65535 if mode.startswith("I;16") else max(1, wide.getextrema()[1])
        return wide.point(lambda v: v * (255 / top)).convert("L").convert("RGB")
    if mode == "F":
        low, high = img.getextrema()
        span = (high - low) or 1.0
        return img.point(lambda v: (v - low) * (255 / span)).convert("L").convert("RGB")
    return img.convert("RGB")


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class SplitPlan:
    """Where the web UI's splitter would cut: resize to ``resized`` then crop each box."""

    resized: tuple[int, int]
    boxes: tuple[tuple[int, int, int, int], ...]


def split_plan(width: int, height: int, tile_w: int, tile_h: int,
               threshold: float = 0.5, overlap: float = 0.2) -> Optional[SplitPlan]:
    """The web UI's "split oversized images" geometry, or None when it would not split.

    Same arithmetic as webui (<=1.6 preprocess.py, and the 1.7 Extras script): the
    long side is scaled so the short side fits the tile, ``n`` overlapping tiles
    are spread evenly from one end to the other.  When ``n`` is 1 the web UI
    divides by zero; here the single tile sits at offset 0.
    """
    threshold = min(1.0, max(0.0, threshold))
    overlap = min(0.9, max(0.0, overlap))
    if height > width:
        ratio = (width * tile_h) / (height * tile_w)
        across = False  # tiles run top to bottom
    else:
        ratio = (height * tile_w) / (width * tile_h)
        across = True  # tiles run left to right; the web UI swaps the axes
    if not (ratio < 1.0 and ratio <= threshold):
        return None
    if across:
        from_w, from_h, to_w, to_h = height, width, tile_h, tile_w
    else:
        from_w, from_h, to_w, to_h = width, height, tile_w, tile_h
    long = from_h * to_w // from_w
    count = math.ceil((long - to_h * overlap) / (to_h * (1.0 - overlap)))
    if count <= 1:
        offsets = [0]
    else:
        step = (long - to_h) / (count - 1)
        offsets = [int(step * i) for i in range(count)]
    if across:
        return SplitPlan((long, to_w), tuple((x, 0, x + to_h, to_w) for x in offsets))
    return SplitPlan((to_w, long), tuple((0, y, to_w, y + to_h) for y in offsets))


def split(img: Image.Image, plan: SplitPlan) -> list[Image.Image]:
    """The tiles of ``plan``, in reading order (top to bottom or left to right)."""
    base = resize(img, plan.resized)
    return [base.crop(box) for box in plan.boxes]


def fit_long_side(width: int, height: int, size: int) -> tuple[int, int]:
    """Size with the long side at ``size`` and the aspect kept (short side at least 1)."""
    if width >= height:
        return size, max(1, round(height * size / width))
    return max(1, round(width * size / height)), size


def resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """High-quality resize; the same image back when it already has that size."""
    if img.size == tuple(size):
        return img
    return img.resize(size, HIGH_QUALITY)


def centre_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def crop_to_square(img: Image.Image) -> Image.Image:
    """The centre square of ``img``."""
    if img.width == img.height:
        return img
    return img.crop(centre_crop_box(img.width, img.height))


def pad_offset(width: int, height: int) -> tuple[int, int]:
    """Where ``pad_to_square`` puts the original's top-left corner."""
    side = max(width, height)
    return (side - width) // 2, (side - height) // 2


def pad_to_square(img: Image.Image) -> Image.Image:
    """Centre ``img`` on a square canvas whose new space continues the image's own border.

    The edge row or column is stretched outwards, then blurred: lightly near the
    image so the seam continues what is there, heavily far from it so the fill
    fades into soft colour instead of hard streaks.  The original pixels are
    pasted back untouched.
    """
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    left, top = pad_offset(w, h)
    canvas = Image.new("RGB", (side, side))
    canvas.paste(img, (left, top))
    if w < h:
        right = side - left - w
        _stretch(canvas, img.crop((0, 0, 1, h)), (left, h), (0, top))
        _stretch(canvas, img.crop((w - 1, 0, w, h)), (right, h), (left + w, top))
        gradient = _distance_mask(side, left, right, vertical=False)
    else:
        bottom = side - top - h
        _stretch(canvas, img.crop((0, 0, w, 1)), (w, top), (left, 0))
        _stretch(canvas, img.crop((0, h - 1, w, h)), (w, bottom), (left, top + h))
        gradient = _distance_mask(side, top, bottom, vertical=True)
    # The fill is blurry by design, so blur it at a quarter of the size: the same
    # look for a sixteenth of the work (blurring full size cost more than the resize).
    factor = 4 if side >= 64 else 1
    small, mask = canvas.reduce(factor), gradient.reduce(factor)
    near = small.filter(ImageFilter.GaussianBlur(max(2.0, side / 128) / factor))
    far = small.filter(ImageFilter.GaussianBlur(max(8.0, side / 16) / factor))
    filled = Image.composite(far, near, mask)
    if factor > 1:
        filled = filled.resize((side, side), Image.Resampling.BILINEAR)
    filled.paste(img, (left, top))
    return filled


def _stretch(canvas: Image.Image, edge: Image.Image, size: tuple[int, int], at: tuple[int, int]) -> None:
    """Repeat a one-pixel edge row/column over a band of ``size`` at ``at`` (bands may be empty)."""
    if size[0] > 0 and size[1] > 0:
        canvas.paste(edge.resize(size, Image.Resampling.NEAREST), at)


def _distance_mask(side: int, before: int, after: int, vertical: bool) -> Image.Image:
    """0 next to the image rising to 255 at the canvas edge, across both padded bands."""
    line = bytearray(side)
    for i in range(before):
        line[i] = round(255 * (before - i) / before)
    for i in range(after):
        line[side - after + i] = round(255 * (i + 1) / after)
    strip = Image.frombytes("L", (1, side) if vertical else (side, 1), bytes(line))
    return strip.resize((side, side), Image.Resampling.NEAREST)


def mirror(img: Image.Image) -> Image.Image:
    """Left-right mirror image."""
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


# --------------------------------------------------------------------------- hashing


def perceptual_hash(img: Image.Image) -> int:
    """64-bit DCT perceptual hash (imagehash's phash) as an int, for cheap Hamming distances."""
    import imagehash  # imported here so the package loads without it until --dedupe is used

    bits = imagehash.phash(img).hash.flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")
