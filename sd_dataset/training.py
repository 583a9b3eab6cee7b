"""What to hand the web UI's trainers, and a readiness check before a GPU spends a second.

:class:`TrainRequest` mirrors the parameters of the web UI's ``train_embedding``
and ``train_hypernetwork`` (A1111 1.x, see ``webui-api.md`` §3–4); the host glue
turns it into the call.  :func:`check_readiness` lists everything that would make
that call fail or silently train the wrong thing, each as one sentence with its
fix.  Facts only the running web UI knows (the loaded model, the embedding
database, settings) come in as a plain :class:`HostState`; a fact left ``None``
skips the checks that need it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Dict, List, Optional, Tuple

from .errors import DatasetError
from .files import check_file, open_checked, read_inside
from .images import MAX_PIXELS, has_image_ext
from .names import safe_user_name
from .schedule import Plan, parse, plan
from .templates import FILEWORDS, NAME, read_template, template_issues

EMBEDDING, HYPERNETWORK = "embedding", "hypernetwork"
KINDS = (EMBEDDING, HYPERNETWORK)
ERROR, WARNING = "error", "warning"
CLIP_GRAD_MODES = ("disabled", "value", "norm")
LATENT_SAMPLING_METHODS = ("once", "deterministic", "random")
# The trainer's caption from a file name: the stem without leading numbers and hyphens.
NUMBERS_AT_START = re.compile(r"^[-\d]+\s*")
_EXAMPLES = 3


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


@dataclass(frozen=True)
class Finding:
    """One problem: ``level`` error (blocks training) or warning; ``message`` is one sentence with its fix."""

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


def _filename_caption_loses_text(filename: str, host: Optional[HostState]) -> bool:
    stem = os.path.splitext(filename)[0]
    caption = filename_caption(filename, host)
    if not caption.strip():
        return True
    match = NUMBERS_AT_START.match(stem)
    if match and match.group()[-1].isdigit() and stem[match.end():]:
        return True  # a number glued to a word: "1girl" is read as "girl"
    letters = lambda text: re.sub(r"[\W_]", "", text)  # noqa: E731
    return letters(caption) != letters(NUMBERS_AT_START.sub("", stem, count=1))


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


def _unsafe_name(name: str, kind: str) -> str:
    """Why ``name`` must not become the trainer's ``<name>.pt`` file, or ``""``: the web UI joins it to a path as is."""
    try:
        safe = safe_user_name(name)
    except DatasetError as exc:
        return str(exc)
    if safe != name:
        return (f'The {kind} name "{name}" is not a safe file name (the web UI saves it as <name>.pt); '
                f'use "{safe}" instead.')
    return ""


def _examples(names: List[str]) -> str:
    shown = ", ".join(names[:_EXAMPLES])
    return shown + (", …" if len(names) > _EXAMPLES else "")


def check_readiness(request: TrainRequest, host: Optional[HostState] = None) -> List[Finding]:
    """Everything that would make the web UI's trainer fail (errors) or silently misbehave (warnings)."""
    findings: List[Finding] = []

    def error(code: str, message: str) -> None:
        findings.append(Finding(ERROR, code, message))

    def warning(code: str, message: str) -> None:
        findings.append(Finding(WARNING, code, message))

    kind = request.kind
    if kind not in KINDS:
        error("kind", f'"{kind}" is not something the web UI trains; choose {EMBEDDING} or {HYPERNETWORK}.')
        return findings
    if not str(request.name or "").strip():
        error("no-name", f"No {kind} is named; choose the {kind} to train.")
    else:
        problem = _unsafe_name(str(request.name).strip(), kind)
        if problem:
            error("unsafe-name", problem)

    # --- host facts ----------------------------------------------------------------------------------------
    if host is not None:
        if host.model_is_sdxl:
            error("sdxl", "The loaded model is SDXL, which the web UI's trainers cannot train (SD1 and SD2 only); "
                          "load an SD1 or SD2 checkpoint first.")
        if host.lowvram:
            error("lowvram", "The web UI runs with --lowvram, which its training refuses; restart it without --lowvram.")
        name = str(request.name or "").strip()
        if name and kind == EMBEDDING and host.loaded_embeddings is not None and name not in host.loaded_embeddings:
            error("embedding-not-loaded", f'The embedding "{name}" is not loaded in the web UI\'s embedding database, '
                                          "so training would fail; create it first or reload the embeddings.")
        if name and kind == HYPERNETWORK and host.hypernetworks is not None and name not in host.hypernetworks:
            error("hypernetwork-not-found", f'The web UI does not list a hypernetwork "{name}"; create it first or '
                                            "refresh the hypernetwork list.")

    # --- whole numbers -------------------------------------------------------------------------------------
    numbers = {}
    for attr, label, minimum, example in (
        ("steps", "Max steps", 1, "10000"),
        ("batch_size", "Batch size", 1, "1"),
        ("gradient_step", "Gradient accumulation steps", 1, "1"),
        ("save_every", f"Save a copy of the {kind} every N steps", 0, "500"),
        ("create_image_every", "Save an image every N steps", 0, "500"),
        ("training_width", "Training width", 64, "512"),
        ("training_height", "Training height", 64, "512"),
    ):
        raw = getattr(request, attr)
        value = _as_whole(raw)
        if value is None:
            error(f"not-whole-{attr}", f"{label} must be a whole number, not {raw!r}; enter e.g. {example}.")
        elif value < minimum:
            error(f"too-small-{attr}", f"{label} must be {minimum} or more, not {value}; enter e.g. {example}.")
        else:
            numbers[attr] = value
    if not request.varsize:
        for attr, label in (("training_width", "width"), ("training_height", "height")):
            value = numbers.get(attr)
            if value is not None and value % 64:
                lower, upper = max(64, value // 64 * 64), (value // 64 + 1) * 64
                error(f"size-not-64-{attr}", f"Training {label} {value} is not a multiple of 64, which the model "
                                             f"cannot train at; use {lower} or {upper}.")
    if request.clip_grad_mode not in CLIP_GRAD_MODES:
        error("clip-grad-mode", f'Gradient clipping "{request.clip_grad_mode}" is unknown; choose one of '
                                f'{", ".join(CLIP_GRAD_MODES)}.')
    if request.latent_sampling_method not in LATENT_SAMPLING_METHODS:
        error("latent-sampling", f'Latent sampling "{request.latent_sampling_method}" is unknown; choose one of '
                                 f'{", ".join(LATENT_SAMPLING_METHODS)}.')
    try:
        drop = float(request.tag_drop_out)
    except (TypeError, ValueError):
        drop = -1.0
    if not 0.0 <= drop <= 1.0:
        error("tag-drop-out", f"Tag drop-out must be between 0 and 1, not {request.tag_drop_out!r}; enter e.g. 0.1.")

    if numbers.get("save_every") == 0 and numbers.get("create_image_every") == 0 and not (
            host is not None and host.save_training_settings_to_txt is False):
        error("no-log-folder", f"With both saving a copy of the {kind} and saving an image set to every 0 steps, the "
                               "web UI never creates its log folder and fails writing its settings file; set either "
                               "to a number of steps such as 500.")

    # --- schedule --------------------------------------------------------------------------------------------
    steps = numbers.get("steps")
    current = 0
    if host is not None and host.current_step:
        current = _as_whole(host.current_step) or 0
    run: Optional[Plan] = None
    try:
        schedule = parse(request.learn_rate)
    except DatasetError as exc:
        error("schedule-invalid", f"The learning-rate schedule is invalid: {str(exc).rstrip('.')}.")
    else:
        if steps is not None and current >= steps:
            error("already-trained", f"The {kind} is already at step {current}, so the web UI stops at once without "
                                     f"training; ask for more than {current} steps.")
        elif steps is not None:
            try:
                run = plan(schedule, steps, current)
            except DatasetError as exc:
                error("schedule-all-passed", str(exc))
            else:
                for text in run.warnings:
                    code = "schedule-ends-early" if text.startswith("The schedule ends") else "schedule-extra-step"
                    warning(code, text)
    if request.clip_grad_mode in ("value", "norm"):
        try:
            parse(request.clip_grad_value)
        except DatasetError as exc:
            error("clip-grad-invalid", f"The gradient clip value is invalid: {exc}")

    if run is not None and host is not None and host.training_write_csv_every:
        every = _as_whole(host.training_write_csv_every)
        first, last = current + 1, run.last_step
        if every and every > 0 and last // every * every < first:
            warning("no-loss-log", f"The loss is written every {every} steps (training_write_csv_every) but this run "
                                   f"trains steps {first}\u2013{last}, so no loss is ever written; set that option to "
                                   f"{last - current} or less, or train longer.")

    # --- template ----------------------------------------------------------------------------------------------
    lines: Optional[List[str]] = None
    if not str(request.template_file or "").strip():
        error("no-template", "No prompt template is chosen; choose one or write one with the template command.")
    else:
        try:
            lines = read_template(request.template_file)
        except DatasetError as exc:
            error("template-missing", str(exc))
    if lines is not None:
        filled = [line for line in lines if line]
        if host is not None and host.template_names is not None and request.template_filename not in host.template_names:
            error("template-not-listed", f"The web UI does not list the template {request.template_filename}; put it "
                                         "in its textual_inversion_templates folder and refresh the template list.")
        if not filled:
            error("template-empty", f"The template {request.template_filename} has no prompt lines; add at least one "
                                    f'such as "{NAME}, {FILEWORDS}".')
        elif kind == EMBEDDING and not any(NAME in line for line in filled):
            error("template-no-name", f"The template {request.template_filename} has no {NAME}, so the embedding never "
                                      f"appears in the training prompts and learns nothing; add {NAME} to its lines.")
        if filled:
            for code, text in template_issues(lines):
                if code == "no-name" or (code == "some-no-name" and kind == HYPERNETWORK):
                    continue  # an error above for embeddings; normal for hypernetworks
                warning(f"template-{code}", text)
    uses_filewords = lines is not None and any(FILEWORDS in line for line in lines)

    # --- dataset -----------------------------------------------------------------------------------------------
    root = str(request.data_root or "").strip()
    scan: Optional[DatasetScan] = None
    if not root:
        error("no-dataset", "No dataset folder is given; choose the folder with the training images.")
    elif not os.path.isdir(root):
        error("dataset-missing", f"The dataset folder {root} does not exist; check the path.")
    else:
        try:
            scan = scan_dataset(root)
        except OSError as exc:
            error("dataset-unreadable", f"Cannot read the dataset folder {root} ({(exc.strerror or 'error').lower()}); "
                                        "check its permissions.")
    if scan is not None:
        if scan.unreadable:
            level = warning if scan.images else error
            level("unreadable-images", f"{len(scan.unreadable)} file(s) in {root} cannot be read as images and the "
                                       f"trainer skips them ({_examples(scan.unreadable)}); re-download or remove them.")
        if not scan.images:
            hint = (f"; the trainer does not look into subfolders such as {scan.subfolders[0]}/, so point it at the "
                    "folder that holds the images" if scan.subfolders else "; add images or choose the right folder")
            error("no-images", f"{root} has no image the trainer can read, so the web UI stops with \"No images have "
                               f"been found in the dataset\"{hint}.")
        else:
            count = len(scan.images)
            batch = numbers.get("batch_size")
            if batch is not None and batch > count:
                warning("batch-too-large", f"Batch size {batch} is larger than the {count} image(s), so the web UI "
                                           f"silently uses {count}; set the batch size to {count} or add images.")
            gradient = numbers.get("gradient_step")
            if batch is not None and gradient is not None:
                per_epoch = max(1, count // min(batch, count))
                if gradient > per_epoch:
                    warning("gradient-too-large", f"Gradient accumulation {gradient} is more than the {per_epoch} "
                                                  f"batch(es) the {count} image(s) make, so the web UI silently uses "
                                                  f"{per_epoch}; set it to {per_epoch} or less.")
            if request.varsize:
                odd = [n for n in scan.images if scan.sizes[n][0] % 64 or scan.sizes[n][1] % 64]
                if odd:
                    error("varsize-image-size", f"{len(odd)} image(s) are not multiples of 64 on both sides "
                                                f"({_examples(odd)}), which training without resizing cannot use; "
                                                "resize them or turn off \"do not resize images\".")
            if uses_filewords:
                _caption_findings(root, scan, host, warning)
    return findings


def _caption_findings(root: str, scan: DatasetScan, host: Optional[HostState], warning) -> None:
    without: List[str] = []
    empty: List[str] = []
    cut: List[str] = []
    real_root = Path(root).resolve()
    for name in scan.images:
        caption_file = Path(os.path.splitext(os.path.join(root, name))[0] + ".txt")
        try:
            text = read_inside(caption_file, real_root).decode("utf-8")
        except FileNotFoundError:
            without.append(name)
            if _filename_caption_loses_text(name, host):
                cut.append(name)
            continue
        except (OSError, UnicodeDecodeError):  # refused or unreadable: there, but nothing to judge
            text = "?"
        if not text.strip():
            empty.append(name)
    if without:
        first = without[0]
        warning("no-caption", f"{len(without)} image(s) have no .txt caption, so the trainer uses their file names "
                              f'instead ("{first}" becomes "{filename_caption(first, host)}"); write captions with the '
                              f"tag step, or accept the file names.")
    if cut:
        first = cut[0]
        warning("filename-caption-cut", f"{len(cut)} file-name caption(s) are cut by the trainer, which drops leading "
                                         f'numbers and hyphens ("{first}" is read as "{filename_caption(first, host)}"); '
                                         "add a .txt caption or rename the file(s).")
    if empty:
        warning("empty-caption", f"{len(empty)} caption file(s) are empty, so [filewords] is empty for those images "
                                 f"({_examples(empty)}); write their captions or remove the empty .txt files.")
