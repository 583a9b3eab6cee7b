"""The readiness check: a table of small named checks, each one pitfall of the web UI's trainers.

:func:`check_readiness` runs every function of :data:`CHECKS` on one :class:`Facts` and collects what they find:
errors (training would fail or train nothing), warnings (it would silently go wrong) and notes (what the run uses,
worth seeing before a GPU spends an hour).  Each check reads only the facts it needs; the facts several checks share
(the whole numbers, the parsed schedule, the template's lines, the dataset scan) are worked out once, on first use.
A new pitfall is one more function in the list.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from .errors import DatasetError
from .files import read_inside
from .names import safe_user_name
from .schedule import Plan, Schedule, format_rate, parse, plan
from .summaries import examples
from .templates import FILEWORDS, NAME, read_template, template_issues
from .training import (CLIP_GRAD_MODES, EMBEDDING, ERROR, HYPERNETWORK, KINDS, LATENT_SAMPLING_METHODS, NOTE,
                       NUMBERS_AT_START, WARNING, DatasetScan, Finding, HostState, TrainRequest, _as_whole,
                       filename_caption, scan_dataset)

# The guide: hypernetworks fry at embedding rates; it starts them at 5e-6 and steps down from there.
HYPERNETWORK_RATE_ERROR = 1e-4
HYPERNETWORK_RATE_WARNING = 1e-5
EMBEDDING_RATE_WARNING = 0.05  # ten times the web UI's own default
UPSCALE_LIMIT = 2.0  # the trainer enlarges an image more than this: soft, blurred detail
STRETCH_LIMIT = 1.5  # the trainer squeezes an image's aspect by more than this (3:2 onto a square)

# (attribute, label, minimum, example) of the request's whole numbers
WHOLE_NUMBERS = (
    ("steps", "Max steps", 1, "10000"),
    ("batch_size", "Batch size", 1, "1"),
    ("gradient_step", "Gradient accumulation steps", 1, "1"),
    ("save_every", "Save a copy of the {kind} every N steps", 0, "500"),
    ("create_image_every", "Save an image every N steps", 0, "500"),
    ("training_width", "Training width", 64, "512"),
    ("training_height", "Training height", 64, "512"),
)


def error(code: str, message: str) -> Finding:
    return Finding(ERROR, code, message)


def warning(code: str, message: str) -> Finding:
    return Finding(WARNING, code, message)


def note(code: str, message: str) -> Finding:
    return Finding(NOTE, code, message)


@dataclass
class Facts:
    """One request and what the host knows, with the facts several checks share worked out on first use."""

    request: TrainRequest
    host: Optional[HostState] = None

    @property
    def kind(self) -> str:
        return self.request.kind

    @property
    def name(self) -> str:
        return str(self.request.name or "").strip()

    @cached_property
    def numbers(self) -> Dict[str, int]:
        """The whole numbers that are valid, by attribute."""
        valid = {}
        for attr, _, minimum, _ in WHOLE_NUMBERS:
            value = _as_whole(getattr(self.request, attr))
            if value is not None and value >= minimum:
                valid[attr] = value
        return valid

    @property
    def current_step(self) -> int:
        """The step the embedding or hypernetwork is at (0 when unknown or new)."""
        if self.host is None or not self.host.current_step:
            return 0
        return _as_whole(self.host.current_step) or 0

    @cached_property
    def schedule(self) -> Tuple[Optional[Schedule], Optional[DatasetError]]:
        try:
            return parse(self.request.learn_rate), None
        except DatasetError as exc:
            return None, exc

    @cached_property
    def plan(self) -> Tuple[Optional[Plan], Optional[DatasetError]]:
        """What the trainer makes of the schedule for this run; (None, None) when there is nothing to plan."""
        schedule, _ = self.schedule
        steps = self.numbers.get("steps")
        if schedule is None or steps is None or self.current_step >= steps:
            return None, None
        try:
            return plan(schedule, steps, self.current_step), None
        except DatasetError as exc:
            return None, exc

    @cached_property
    def template(self) -> Tuple[Optional[List[str]], Optional[DatasetError]]:
        """The template's lines as the trainer reads them; (None, None) when no template is chosen."""
        if not str(self.request.template_file or "").strip():
            return None, None
        try:
            return read_template(self.request.template_file), None
        except DatasetError as exc:
            return None, exc

    @property
    def template_lines(self) -> List[str]:
        """The template's prompt lines (none when it cannot be read)."""
        return [line for line in (self.template[0] or []) if line]

    @property
    def root(self) -> str:
        return str(self.request.data_root or "").strip()

    @cached_property
    def scan(self) -> Tuple[Optional[DatasetScan], Optional[OSError]]:
        """What the trainer finds in the dataset folder; (None, None) when there is no folder to read."""
        if not self.root or not os.path.isdir(self.root):
            return None, None
        try:
            return scan_dataset(self.root), None
        except OSError as exc:
            return None, exc

    @property
    def images(self) -> List[str]:
        scan, _ = self.scan
        return scan.images if scan is not None else []

    @property
    def resized_to(self) -> Optional[Tuple[int, int]]:
        """The size the trainer resizes every image to, or None (it keeps their sizes, or the size is invalid)."""
        width, height = self.numbers.get("training_width"), self.numbers.get("training_height")
        if self.request.varsize or width is None or height is None:
            return None
        return width, height


Check = Callable[[Facts], Iterable[Finding]]


# --- what is trained ------------------------------------------------------------------------------------------

def known_kind(facts: Facts) -> Iterator[Finding]:
    if facts.kind not in KINDS:
        yield error("kind", f'"{facts.kind}" is not something the web UI trains; choose {EMBEDDING} or '
                            f"{HYPERNETWORK}.")


def named(facts: Facts) -> Iterator[Finding]:
    if not facts.name:
        yield error("no-name", f"No {facts.kind} is named; choose the {facts.kind} to train.")
        return
    try:
        safe = safe_user_name(facts.name)
    except DatasetError as exc:
        yield error("unsafe-name", str(exc))
        return
    if safe != facts.name:
        yield error("unsafe-name", f'The {facts.kind} name "{facts.name}" is not a safe file name (the web UI saves '
                                   f'it as <name>.pt); use "{safe}" instead.')


def trainable_model(facts: Facts) -> Iterator[Finding]:
    if facts.host is not None and facts.host.model_is_sdxl:
        yield error("sdxl", "The loaded model is SDXL, which the web UI's trainers cannot train (SD1 and SD2 only); "
                            "load an SD1 or SD2 checkpoint first.")


def the_checkpoint(facts: Facts) -> Iterator[Finding]:
    """Training uses whatever checkpoint is loaded: say which, since the Train section has no checkpoint choice."""
    if facts.host is not None and facts.host.checkpoint:
        yield note("checkpoint", f"Training uses the checkpoint loaded now, {facts.host.checkpoint}; to train "
                                 "against another, choose it in the web UI's checkpoint list first.")


def not_lowvram(facts: Facts) -> Iterator[Finding]:
    if facts.host is not None and facts.host.lowvram:
        yield error("lowvram", "The web UI runs with --lowvram, which its training refuses; restart it without "
                               "--lowvram.")


def embedding_loaded(facts: Facts) -> Iterator[Finding]:
    loaded = facts.host.loaded_embeddings if facts.host is not None else None
    if facts.name and facts.kind == EMBEDDING and loaded is not None and facts.name not in loaded:
        yield error("embedding-not-loaded", f'The embedding "{facts.name}" is not loaded in the web UI\'s embedding '
                                            "database, so training would fail; create it first or reload the "
                                            "embeddings.")


def hypernetwork_listed(facts: Facts) -> Iterator[Finding]:
    listed = facts.host.hypernetworks if facts.host is not None else None
    if facts.name and facts.kind == HYPERNETWORK and listed is not None and facts.name not in listed:
        yield error("hypernetwork-not-found", f'The web UI does not list a hypernetwork "{facts.name}"; create it '
                                              "first or refresh the hypernetwork list.")


def hypernetwork_not_named_like_an_embedding(facts: Facts) -> Iterator[Finding]:
    """The trainer puts the hypernetwork's name where a template says [name], and the prompt reads that word as the
    embedding of the same name: the embedding takes part in every training prompt."""
    embeddings = facts.host.loaded_embeddings if facts.host is not None else None
    if (facts.kind == HYPERNETWORK and facts.name and embeddings is not None and facts.name in embeddings
            and any(NAME in line for line in facts.template_lines)):
        yield warning("hypernetwork-named-like-embedding",
                      f'The hypernetwork has the name of the embedding "{facts.name}", and {NAME} in the template '
                      "puts that name in every training prompt, so the embedding works along in every step; give "
                      "the hypernetwork another name.")


# --- numbers and choices ----------------------------------------------------------------------------------------

def whole_numbers(facts: Facts) -> Iterator[Finding]:
    for attr, label, minimum, example in WHOLE_NUMBERS:
        label = label.format(kind=facts.kind)
        raw = getattr(facts.request, attr)
        value = _as_whole(raw)
        if value is None:
            yield error(f"not-whole-{attr}", f"{label} must be a whole number, not {raw!r}; enter e.g. {example}.")
        elif value < minimum:
            yield error(f"too-small-{attr}", f"{label} must be {minimum} or more, not {value}; enter e.g. {example}.")


def sizes_of_64(facts: Facts) -> Iterator[Finding]:
    if facts.request.varsize:
        return
    for attr, label in (("training_width", "width"), ("training_height", "height")):
        value = facts.numbers.get(attr)
        if value is not None and value % 64:
            lower, upper = max(64, value // 64 * 64), (value // 64 + 1) * 64
            yield error(f"size-not-64-{attr}", f"Training {label} {value} is not a multiple of 64, which the model "
                                               f"cannot train at; use {lower} or {upper}.")


def known_choices(facts: Facts) -> Iterator[Finding]:
    request = facts.request
    if request.clip_grad_mode not in CLIP_GRAD_MODES:
        yield error("clip-grad-mode", f'Gradient clipping "{request.clip_grad_mode}" is unknown; choose one of '
                                      f'{", ".join(CLIP_GRAD_MODES)}.')
    if request.latent_sampling_method not in LATENT_SAMPLING_METHODS:
        yield error("latent-sampling", f'Latent sampling "{request.latent_sampling_method}" is unknown; choose one of '
                                       f'{", ".join(LATENT_SAMPLING_METHODS)}.')
    try:
        drop = float(request.tag_drop_out)
    except (TypeError, ValueError):
        drop = -1.0
    if not 0.0 <= drop <= 1.0:
        yield error("tag-drop-out", f"Tag drop-out must be between 0 and 1, not {request.tag_drop_out!r}; enter "
                                    "e.g. 0.1.")


def a_log_folder(facts: Facts) -> Iterator[Finding]:
    numbers = facts.numbers
    settings_file = facts.host is None or facts.host.save_training_settings_to_txt is not False
    if numbers.get("save_every") == 0 and numbers.get("create_image_every") == 0 and settings_file:
        yield error("no-log-folder", f"With both saving a copy of the {facts.kind} and saving an image set to every "
                                     "0 steps, the web UI never creates its log folder and fails writing its "
                                     "settings file; set either to a number of steps such as 500.")


def preview_prompt_filled_in(facts: Facts) -> Iterator[Finding]:
    """The preview prompt goes to txt2img as typed: only the template's lines get [name] and [filewords] replaced."""
    request = facts.request
    prompt = str(request.preview_prompt or "")
    placeholders = [p for p in (NAME, FILEWORDS) if p in prompt]
    if request.preview_from_txt2img and placeholders:
        yield warning("preview-placeholders",
                      f"The preview prompt contains {' and '.join(placeholders)}, which the trainer does not replace "
                      f"there (only in the template), so the previews show the words as typed; write the "
                      f"{facts.kind}'s name and the tags into the preview prompt instead.")


# --- the schedule ---------------------------------------------------------------------------------------------

def valid_schedule(facts: Facts) -> Iterator[Finding]:
    _, problem = facts.schedule
    if problem is not None:
        yield error("schedule-invalid", f"The learning-rate schedule is invalid: {str(problem).rstrip('.')}.")


def steps_left(facts: Facts) -> Iterator[Finding]:
    steps, current = facts.numbers.get("steps"), facts.current_step
    if facts.schedule[0] is not None and steps is not None and current >= steps:
        yield error("already-trained", f"The {facts.kind} is already at step {current}, so the web UI stops at once "
                                       f"without training; ask for more than {current} steps.")


def schedule_as_meant(facts: Facts) -> Iterator[Finding]:
    run, problem = facts.plan
    if problem is not None:
        yield error("schedule-all-passed", str(problem))
    for text in run.warnings if run is not None else ():
        yield warning("schedule-ends-early" if text.startswith("The schedule ends") else "schedule-extra-step", text)


def _rates(facts: Facts) -> List[Tuple[float, str]]:
    """Every rate the schedule names, with the item it is written in."""
    schedule, _ = facts.schedule
    return [(item.rate, item.text) for item in schedule.items] if schedule is not None else []


def hypernetwork_rates(facts: Facts) -> Iterator[Finding]:
    """The guide's loudest warning: a hypernetwork trained at an embedding's rate fries within a few hundred steps."""
    if facts.kind != HYPERNETWORK:
        return
    rates = _rates(facts)
    too_high = [(rate, text) for rate, text in rates if rate > HYPERNETWORK_RATE_ERROR]
    high = [(rate, text) for rate, text in rates if HYPERNETWORK_RATE_WARNING < rate <= HYPERNETWORK_RATE_ERROR]
    fix = 'choose the "hypernetwork-guide" preset or lower the rate'
    if too_high:
        rate, text = too_high[0]
        yield error("hypernetwork-rate-too-high",
                    f'The schedule trains the hypernetwork at {format_rate(rate)} ("{text}"), above '
                    f"{format_rate(HYPERNETWORK_RATE_ERROR)}, where hypernetworks fry (the guide starts at 5e-06); "
                    f"{fix}.")
    elif high:
        rate, text = high[0]
        yield warning("hypernetwork-rate-high",
                      f'The schedule trains the hypernetwork at {format_rate(rate)} ("{text}"), above '
                      f"{format_rate(HYPERNETWORK_RATE_WARNING)}, which often overtrains it (the guide starts at "
                      f"5e-06); {fix}.")


def embedding_rates(facts: Facts) -> Iterator[Finding]:
    if facts.kind != EMBEDDING:
        return
    high = [(rate, text) for rate, text in _rates(facts) if rate > EMBEDDING_RATE_WARNING]
    if high:
        rate, text = high[0]
        yield warning("embedding-rate-high",
                      f'The schedule trains the embedding at {format_rate(rate)} ("{text}"), above '
                      f"{format_rate(EMBEDDING_RATE_WARNING)}, ten times the web UI's default, where embeddings "
                      'overshoot; choose the "embedding-default" preset or lower the rate.')


def valid_clip_value(facts: Facts) -> Iterator[Finding]:
    if facts.request.clip_grad_mode in ("value", "norm"):
        try:
            parse(facts.request.clip_grad_value)
        except DatasetError as exc:
            yield error("clip-grad-invalid", f"The gradient clip value is invalid: {exc}")


def a_loss_log(facts: Facts) -> Iterator[Finding]:
    run, _ = facts.plan
    every = _as_whole(facts.host.training_write_csv_every) if facts.host is not None else None
    if run is None or not every or every <= 0:
        return
    first, last = facts.current_step + 1, run.last_step
    if last // every * every < first:
        yield warning("no-loss-log", f"The loss is written every {every} steps (training_write_csv_every) but this "
                                     f"run trains steps {first}\u2013{last}, so no loss is ever written; set that "
                                     f"option to {last - facts.current_step} or less, or train longer.")


# --- the template ---------------------------------------------------------------------------------------------

def a_template(facts: Facts) -> Iterator[Finding]:
    lines, problem = facts.template
    if lines is None and problem is None:
        yield error("no-template", "No prompt template is chosen; choose one or write one with the template "
                                   "command.")
    elif problem is not None:
        yield error("template-missing", str(problem))


def template_listed(facts: Facts) -> Iterator[Finding]:
    names = facts.host.template_names if facts.host is not None else None
    filename = facts.request.template_filename
    if facts.template[0] is not None and names is not None and filename not in names:
        yield error("template-not-listed", f"The web UI does not list the template {filename}; put it in its "
                                           "textual_inversion_templates folder and refresh the template list.")


def template_prompts(facts: Facts) -> Iterator[Finding]:
    lines = facts.template[0]
    if lines is None:
        return
    filename, filled = facts.request.template_filename, facts.template_lines
    if not filled:
        yield error("template-empty", f"The template {filename} has no prompt lines; add at least one such as "
                                      f'"{NAME}, {FILEWORDS}".')
        return
    if facts.kind == EMBEDDING and not any(NAME in line for line in filled):
        yield error("template-no-name", f"The template {filename} has no {NAME}, so the embedding never appears in "
                                        f"the training prompts and learns nothing; add {NAME} to its lines.")
    for code, text in template_issues(lines):
        if code == "no-name" or (code == "some-no-name" and facts.kind == HYPERNETWORK):
            continue  # an error above for embeddings; normal for hypernetworks
        yield warning(f"template-{code}", text)


# --- the dataset ----------------------------------------------------------------------------------------------

def a_dataset(facts: Facts) -> Iterator[Finding]:
    root = facts.root
    _, problem = facts.scan
    if not root:
        yield error("no-dataset", "No dataset folder is given; choose the folder with the training images.")
    elif not os.path.isdir(root):
        yield error("dataset-missing", f"The dataset folder {root} does not exist; check the path.")
    elif problem is not None:
        yield error("dataset-unreadable", f"Cannot read the dataset folder {root} "
                                          f"({(problem.strerror or 'error').lower()}); check its permissions.")


def readable_images(facts: Facts) -> Iterator[Finding]:
    scan, _ = facts.scan
    if scan is None:
        return
    if scan.unreadable:
        make = warning if scan.images else error
        yield make("unreadable-images", f"{len(scan.unreadable)} file(s) in {facts.root} cannot be read as images "
                                        f"and the trainer skips them ({examples(scan.unreadable)}); re-download or "
                                        "remove them.")
    if not scan.images:
        hint = (f"; the trainer does not look into subfolders such as {scan.subfolders[0]}/, so point it at the "
                "folder that holds the images" if scan.subfolders else "; add images or choose the right folder")
        yield error("no-images", f"{facts.root} has no image the trainer can read, so the web UI stops with \"No "
                                 f"images have been found in the dataset\"{hint}.")


def batches_fit(facts: Facts) -> Iterator[Finding]:
    count = len(facts.images)
    batch, gradient = facts.numbers.get("batch_size"), facts.numbers.get("gradient_step")
    if not count or batch is None:
        return
    if batch > count:
        yield warning("batch-too-large", f"Batch size {batch} is larger than the {count} image(s), so the web UI "
                                         f"silently uses {count}; set the batch size to {count} or add images.")
    per_epoch = max(1, count // min(batch, count))
    if gradient is not None and gradient > per_epoch:
        yield warning("gradient-too-large", f"Gradient accumulation {gradient} is more than the {per_epoch} "
                                            f"batch(es) the {count} image(s) make, so the web UI silently uses "
                                            f"{per_epoch}; set it to {per_epoch} or less.")


def varsize_sizes(facts: Facts) -> Iterator[Finding]:
    scan, _ = facts.scan
    if scan is None or not facts.request.varsize:
        return
    odd = [n for n in scan.images if scan.sizes[n][0] % 64 or scan.sizes[n][1] % 64]
    if odd:
        yield error("varsize-image-size", f"{len(odd)} image(s) are not multiples of 64 on both sides "
                                          f"({examples(odd)}), which training without resizing cannot use; resize "
                                          'them or turn off "do not resize images".')


def resized_gently(facts: Facts) -> Iterator[Finding]:
    """The trainer resizes every image to the training size, without cropping: small ones blur, odd shapes squash."""
    scan, _ = facts.scan
    size = facts.resized_to
    if scan is None or size is None:
        return
    width, height = size
    upscaled, stretched = [], []
    for name in scan.images:
        w, h = scan.sizes[name]
        if max(width / w, height / h) > UPSCALE_LIMIT:
            upscaled.append(name)
        aspect = (w / h) / (width / height)
        if max(aspect, 1 / aspect) > STRETCH_LIMIT:
            stretched.append(name)
    if upscaled:
        yield warning("images-upscaled", f"{len(upscaled)} of {len(scan.images)} image(s) are less than half the "
                                         f"training size {width}x{height}, so the trainer enlarges them more than "
                                         f"{UPSCALE_LIMIT:g}x and learns their blur ({examples(upscaled)}); use larger "
                                         "images or a smaller training size.")
    if stretched:
        yield warning("images-stretched", f"{len(stretched)} of {len(scan.images)} image(s) are far from the "
                                          f"training size's {width}:{height} shape, so the trainer squashes them "
                                          f"(it resizes without cropping) ({examples(stretched)}); pad or crop them "
                                          "to square in the augment step, or split the long ones.")


def captions(facts: Facts) -> Iterator[Finding]:
    """With [filewords] in the template the captions are trained on: missing, cut or empty ones matter."""
    if not facts.images or not any(FILEWORDS in line for line in facts.template[0] or []):
        return
    root, host = facts.root, facts.host
    without: List[str] = []
    empty: List[str] = []
    cut: List[str] = []
    real_root = Path(root).resolve()
    for name in facts.images:
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
        yield warning("no-caption", f"{len(without)} image(s) have no .txt caption, so the trainer uses their file "
                                    f'names instead ("{first}" becomes "{filename_caption(first, host)}"); write '
                                    "captions with the tag step, or accept the file names.")
    if cut:
        first = cut[0]
        yield warning("filename-caption-cut", f"{len(cut)} file-name caption(s) are cut by the trainer, which drops "
                                               f'leading numbers and hyphens ("{first}" is read as '
                                               f'"{filename_caption(first, host)}"); add a .txt caption or rename '
                                               "the file(s).")
    if empty:
        yield warning("empty-caption", f"{len(empty)} caption file(s) are empty, so [filewords] is empty for those "
                                       f"images ({examples(empty)}); write their captions or remove the empty .txt "
                                       "files.")


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


#: Every check, in the order its findings are listed.
CHECKS: Tuple[Check, ...] = (
    named, trainable_model, not_lowvram, embedding_loaded, hypernetwork_listed,
    whole_numbers, sizes_of_64, known_choices, a_log_folder,
    valid_schedule, steps_left, schedule_as_meant, hypernetwork_rates, embedding_rates, valid_clip_value, a_loss_log,
    a_template, template_listed, template_prompts, hypernetwork_not_named_like_an_embedding, preview_prompt_filled_in,
    a_dataset, readable_images, batches_fit, varsize_sizes, resized_gently, captions,
    the_checkpoint,
)


def _counted(count: int, what: str) -> str:
    return f"{count} {what}{'s' if count != 1 else ''}"


def verdict(findings: List[Finding]) -> str:
    """The check's last line: ready (no error: the trainer starts, warnings or not), or what stands in the way."""
    errors = sum(1 for f in findings if f.level == ERROR)
    warnings = sum(1 for f in findings if f.level == WARNING)
    if errors:
        return f"not ready: {_counted(errors, 'error')}, {_counted(warnings, 'warning')}; fix the errors before training"
    if warnings:
        return f"ready: {_counted(warnings, 'warning')} above, none of them stops training"
    return "ready: nothing found that would stop or spoil training"


def check_readiness(request: TrainRequest, host: Optional[HostState] = None) -> List[Finding]:
    """Everything that would make the web UI's trainer fail (errors) or silently misbehave (warnings), and what the
    run uses (notes); nothing else is checked for a kind the web UI does not train."""
    facts = Facts(request, host)
    unknown = list(known_kind(facts))
    if unknown:
        return unknown
    return [finding for check in CHECKS for finding in check(facts)]
