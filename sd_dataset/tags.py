"""Tag vocabularies (the model's ``tags.csv``, tag-autocomplete files, e621's exports) and the caption rules.

A :class:`Vocabulary` knows which tags a model was trained on and how often it saw
each; :class:`CaptionRules` turns a :class:`~sd_dataset.boorus.base.Post` into the
caption the trainer reads.  The rules follow the post's site (its ``site`` field, else
the run's ``--booru``): its rating words, the categories a caption keeps, the
artist-category tags that name no artist, and how a tag-autocomplete vocabulary's
category numbers read (e621.csv, danbooru.csv and danbooru_e621_merged.csv number them differently).
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .boorus import E621_NOT_ARTISTS, SITES, VOCAB_NUMBERINGS, Site, site_of
from .boorus.base import UNCATEGORISED, Post
from .captions import ARTIST_PREFIX, SEPARATOR, caption_text, display_tag, escape_prompt
from .errors import DatasetError
from .files import MAX_TEXT_BYTES, open_checked, read_at_most
from .wording import option

# e621's tag categories, by the number its exports use
CATEGORY_NAMES = {0: "general", 1: "artist", 2: "contributor", 3: "copyright", 4: "character", 5: "species",
                  6: "invalid", 7: "meta", 8: "lore"}
CATEGORY_IDS = {name: number for number, name in CATEGORY_NAMES.items()}
# categories a caption may add with --include on some site (each site keeps its own content categories,
# general and on e621 species, and the artist has its own part); the site table says which apply where
INCLUDABLE = tuple(dict.fromkeys(("character", "copyright", "meta", "lore", "contributor", "invalid")
                                 + tuple(c for site in SITES.values() for c in site.includable)))
DEFAULT_SITE = "e621"  # whose rules a post of no known site follows when the rules name no site either

RATING_WORDS = SITES[DEFAULT_SITE].rating_words  # e621's; other sites' are in the site table

# e621's artist-category tags that name no artist (other sites' are in the site table)
NOT_ARTISTS = E621_NOT_ARTISTS
# autocomplete category numbers only e621's numbering has: a file using one is e621.csv, whatever its name
_E621_ONLY_NUMBERS = frozenset(VOCAB_NUMBERINGS["e621"]) - frozenset(VOCAB_NUMBERINGS["danbooru"])
# numbers only the merged list has (e621's categories moved up by 7 reach past e621's own): a file using one is merged
_MERGED_ONLY_NUMBERS = frozenset(VOCAB_NUMBERINGS["merged"]) - frozenset(VOCAB_NUMBERINGS["e621"])

PINNABLE = ("rating", "artist")  # parts a kohya caption can keep first

GUIDE, AUTOCOMPLETE, E621_TAGS = "tag,count", "autocomplete", "e621 tags export"
E621_TAGS_HEADERLESS = "e621 tags export (no header)"
VOCAB_FORMATS = (GUIDE, AUTOCOMPLETE, E621_TAGS)


# -- reading text files, gzip or not ------------------------------------------------

def open_text(path: Path) -> io.TextIOBase:
    """Open a UTF-8 text file, transparently gunzipping it when its bytes say it is gzip."""
    path = Path(path)
    if path.is_dir():  # its own sentence, before the check refuses it as not a regular file
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    with open_checked(path) as fh:  # a FIFO or device is refused; a vocabulary may be large, so no size cap
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8-sig", newline="")


def _is_int(text: str) -> bool:
    return bool(re.fullmatch(r"\s*-?\d+\s*", text or ""))


def normalize_tag(text: str) -> str:
    """A tag as the user may type it (``red ball``, ``Red_Ball``, ``bow \\(weapon\\)``) in e621's form."""
    text = re.sub(r"\\(.)", r"\1", text.strip())  # a caption's escapes: \( \) \[ \] \\
    return re.sub(r"\s+", "_", text).lower()


# -- vocabulary ------------------------------------------------------------------------

@dataclass
class Vocabulary:
    """Known tags with their counts (and categories when the file has them), plus aliases."""

    counts: dict[str, int] = field(default_factory=dict)
    # category names, as the file's numbering reads them (e621's when the file does not say which it uses)
    categories: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias (antecedent) -> canonical (consequent)
    format: str = ""
    source: str = ""
    _reverse: Optional[dict[str, list[str]]] = field(default=None, repr=False)
    category_numbers: dict[str, int] = field(default_factory=dict)  # the file's own numbers
    # whose numbering the file uses (a VOCAB_NUMBERINGS key); None: unknown, each post's site decides
    numbering: Optional[str] = None

    def category(self, tag: str, numbering: Optional[str] = None) -> Optional[str]:
        """The category the vocabulary files ``tag`` under, its numbers read as the file's own numbering,
        else as ``numbering`` (the post's site's), else as e621's; None when the file gives none."""
        number = self.category_numbers.get(tag)
        if number is None:
            return self.categories.get(tag)
        names = VOCAB_NUMBERINGS.get(self.numbering or numbering or DEFAULT_SITE, VOCAB_NUMBERINGS[DEFAULT_SITE])
        return names.get(number, "general")

    def __contains__(self, tag: str) -> bool:
        return tag in self.counts

    def __len__(self) -> int:
        return len(self.counts)

    def count(self, tag: str) -> int:
        return self.counts.get(tag, 0)

    def add_aliases(self, pairs: Iterable[tuple[str, str]]) -> None:
        for alias, canonical in pairs:
            if alias and canonical and alias != canonical:
                self.aliases.setdefault(alias, canonical)
        self._reverse = None

    def resolve(self, tag: str) -> Optional[str]:
        """The vocabulary's name for a post's tag, or None when the model does not know it.

        A tag is known as itself; as the canonical tag it is an alias of; or, when the site
        aliased an old name to it after the model was trained, as that old name.
        """
        if tag in self.counts:
            return tag
        canonical = self.aliases.get(tag)
        if canonical is not None and canonical in self.counts:
            return canonical
        if self._reverse is None:
            reverse: dict[str, list[str]] = {}
            for alias, target in self.aliases.items():
                reverse.setdefault(target, []).append(alias)
            self._reverse = reverse
        olds = [a for a in self._reverse.get(tag, ()) if a in self.counts]
        if canonical is not None:
            olds += [a for a in self._reverse.get(canonical, ()) if a in self.counts]
        if olds:
            return min(olds, key=lambda a: (-self.counts[a], a))
        return None


def detect_format(rows: list[list[str]]) -> Optional[str]:
    """Which vocabulary format these first rows are in, or None."""
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if not rows:
        return None
    head = [c.strip().lower() for c in rows[0]]
    if len(head) >= 4 and head[:2] == ["id", "name"] and "category" in head and "post_count" in head:
        return E621_TAGS
    body = rows[1:] if len(head) < 2 or not _is_int(head[1]) else rows
    sample = (body or rows)[:20]

    def mostly(test) -> bool:  # a stray malformed line must not hide the format
        return sum(1 for r in sample if test(r)) >= max(1, 0.8 * len(sample))

    if mostly(lambda r: len(r) >= 4 and _is_int(r[0]) and _is_int(r[2]) and _is_int(r[3]) and not _is_int(r[1])):
        return E621_TAGS_HEADERLESS
    if mostly(lambda r: len(r) >= 3 and _is_int(r[1]) and _is_int(r[2])):
        return AUTOCOMPLETE
    if mostly(lambda r: len(r) >= 2 and _is_int(r[1])):
        return GUIDE
    return None


def load_vocabulary(path: Path, numbering: Optional[str] = None) -> Vocabulary:
    """Read a vocabulary in any known format (plain or gzip); one clear sentence when that fails.

    ``numbering`` (a :data:`VOCAB_NUMBERINGS` key) says how a tag-autocomplete file numbers its categories.
    Without it: the merged list's when the file uses a number past e621's (9 to 15) or its name says both danbooru
    and e621 (as ``danbooru_e621_merged.csv``); e621's when the file uses a number only e621 has (-1, 2, 6, 7, 8)
    or its name says e621 (as ``e621.csv``); Danbooru's when its name says danbooru; else each post's site
    decides.  e621's tags export always uses e621's numbers.
    """
    path = Path(path).expanduser()
    if numbering is not None and numbering not in VOCAB_NUMBERINGS:
        *others, last = VOCAB_NUMBERINGS
        raise DatasetError(f"Unknown vocabulary numbering {numbering!r}; choose {', '.join(others)} or {last}.")
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh)
            first = list(itertools.islice(reader, 25))
            fmt = detect_format(first)
            if fmt is None:
                raise DatasetError(
                    f"{path} is not a vocabulary format I know; use tag,count lines (the guide's tags.csv), "
                    f"tag-autocomplete lines (name,category,count,\"aliases\") or e621's tags export."
                )
            vocab = Vocabulary(format=fmt, source=str(path))
            _read_rows(vocab, fmt, first, itertools.chain(first, reader))
    except FileNotFoundError:
        raise DatasetError(f"The vocabulary file {path} does not exist; check the path in {option('vocab')}.") from None
    except IsADirectoryError:
        raise DatasetError(f"The vocabulary {path} is a folder; give the tags file itself in {option('vocab')}.") from None
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise DatasetError(f"Cannot read the vocabulary file {path} ({_reason(exc)}); "
                           f"check that it is a readable CSV file, plain or .gz.") from None
    if not vocab.counts:
        raise DatasetError(f"The vocabulary {path} has no tags; check that it is the right file.")
    vocab.numbering = numbering or _numbering_of(vocab, path)
    names = VOCAB_NUMBERINGS[vocab.numbering or DEFAULT_SITE]
    vocab.categories = {tag: names.get(number, "general") for tag, number in vocab.category_numbers.items()}
    if vocab.numbering is not None:
        vocab.category_numbers = {}  # the names say it all; only a file of unknown numbering keeps its numbers
    return vocab


def _numbering_of(vocab: Vocabulary, path: Path) -> Optional[str]:
    """Whose category numbers a vocabulary file uses, when the file itself tells; None when it does not."""
    if vocab.format in (E621_TAGS, E621_TAGS_HEADERLESS):
        return "e621"
    if not vocab.category_numbers:
        return None
    numbers = set(vocab.category_numbers.values())
    named = numbering_from_name(path.name)
    if numbers & _MERGED_ONLY_NUMBERS or named == "merged":
        return "merged"
    if numbers & _E621_ONLY_NUMBERS:
        return "e621"
    return named


def numbering_from_name(name: str) -> Optional[str]:
    """Whose category numbers a tag-autocomplete file uses, as its name tells: ``e621`` (or ``e926``) in it means
    e621's, ``danbooru`` Danbooru's, both the merged list's (``danbooru_e621_merged.csv``); None when it says none."""
    name = name.lower()
    says = [key for key, words in (("e621", ("e621", "e926")), ("danbooru", ("danbooru",)))
            if any(w in name for w in words)]
    return "merged" if len(says) == 2 else (says[0] if says else None)


def _read_rows(vocab: Vocabulary, fmt: str, first: list[list[str]], rows: Iterable[list[str]]) -> None:
    if fmt in (E621_TAGS, E621_TAGS_HEADERLESS):
        if fmt == E621_TAGS:
            head = [c.strip().lower() for c in first[0]]
            i_name, i_cat, i_count = head.index("name"), head.index("category"), head.index("post_count")
            rows = itertools.islice(rows, 1, None)
        else:
            i_name, i_cat, i_count = 1, 2, 3
        for row in rows:
            if len(row) > max(i_name, i_cat, i_count) and row[i_name].strip():
                _add(vocab, row[i_name], row[i_count], row[i_cat])
        return
    for row in rows:
        if len(row) < 2 or not _is_int(row[1]) or not row[0].strip():
            continue  # header or blank line
        if fmt == GUIDE:
            _add(vocab, row[0], row[1], None)
        elif len(row) >= 3 and _is_int(row[2]):
            name = row[0].strip()
            _add(vocab, name, row[2], row[1])
            if len(row) >= 4 and row[3].strip():
                vocab.add_aliases((alias.strip(), name) for alias in row[3].split(",") if alias.strip())


def _add(vocab: Vocabulary, name: str, count: str, category: Optional[str]) -> None:
    name = name.strip()
    number = int(count) if _is_int(count) else 0
    if number >= vocab.counts.get(name, -1):
        vocab.counts[name] = number
    if category is not None and _is_int(category):
        vocab.category_numbers[name] = int(category)


def read_aliases(path: Path) -> list[tuple[str, str]]:
    """Active ``(antecedent, consequent)`` pairs from e621's ``tag_aliases`` export (plain or .gz)."""
    path = Path(path).expanduser()
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh)
            head = [c.strip().lower() for c in next(reader, [])]
            if "antecedent_name" not in head or "consequent_name" not in head:
                raise DatasetError(f"{path} is not e621's tag_aliases export (it needs antecedent_name and "
                                   f"consequent_name columns); give that export in {option('aliases')}.")
            i_from, i_to = head.index("antecedent_name"), head.index("consequent_name")
            i_status = head.index("status") if "status" in head else None
            pairs = []
            for row in reader:
                if len(row) <= max(i_from, i_to):
                    continue
                if i_status is not None and (len(row) <= i_status or row[i_status].strip() != "active"):
                    continue
                pairs.append((row[i_from].strip(), row[i_to].strip()))
            return pairs
    except FileNotFoundError:
        raise DatasetError(f"The aliases file {path} does not exist; check the path in {option('aliases')}.") from None
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise DatasetError(f"Cannot read the aliases file {path} ({_reason(exc)}); "
                           f"check that it is e621's tag_aliases export, plain or .gz.") from None


def load_vocabulary_and_aliases(vocab: Optional[Path], aliases: Optional[Path] = None,
                                numbering: Optional[str] = None) -> Optional[Vocabulary]:
    """The model's vocabulary (or None), with an aliases export applied; one sentence for a bad combination."""
    if vocab is None:
        if numbering:
            raise DatasetError("The vocabulary numbering says how a vocabulary file numbers its categories; give "
                               f"the vocabulary file too ({option('vocab')}).")
        if aliases is not None:
            raise DatasetError(f"Aliases map tags to a vocabulary's names; give the vocabulary file too "
                               f"({option('vocab')}).")
        return None
    vocabulary = load_vocabulary(Path(vocab), numbering)
    if aliases is not None:
        vocabulary.add_aliases(read_aliases(Path(aliases)))
    return vocabulary


def read_tag_list(path: Path) -> list[str]:
    """Tags from a file: one per line or comma separated; ``#`` starts a comment."""
    path = Path(path).expanduser()
    try:
        with open_checked(path) as fh:
            text = read_at_most(fh, MAX_TEXT_BYTES).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Cannot read the exclude file {path} ({_reason(exc)}); check the path in "
                           f"{option('exclude_file')}.") from None
    tags = []
    for line in text.splitlines():
        line = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        tags += [normalize_tag(t) for t in line.split(",") if t.strip()]
    return tags


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(exc, EOFError):
        return "the gzip data is cut short"
    return str(exc) or exc.__class__.__name__


# -- the caption --------------------------------------------------------------------------

# what a caption part is when it is no tag of the post's own categories
TRIGGER, RATING, ARTIST = "trigger", "rating", "artist"


@dataclass(frozen=True)
class Part:
    """One part of a caption: ``text`` in display form; ``category`` the post's category of its tag (general,
    species, character…, :data:`UNCATEGORISED` when no one tells), or :data:`TRIGGER`, :data:`RATING` or
    :data:`ARTIST`; ``tag`` the tag it shows, in the model's form (``""`` for the trigger and the rating)."""

    text: str
    category: str
    tag: str = ""


def format_tag(tag: str, keep_underscores: bool = False, escape: bool = True) -> str:
    """A tag as the web UI's prompt parser should read it: ``red_ball`` → ``red ball``, ``(`` → ``\\(``.

    Kaomoji (``o_o``, ``^_^``) keep their underscores; ``escape=False`` leaves the text literal (for sd-scripts).
    """
    text = display_tag(tag, keep_underscores)
    return escape_prompt(text) if escape else text


@dataclass
class CaptionRules:
    """How a post becomes a caption.  ``site`` names the site whose rules posts of no known site follow
    (the run's ``--booru``); a post that names its site (every fetched or looked-up post does) follows its own."""

    vocab: Optional[Vocabulary] = None
    include: tuple[str, ...] = ()
    exclude: frozenset = frozenset()
    rating: bool = True
    artist: bool = True
    keep_underscores: bool = False
    escape: bool = True
    trigger: str = ""
    site: str = ""
    # parts kept first, right after the trigger, so that kohya's keep_tokens can pin them: "rating", "artist"
    pinned: tuple[str, ...] = ()

    def __post_init__(self):
        self.include = tuple(self.include)
        # one part per comma-separated piece, as sd-scripts counts them for keep_tokens
        self.trigger = SEPARATOR.join(p.strip() for p in self.trigger.split(",") if p.strip())
        self.pinned = tuple(self.pinned)
        unknown_pins = [p for p in self.pinned if p not in PINNABLE]
        if unknown_pins:
            raise DatasetError(f"Only {' and '.join(PINNABLE)} can be kept first, not {unknown_pins[0]!r}.")
        kept = {c for site in SITES.values() for c in site.caption_categories}  # always in: naming them is harmless
        unknown = [c for c in self.include if c not in INCLUDABLE and c not in kept]
        if unknown:
            own = site_of(self.site)
            if own is None:
                choices = f"choose from: {', '.join(INCLUDABLE)}"
            else:
                others = [c for c in INCLUDABLE if c not in own.includable]
                choices = f"choose from {own.name}'s: {', '.join(own.includable)}" + \
                    (f" (other sites' posts also have: {', '.join(others)})" if others else "")
            raise DatasetError(f"Unknown tag category {unknown[0]!r} for {option('include')}; {choices}.")
        self.exclude = frozenset(normalize_tag(t) for t in self.exclude)

    def site_for(self, post: Post) -> Site:
        """The site table entry whose rules ``post`` follows: its own site's, else the rules' site's, else e621's."""
        return site_of(post.site) or site_of(self.site) or SITES[DEFAULT_SITE]

    def rating_part(self, post: Post) -> Optional[str]:
        word = self.site_for(post).rating_words.get((post.rating or "").lower()[:1])
        return f"{word} content" if self.rating and word else None

    def artists(self, post: Post) -> list[str]:
        if not self.artist:
            return []
        not_artists = self.site_for(post).not_artists
        seen, names = set(), []
        for tag in post.tags.get("artist", []):
            if tag in not_artists or tag in self.exclude or tag in seen:
                continue
            seen.add(tag)
            names.append(tag)
        return names

    def _sorted_by_vocab(self, post: Post) -> list[str]:
        """Categories whose tags the vocabulary sorts: tags of unknown category, and a flat-tag site's tags."""
        flat = self.site_for(post).flat_tags and self.vocab is not None
        return [UNCATEGORISED, "general"] if flat else [UNCATEGORISED]

    def content_tags(self, post: Post) -> list[str]:
        """The post's content (its site's kept categories, and included ones) tags the model knows,
        highest count first."""
        chosen = self._content(post)
        return sorted(chosen, key=lambda t: (-chosen[t][0], t))

    def _content(self, post: Post) -> dict[str, tuple[int, str]]:
        """Each content tag the model knows (its vocabulary name) → (its count, its category): the post's, or
        for a tag whose category the post does not tell, the vocabulary's (else :data:`UNCATEGORISED`)."""
        site = self.site_for(post)
        wanted = tuple(dict.fromkeys(site.caption_categories + (UNCATEGORISED,) + tuple(self.include)))
        by_vocab = self._sorted_by_vocab(post)
        vocab = self.vocab
        chosen: dict[str, tuple[int, str]] = {}
        for category in wanted:
            for tag in post.tags.get(category, []):
                if category in by_vocab and not self._uncategorised_wanted(tag, site):
                    continue
                name = tag if vocab is None else vocab.resolve(tag)
                if name is None or tag in self.exclude or name in self.exclude:
                    continue
                told = (self._vocab_category(tag, site) or UNCATEGORISED) if category in by_vocab else category
                chosen.setdefault(name, (vocab.count(name) if vocab is not None else 0, told))
        return chosen

    def _vocab_category(self, tag: str, site: Site) -> Optional[str]:
        if self.vocab is None:
            return None
        name = self.vocab.resolve(tag)
        return self.vocab.category(name, site.vocab_numbering) if name else None

    def _uncategorised_wanted(self, tag: str, site: Optional[Site] = None) -> bool:
        """A tag of unknown category counts as content unless the vocabulary files it elsewhere."""
        category = self._vocab_category(tag, site or SITES[DEFAULT_SITE])
        return category in (None, "general", "species") or category in self.include

    def uncategorised_artists(self, post: Post) -> list[str]:
        """Artists hidden among uncategorised (or a flat-tag site's) tags, found through the vocabulary."""
        if self.vocab is None or not self.artist:
            return []
        site = self.site_for(post)
        return [t for category in self._sorted_by_vocab(post) for t in post.tags.get(category, [])
                if self._vocab_category(t, site) == "artist" and t not in site.not_artists
                and t not in self.exclude]

    def parts(self, post: Optional[Post], drop: frozenset = frozenset()) -> list[str]:
        """The caption's parts in display form, each once: the trigger, the pinned parts, the rating and
        artists not pinned, then the content tags (``drop`` removes more of those); a file with no post gets
        just the trigger."""
        return [part.text for part in self.sourced_parts(post, drop)]

    def sourced_parts(self, post: Optional[Post], drop: frozenset = frozenset()) -> list[Part]:
        """:meth:`parts`, each with what it is: the trigger, the rating, an artist, or a content tag with its
        category (what augment's tile captions need to tell a general tag a tagger can judge from a name)."""
        first: list[Part] = [Part(self.trigger, TRIGGER)] if self.trigger else []
        rest: list[Part] = []
        if post is not None:
            rating = self.rating_part(post)
            artists = self.artists(post)
            artists += [a for a in self.uncategorised_artists(post) if a not in artists]
            artist_parts = [Part(ARTIST_PREFIX + display_tag(a, self.keep_underscores), ARTIST, a) for a in artists]
            if rating:
                (first if "rating" in self.pinned else rest).append(Part(rating, RATING))
            if "artist" in self.pinned:
                first, rest = first + artist_parts[:1], rest + artist_parts[1:]  # keep_tokens pins one part
            else:
                rest += artist_parts
            content = self._content(post)
            rest += [Part(display_tag(t, self.keep_underscores), content[t][1], t)
                     for t in sorted(content, key=lambda t: (-content[t][0], t)) if t not in drop]
        once: dict[str, Part] = {}
        for part in first + rest:
            once.setdefault(part.text, part)
        return list(once.values())

    def pinned_count(self) -> int:
        """How many leading parts every caption's pinned ones make (kohya's keep_tokens)."""
        return (len(self.trigger.split(SEPARATOR)) if self.trigger else 0) \
            + ("rating" in self.pinned and self.rating) + ("artist" in self.pinned and self.artist)

    def caption(self, post: Optional[Post], drop: frozenset = frozenset()) -> str:
        """The ``.txt`` caption for ``post``: escaped for a prompt parser unless ``escape`` is off."""
        return caption_text(self.parts(post, drop), self.escape)


def iter_caption_tags(caption: str) -> Iterator[str]:
    for part in caption.split(", "):
        if part:
            yield part
