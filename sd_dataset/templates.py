"""Prompt template files for the web UI's trainers, built from a few choices.

A template is a text file, one prompt per line; for every image the trainer
picks a random line and replaces ``[name]`` with the embedding's name and
``[filewords]`` with the image's caption.  The web UI lists the files in its
``textual_inversion_templates`` folder by file name; the host refreshes that
list after :func:`write_template` (this module knows no host).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from .errors import DatasetError
from .files import MAX_TEXT_BYTES, atomic_write_text, ensure_writable_dir, open_checked, read_at_most, read_text_or_none
from .names import safe_user_name
from .wording import option

NAME = "[name]"
FILEWORDS = "[filewords]"
DEFAULT_PREFIX = "uploaded on e621"
DEFAULT_FLAVOURS: Tuple[str, ...] = ("a photo of", "an oil painting of", "a picture of")
KINDS: Tuple[str, ...] = ("subject", "subject-last", "style")
SUFFIX = ".txt"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class TemplateResult:
    """What :func:`write_template` did: the file written, its lines, and warnings for the user."""

    path: Path
    lines: List[str]
    warnings: List[str] = field(default_factory=list)
    unchanged: bool = False  # the file already held exactly these lines

    def headline(self) -> str:
        count = f"{len(self.lines)} line{'s' if len(self.lines) != 1 else ''}"
        return f"{self.path} already holds this template ({count})" if self.unchanged else \
            f"wrote {self.path} ({count})"


def _clean(text: str, what: str) -> str:
    """One piece of prompt text: surrounding spaces trimmed, no line breaks or control characters."""
    text = str(text).strip()
    if _CONTROL.search(text):
        raise DatasetError(f'The {what} "{text.encode("unicode_escape").decode()}" contains a line break or control '
                           f"character; a template line must be one line, so remove it.")
    return text


def _split_list(values: Optional[Iterable[str]], what: str) -> List[str]:
    """Cleaned, non-empty, de-duplicated entries (a plain string is split on commas)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = values.split(",")
    seen: List[str] = []
    for value in values:
        value = _clean(value, what)
        if value and value not in seen:
            seen.append(value)
    return seen


def _join(prefix: str, *parts: str) -> str:
    return ", ".join(p for p in (prefix, *parts) if p)


def build_template(kind: str = "subject", prefix: str = DEFAULT_PREFIX, artists: Optional[Iterable[str]] = None,
                   flavours: Optional[Iterable[str]] = None) -> List[str]:
    """The template's lines, one prompt each.

    ``kind``: ``subject`` (``P, [name], [filewords]``), ``subject-last``
    (``P, [filewords], [name]``) or ``style`` (``P, by [name], [filewords]``).
    ``prefix`` (``P``) may be empty, then the line starts without a comma.
    ``artists`` adds one line per artist (``P, [name] by ARTIST, [filewords]``;
    subject kinds only), ``flavours`` one line per flavour such as ``a photo of``
    (``P, a photo of [name], [filewords]``; for style ``P, by [name], a photo of [filewords]``).
    """
    if kind not in KINDS:
        raise DatasetError(f'There is no template kind "{kind}"; choose one of {", ".join(KINDS)}.')
    prefix = _clean(prefix if prefix is not None else "", "prefix").strip(" ,")
    artist_list = _split_list(artists, "artist")
    flavour_list = [f for f in (f.strip(" ,") for f in _split_list(flavours, "flavour")) if f]
    if artist_list and kind == "style":
        raise DatasetError("Artists go with the subject kinds only: in a style template [name] already is the style; "
                           f"leave out the artists or choose {option('template_kind')} subject.")

    def subject(name_part: str) -> str:
        if kind == "subject":
            return _join(prefix, name_part, FILEWORDS)
        return _join(prefix, FILEWORDS, name_part)

    if kind == "style":
        lines = [_join(prefix, f"by {NAME}", FILEWORDS)]
        lines += [_join(prefix, f"by {NAME}", f"{flavour} {FILEWORDS}") for flavour in flavour_list]
    else:
        lines = [subject(NAME)]
        lines += [subject(f"{NAME} by {artist}") for artist in artist_list]
        lines += [subject(f"{flavour} {NAME}") for flavour in flavour_list]
    return lines


def read_template(path) -> List[str]:
    """A template's lines as the web UI's trainer reads them: every line, stripped, blank ones included."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"The template {path} is a folder; give the template's .txt file.")
    try:
        with open_checked(path) as fh:  # a FIFO or device is refused, not waited on or read without end
            data = read_at_most(fh, MAX_TEXT_BYTES)
    except FileNotFoundError:
        raise DatasetError(f"The template {path} does not exist; check the path or write one with the template command.") from None
    except OSError as exc:
        raise DatasetError(f"Cannot read the template {path} ({exc.strerror.lower() if exc.strerror else exc}); check its permissions.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    lines = re.split(r"\r\n|\r|\n", text)  # the newlines Python's text mode knows, like readlines()
    if lines and lines[-1] == "":
        lines.pop()
    return [line.strip() for line in lines]


def template_warnings(lines: Sequence[str]) -> List[str]:
    """What a template means for training when it lacks ``[name]``/``[filewords]`` or has blank lines."""
    return [text for _, text in template_issues(lines)]


def template_issues(lines: Sequence[str]) -> List[Tuple[str, str]]:
    """:func:`template_warnings` with a short code for each: empty, no-name, some-no-name, no-filewords,
    some-no-filewords, blank, encoding."""
    warnings: List[Tuple[str, str]] = []
    filled = [line for line in lines if line]
    if not filled:
        return [("empty", "The template has no prompt lines, so the trainer has nothing to prompt with; add at least one line "
                f"such as \"{NAME}, {FILEWORDS}\".")]
    without_name = [line for line in filled if NAME not in line]
    without_words = [line for line in filled if FILEWORDS not in line]
    if len(without_name) == len(filled):
        warnings.append(("no-name", f"No line has {NAME}, so an embedding trained with this template never sees its own name and "
                        f"learns nothing (fine for a hypernetwork); add {NAME} to the lines."))
    elif without_name:
        warnings.append(("some-no-name", f"{len(without_name)} of {len(filled)} lines lack {NAME}, so an embedding learns nothing on "
                        f"the steps that pick them (e.g. \"{without_name[0]}\"); add {NAME} to every line."))
    if len(without_words) == len(filled):
        warnings.append(("no-filewords", f"No line has {FILEWORDS}, so the images' captions are never used and the embedding or "
                        f"hypernetwork absorbs everything in the pictures; add {FILEWORDS} unless that is what you want."))
    elif without_words:
        warnings.append(("some-no-filewords", f"{len(without_words)} of {len(filled)} lines lack {FILEWORDS}, so on the steps that pick them "
                        f"the captions are ignored (e.g. \"{without_words[0]}\"); add {FILEWORDS} to every line."))
    blank = len(lines) - len(filled)
    if blank:
        warnings.append(("blank", f"The template has {blank} blank line(s), which the trainer uses as empty prompts; "
                        f"remove the blank lines."))
    if any(not line.isascii() for line in filled):
        warnings.append(("encoding", "The template has non-ASCII characters, which the web UI reads in the system's default "
                        "encoding (garbled on Windows); use plain ASCII text if you train on Windows."))
    return warnings


def template_filename(name: str) -> str:
    """A safe file name ending in ``.txt`` for a user-entered template name."""
    name = str(name).strip()
    if not name.lower().endswith(SUFFIX):
        name += SUFFIX
    filename = safe_user_name(name)
    if not filename.lower().endswith(SUFFIX) or filename.lower() == SUFFIX:
        raise DatasetError(f'The template name "{name}" has no characters usable in a file name; use letters or digits.')
    return filename


def write_template(folder, name: str, lines: Sequence[str], overwrite: bool = False) -> TemplateResult:
    """Write ``lines`` as ``<folder>/<safe name>.txt``; an existing file is kept unless ``overwrite``."""
    lines = [_clean(line, "template line") for line in lines]
    if not any(lines):
        raise DatasetError("The template has no prompt lines; give at least one line.")
    lines = [line for line in lines if line]
    folder = ensure_writable_dir(Path(folder))
    path = folder / template_filename(name)
    text = "\n".join(lines) + "\n"
    if path.is_file() and read_text_or_none(path) == text:  # a rerun: nothing to overwrite
        return TemplateResult(path, list(lines), template_warnings(lines), unchanged=True)
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists; choose another name or allow overwriting it "
                           f"({option('template_overwrite')}).")
    if path.is_dir():
        raise DatasetError(f"{path} is a folder; choose another name.")
    atomic_write_text(path, text)
    return TemplateResult(path, list(lines), template_warnings(lines))


def make_template(folder, name: str, kind: str = "subject", prefix: str = DEFAULT_PREFIX,
                  artists: Optional[Iterable[str]] = None, flavours: Optional[Iterable[str]] = None,
                  overwrite: bool = False) -> TemplateResult:
    """:func:`build_template` then :func:`write_template`."""
    return write_template(folder, name, build_template(kind, prefix, artists, flavours), overwrite=overwrite)
