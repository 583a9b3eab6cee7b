"""What to hand the web UI's trainers, and what the readiness check (``checks.py``) reads.

:class:`TrainRequest` mirrors the parameters of the web UI's ``train_embedding``
and ``train_hypernetwork`` (A1111 1.x, see ``webui-api.md`` §3–4); the host glue
turns it into the call.  Facts only the running web UI knows (the loaded model,
the embedding database, settings) come in as a plain :class:`HostState`; a fact
left ``None`` skips the checks that need it.  :func:`scan_dataset` reads a
dataset folder the way the trainer will.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Dict, List, Optional, Tuple

from .files import check_file, open_checked
from .images import MAX_PIXELS, has_image_ext

EMBEDDING, HYPERNETWORK = "embedding", "hypernetwork"
KINDS = (EMBEDDING, HYPERNETWORK)
ERROR, WARNING, NOTE = "error", "warning", "note"
CLIP_GRAD_MODES = ("disabled", "value", "norm")
LATENT_SAMPLING_METHODS = ("once", "deterministic", "random")
# The trainer's caption from a file name: the stem without leading numbers and hyphens.
NUMBERS_AT_START = re.compile(r"^[-\d]+\s*")


@dataclass
class TrainRequest:
    """One training run, in the web UI's terms (defaults are the web UI Train tab's)."""

    name: str
    data_root: str
    template_file: str  # path of the template; the web UI is given its file name
    learn_rate: str = "0.005"
    steps: int = 100000
    kind: str = EMBEDDING
    batch_size: int = 1
    gradient_step: int = 1
    log_directory: str = "textual_inversion"
    training_width: int = 512
    training_height: int = 512
    varsize: bool = False
    clip_grad_mode: str = "disabled"
    clip_grad_value: str = "0.1"
    shuffle_tags: bool = False
    tag_drop_out: float = 0.0
    latent_sampling_method: str = "once"
    use_weight: bool = False
    create_image_every: int = 500
    save_every: int = 500  # save_embedding_every / save_hypernetwork_every
    save_image_with_stored_embedding: bool = True  # embeddings only
    preview_from_txt2img: bool = False
    preview_prompt: str = ""
    preview_negative_prompt: str = ""
    preview_steps: int = 20
    preview_sampler_name: str = "Euler a"
    preview_cfg_scale: float = 7.0
    preview_seed: int = -1
    preview_width: int = 512
    preview_height: int = 512

    @property
    def template_filename(self) -> str:
        """The name the web UI's template list knows the template by."""
        return os.path.basename(str(self.template_file))

    def webui_kwargs(self) -> Dict[str, object]:
        """Keyword arguments for ``train_embedding``/``train_hypernetwork`` (1.7+ names), without ``id_task``.

        Whole numbers are handed over as ``int`` (the web UI asserts it); check first with :func:`check_readiness`.
        """
        kwargs: Dict[str, object] = {
            f"{self.kind}_name": self.name,
            "learn_rate": self.learn_rate,
            "batch_size": self.batch_size,
            "gradient_step": self.gradient_step,
            "data_root": str(self.data_root),
            "log_directory": self.log_directory,
            "training_width": self.training_width,
            "training_height": self.training_height,
            "varsize": self.varsize,
            "steps": self.steps,
            "clip_grad_mode": self.clip_grad_mode,
            "clip_grad_value": self.clip_grad_value,
            "shuffle_tags": self.shuffle_tags,
            "tag_drop_out": self.tag_drop_out,
            "latent_sampling_method": self.latent_sampling_method,
            "use_weight": self.use_weight,
            "create_image_every": self.create_image_every,
            f"save_{self.kind}_every": self.save_every,
            "template_filename": self.template_filename,
        }
        if self.kind == EMBEDDING:
            kwargs["save_image_with_stored_embedding"] = self.save_image_with_stored_embedding
        kwargs.update(
            preview_from_txt2img=self.preview_from_txt2img, preview_prompt=self.preview_prompt,
            preview_negative_prompt=self.preview_negative_prompt, preview_steps=self.preview_steps,
            preview_sampler_name=self.preview_sampler_name, preview_cfg_scale=self.preview_cfg_scale,
            preview_seed=self.preview_seed, preview_width=self.preview_width, preview_height=self.preview_height,
        )
        for key in ("batch_size", "gradient_step", "steps", "create_image_every", f"save_{self.kind}_every",
                    "training_width", "training_height", "preview_steps", "preview_width", "preview_height"):
            whole = _as_whole(kwargs[key])
            if whole is not None:
                kwargs[key] = whole
        return kwargs


@dataclass
class HostState:
    """Facts from the running web UI; None = unknown, and the checks needing it are skipped."""

    model_is_sdxl: Optional[bool] = None
    loaded_embeddings: Optional[Collection[str]] = None  # names in the embedding database
    hypernetworks: Optional[Collection[str]] = None  # names the web UI lists
    current_step: Optional[int] = None  # the step the embedding/hypernetwork is at (resume)
    training_write_csv_every: Optional[int] = None
    dataset_filename_word_regex: Optional[str] = None
    dataset_filename_join_string: Optional[str] = None
    save_training_settings_to_txt: Optional[bool] = None
    lowvram: Optional[bool] = None
    template_names: Optional[Collection[str]] = None  # the web UI's template list
    checkpoint: Optional[str] = None  # the loaded checkpoint's title, which training uses


@dataclass(frozen=True)
class Finding:
    """One finding: ``level`` error (blocks training), warning, or note (what the run uses); ``message`` is one
    sentence, with its fix."""

    level: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def has_errors(findings) -> bool:
    return any(f.level == ERROR for f in findings)


@dataclass
class DatasetScan:
    """What the trainer will find in a dataset folder."""

    images: List[str] = field(default_factory=list)  # entry names PIL reads
    unreadable: List[str] = field(default_factory=list)  # image-looking entries PIL cannot read
    sizes: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    subfolders: List[str] = field(default_factory=list)


def _jpeg_ends_cleanly(path: str) -> bool:
    """Cheap: a complete JPEG has its end marker (FF D9) at, or very near, the end of the file."""
    with open_checked(Path(path)) as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64))
        return b"\xff\xd9" in fh.read()


def scan_dataset(folder) -> DatasetScan:
    """Try every entry of ``os.listdir`` (non-recursive) as the trainer does, with cheap Pillow checks.

    Only regular files inside ``folder`` are opened: a link out of it, a FIFO or a device counts as unreadable.
    """
    from PIL import Image

    scan = DatasetScan()
    real_root = Path(folder).resolve()
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            scan.subfolders.append(entry)
            continue
        try:
            check_file(Path(path), real_root)
            with Image.open(path) as image:
                size, fmt = image.size, image.format
                image.verify()  # checks PNG chunks; does not decode a JPEG
            # decoding is held to augment's pixel cap; past it the header alone is judged
            if fmt in ("JPEG", "MPO") and size[0] * size[1] <= MAX_PIXELS and not _jpeg_ends_cleanly(path):
                with Image.open(path) as image:
                    image.load()  # a cut-off download: decode it to be sure, as the trainer will
        except Exception:
            if has_image_ext(entry):
                scan.unreadable.append(entry)
            continue
        if fmt in ("JPEG", "MPO", "TIFF", "WEBP"):
            try:
                with Image.open(path) as image:
                    if image.getexif().get(0x0112) in (5, 6, 7, 8):  # the trainer applies EXIF rotation
                        size = (size[1], size[0])
            except Exception:
                pass
        scan.images.append(entry)
        scan.sizes[entry] = size
    return scan


def filename_caption(filename: str, host: Optional[HostState] = None) -> str:
    """The caption the trainer makes from a file name when there is no ``.txt`` beside it."""
    text = NUMBERS_AT_START.sub("", os.path.splitext(filename)[0], count=1)
    if host is not None and host.dataset_filename_word_regex:
        tokens = re.findall(host.dataset_filename_word_regex, text)
        text = (host.dataset_filename_join_string if host.dataset_filename_join_string is not None else " ").join(tokens)
    return text


def _as_whole(value):
    """``value`` as an int when it is a whole number (int, integral float or digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a number box gives 1000.0; webui_kwargs() hands the web UI an int
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    return None
