"""What every site client offers, and the post record every later step reads."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

from ..errors import DatasetError
from ..text import strip_unsafe
from ..wording import option

if TYPE_CHECKING:
    from ..http import HttpSession
    from ..ratelimit import Pace

# matched with ``fullmatch`` only: ``$`` would let a trailing newline through
MD5_RE = re.compile(r"[0-9a-f]{32}")
EXT_RE = re.compile(r"[a-z0-9]{1,5}")
MAX_POST_BYTES = 2**40  # a post claiming more than a terabyte is not telling its file's size
MAX_PAGES = 2000  # pages one search reads at most: a second guard after the check that each page brings new posts
STILL_IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp"})

SIDECAR_VERSION = 1
UNCATEGORISED = "unknown"  # the Post.tags category of tags whose category the site did not say


@dataclass
class Post:
    """One post of any site, normalised.  ``tags`` maps a category name to tags in the site's order.

    ``rating`` is the site's one-letter rating (the site table's ``rating_words`` name it).
    A post the site hides from this login has ``file_url`` None; Danbooru hides its
    ``md5`` too, and then ``md5`` is ``""``: such a post can be counted but never
    downloaded, verified or looked up (``posts_by_md5`` never returns one).
    """

    id: int
    md5: str
    file_url: Optional[str]
    ext: str
    width: int = 0
    height: int = 0
    size: int = 0
    rating: str = ""
    score: int = 0
    fav_count: int = 0
    tags: dict[str, list[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    deleted: bool = False
    site: str = ""

    def __post_init__(self) -> None:
        # Whichever site or file a post came from, its texts reach captions, file names, tags.csv and the
        # terminal: none keeps a control character (a NUL once broke every later tag run of a folder)
        self.tags = {strip_unsafe(str(category)): [tag for tag in (strip_unsafe(str(t)) for t in names) if tag]
                     for category, names in dict(self.tags).items()}
        self.sources = [strip_unsafe(str(source)) for source in self.sources]
        self.rating = strip_unsafe(str(self.rating))

    @property
    def filename(self) -> str:
        return f"{self.md5}.{self.ext}"

    def all_tags(self) -> list[str]:
        return [tag for tags in self.tags.values() for tag in tags]

    def to_json(self) -> dict:
        return {"sidecar_version": SIDECAR_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict, hidden: bool = False) -> "Post":
        """Rebuild a post from a sidecar; raises ``ValueError`` when it is not one of ours.  ``hidden``: the post
        may have no md5 (a Danbooru post hidden from the login, found by its image, never by its hash)."""
        if not isinstance(data, dict) or data.get("sidecar_version") != SIDECAR_VERSION:
            raise ValueError("not an sd-webui-dataset sidecar")
        known = {f for f in cls.__dataclass_fields__}
        post = cls(**{k: v for k, v in data.items() if k in known})
        if not (isinstance(post.md5, str) and (MD5_RE.fullmatch(post.md5) or (hidden and post.md5 == ""))
                and isinstance(post.ext, str) and EXT_RE.fullmatch(post.ext)):
            raise ValueError("sidecar has an invalid md5 or extension")
        return post


@dataclass
class ImageMatch:
    """A post whose image looks like ours, by the site's reverse-image search; ``score`` 0-100, as IQDB rates."""

    post: Post
    score: float


class Booru(ABC):
    """A site client.  ``name`` is the site's short name (``e621``, ``danbooru``…)."""

    max_tags_per_search: Optional[int] = None
    login_hint: str = "--username and --api-key"  # how to log in, for messages; the site table sets it
    #: The site family's ``parse_post(raw, site, base_url) -> Post``; raises on data we must not trust.
    parse_post: Callable[[dict, str, str], Post]

    def __init__(self, http: "HttpSession", base_url: str, name: str):
        self.http = http
        self.base_url = base_url.rstrip("/") + "/"
        self.name = name
        self.rejected: list[tuple[str, str]] = []  # (which post, why) for server data we refuse to use
        self.search_end = ""  # why the last search stopped before the site's results ended, if it did

    def search(self, query: str, limit: Optional[int] = None) -> Iterator[Post]:
        """Posts matching ``query`` lazily, in the site's order, at most ``limit`` of them.

        Pages are asked for only as the posts are consumed, so stopping early costs no request.  ``limit``
        counts every post the site sent, the refused ones (``rejected``) too; a post a later page repeats is
        skipped.  The search ends at a page that brings no post not seen before (a cursor that does not
        advance would repeat it forever) or after :data:`MAX_PAGES` pages; ``search_end`` then says why.
        """
        check_query(query, self.max_tags_per_search, self.name)
        self.search_end = ""
        if limit is not None and limit <= 0:
            return
        counted, seen = 0, set()
        for number, raw_posts in enumerate(self._pages(query, limit), 1):
            ids = [_raw_id(raw) for raw in raw_posts]
            if raw_posts and not {i for i in ids if i is not None} - seen:
                self.search_end = (f"the search stopped at page {number}: {self.name} sent no post it had not "
                                   "sent before, so its paging does not advance")
                return
            fresh = []
            for raw, raw_id in zip(raw_posts, ids):
                if raw_id is not None and raw_id in seen:
                    continue
                if limit is not None and counted >= limit:
                    break
                counted += 1
                fresh.append(raw)
                if raw_id is not None:
                    seen.add(raw_id)
            yield from self._page_posts(fresh)
            if limit is not None and counted >= limit:
                return
            if number >= MAX_PAGES:
                self.search_end = (f"the search stopped after {MAX_PAGES} pages ({counted} posts), the most one "
                                   "search reads; narrow it (more tags, a score: or date: range) to reach the rest")
                return

    @abstractmethod
    def _pages(self, query: str, limit: Optional[int]) -> Iterator[list]:
        """The site's raw pages for ``query``, asking for no more results than ``limit`` in all."""

    def _page_posts(self, raw_posts: list) -> list[Post]:
        return [post for post in map(self._parse_or_reject, raw_posts) if post is not None]

    @abstractmethod
    def posts_by_md5(self, md5s: Iterable[str]) -> dict[str, Post]:
        """Posts for many hashes in as few requests as the site allows; unknown hashes are absent."""

    def post_by_md5(self, md5: str) -> Optional[Post]:
        return self.posts_by_md5([md5]).get(md5)

    # -- reverse-image search (IQDB), where the site has one ------------------------

    def image_pace(self) -> Optional["Pace"]:
        """How often this login may search by image; None: the site has no image search we can use."""
        return None

    def check_image_search(self) -> None:
        """Refuse, before any work, an image search this site or login cannot make."""
        raise DatasetError(f"{self.name} has no image search (IQDB) that tag can use; it works with e621, e926 "
                           f"and danbooru, so tag without {option('iqdb')} here.")

    def logged_in_image_pace(self) -> Optional["Pace"]:
        """The pace a login would give where it is faster than this one's; None where it is not."""
        return None

    def post_by_image(self, thumbnail: bytes, cutoff: float) -> Optional[ImageMatch]:
        """The best post whose image scores at least ``cutoff`` against ``thumbnail`` (a JPEG), None when none."""
        self.check_image_search()
        return None

    def close(self) -> None:
        self.http.close()

    def _parse_or_reject(self, raw) -> Optional[Post]:
        """The post, or None with the reason kept in ``rejected`` (one bad post never stops a search)."""
        try:
            post = type(self).parse_post(raw, self.name, self.base_url)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            post_id = raw.get("id") if isinstance(raw, dict) else None
            self.rejected.append((strip_unsafe(f"post {post_id}"), strip_unsafe(str(exc))))
            return None
        return self._redacted(post)

    def _redacted(self, post: Post) -> Post:
        """The post's texts redacted again: parsing decodes (Gelbooru's HTML-escaped tags) what the JSON's
        redaction saw still encoded, and a key may be hidden in that encoding."""
        redact = self.http.redact
        post.tags = {cat: [redact(tag) for tag in tags] for cat, tags in post.tags.items()}
        post.sources = [redact(source) for source in post.sources]
        post.file_url = redact(post.file_url) if post.file_url else post.file_url
        return post


def categorised(tags: list[str], types: dict[str, str], order: list[str]) -> dict[str, list[str]]:
    """Flat tags grouped by their category in ``types`` (:data:`UNCATEGORISED` when it has none), categories in
    the site's ``order`` (others after it), tags in their own order."""
    grouped: dict[str, list[str]] = {}
    for tag in tags:
        grouped.setdefault(types.get(tag, UNCATEGORISED), []).append(tag)
    return {cat: grouped[cat] for cat in sorted(grouped, key=lambda c: order.index(c) if c in order else len(order))}


def _raw_id(raw) -> Optional[str]:
    """A raw post's id as the site sent it (a number or a numeric string), None when it has none."""
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def check_query(query: str, max_tags: Optional[int], site: str) -> None:
    terms = query.split()
    if max_tags is not None and len(terms) > max_tags:
        raise DatasetError(
            f"The search has {len(terms)} tags but {site} allows at most {max_tags}; remove some tags."
        )


def order_of(query: str) -> str:
    """The value of the last ``order:``/``sort:`` metatag in a query, lower case; ``""`` when none."""
    order = ""
    for term in query.split():
        key, _, value = term.partition(":")
        if key.lower() in ("order", "sort") and value:
            order = value.lower()
    return order


def checked_url(url, base_url: str) -> Optional[str]:
    """An http(s) file address resolved against the site, None when absent; ``ValueError`` for anything else."""
    from urllib.parse import urljoin

    if url is None or url == "":
        return None
    if not isinstance(url, str):
        raise ValueError("file url is not a string")
    url = urljoin(base_url, url)
    if not url.startswith(("http://", "https://")):
        raise ValueError("file url is not http(s)")
    return url


def checked_md5(value) -> str:
    md5 = str(value or "").lower()
    if not MD5_RE.fullmatch(md5):
        raise ValueError("invalid md5")
    return md5


def checked_ext(value) -> str:
    ext = str(value or "").lower()
    if not EXT_RE.fullmatch(ext):
        raise ValueError("invalid file extension")
    return ext


def as_int(value, default: int = 0) -> int:
    """An integer field that sites send as a number or a numeric string; ``ValueError`` for anything else."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ValueError("not a number")
    try:
        return int(value)
    except OverflowError:  # json.loads reads Infinity
        raise ValueError("not a finite number") from None


def checked_size(value) -> int:
    """A post's file size in bytes (0: not given); ``ValueError`` for a negative or absurd one."""
    size = as_int(value)
    if not 0 <= size <= MAX_POST_BYTES:
        raise ValueError("invalid file size")
    return size


MAX_REQUEST_LINE = 8000  # front-end servers commonly cap the request line at 8 KB


def md5_batches(md5s: list[str], max_batch: int, url: str, params_for) -> Iterator[list[str]]:
    """Split hashes into batches of at most ``max_batch`` whose GET request line stays under 8 KB.

    ``params_for(batch)`` gives the query for a batch, as the client will send it.
    """
    import requests

    def line_length(n: int) -> int:
        prepared = requests.Request("GET", url, params=params_for(["0" * 32] * n)).prepare()
        return len(f"GET {prepared.path_url} HTTP/1.1")

    per_hash = line_length(2) - line_length(1)
    per_batch = max(1, min(max_batch, (MAX_REQUEST_LINE - line_length(1)) // max(1, per_hash) + 1))
    for start in range(0, len(md5s), per_batch):
        yield md5s[start:start + per_batch]


def wanted_md5s(md5s: Iterable[str]) -> list[str]:
    """Well-formed hashes, lower case, each once, sorted; anything else is dropped."""
    return sorted({m.lower() for m in md5s if isinstance(m, str) and MD5_RE.fullmatch(m.lower())})
