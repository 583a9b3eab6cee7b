"""Gelbooru-style sites (gelbooru.com, rule34.xxx, safebooru.org): the ``dapi`` JSON API.

* Searches: ``index.php?page=dapi&s=post&q=index&json=1`` with ``tags``, ``limit``
  and ``pid``.  Deep ``pid`` pages are slow and capped, so in the default order
  (newest first) the next page is asked for as ``<query> id:<last id>`` instead;
  searches in another ``sort:`` order fall back to ``pid`` up to an offset cap.
* Answers come in two shapes: gelbooru.com's ``{"@attributes": {...}, "post": [...]}``
  (no ``post`` key when nothing matched, one object instead of a list on some
  versions) and the older Gelbooru 0.2 bare array with ``hash`` for the md5 (and an
  empty body when nothing matched), as rule34.xxx and safebooru.org send.
* Tags are one flat string, some HTML-escaped (``&#039;``).  They go under
  ``general`` unless ``tag_categories`` is on: then the site's tag API is asked for
  the types of tags not yet known, in batches, cached for the session.
* The login is ``user_id`` and ``api_key`` query parameters; the HTTP session adds
  them to API requests only (``auth_params``).
* md5 lookups: one request per hash (``md5:<hash>``); these sites take no list
  of hashes in one ``md5:`` term, so there is no batching.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Iterable, Iterator, Optional
from urllib.parse import urljoin, urlsplit

from ..errors import DatasetError
from ..http import HttpSession
from .base import Booru, Post, as_int, categorised, checked_ext, checked_md5, checked_url, order_of, wanted_md5s

log = logging.getLogger(__name__)

PAGE_LIMIT = 100  # the API's default; it takes up to 1000
MAX_LIMIT = 1000
MAX_OFFSET = 20000  # numbered (pid) paging stops about here on gelbooru.com; id:< cursors do not
# "safe" is what gelbooru.com said before its 2022 change for what it now calls general (sensitive is new)
RATING_LETTERS = {"general": "g", "sensitive": "s", "safe": "g", "questionable": "q", "explicit": "e"}
# tag API "type" numbers, in the order gelbooru shows categories
CATEGORY_NUMBERS = {1: "artist", 4: "character", 3: "copyright", 5: "meta", 0: "general", 6: "deprecated"}
TAG_BATCH = 100
_DIRECTORY_RE = re.compile(r"[0-9A-Za-z/_-]{1,64}")  # both matched whole (fullmatch)
_IMAGE_RE = re.compile(r"[0-9A-Za-z_-]{1,128}\.[0-9A-Za-z]{1,5}")


class Gelbooru(Booru):
    auth_params = ("user_id", "api_key")

    def __init__(self, http: HttpSession, base_url: str = "https://gelbooru.com", name: str = "gelbooru", *,
                 tag_categories: bool = False):
        super().__init__(http, base_url, name)
        self.tag_categories = tag_categories
        self._tag_types: dict[str, str] = {}  # tag name → category name, for this session

    @property
    def _api_url(self) -> str:
        return urljoin(self.base_url, "index.php")

    # -- search ----------------------------------------------------------

    def _pages(self, query: str, limit: Optional[int]) -> Iterator[list]:
        query = " ".join(query.split())
        cursor = order_of(query) in ("", "id:desc")
        pid, last_id, asked = 0, None, 0
        while True:
            want = PAGE_LIMIT if limit is None else min(PAGE_LIMIT, limit - asked)
            if want <= 0:
                return
            if cursor:
                tags = query if last_id is None else f"{query} id:<{last_id}".strip()
                params = {"tags": tags, "limit": want}
            else:
                params = {"tags": query, "limit": want, "pid": pid}
            raw_posts = self._get_posts(params)
            asked += len(raw_posts)
            yield raw_posts
            # gelbooru sometimes answers a page short of the limit mid-search, so only a
            # page under half the limit ends it (one extra request at worst)
            if len(raw_posts) < max(1, want // 2):
                return
            ids = [raw["id"] for raw in raw_posts if isinstance(raw, dict)]
            try:
                last_id = min(as_int(i) for i in ids)
            except ValueError:
                return
            pid += 1
            if not cursor and (pid + 1) * PAGE_LIMIT > MAX_OFFSET:
                log.warning("%s stops numbered pages near result %d; narrow the search to see more", self.name,
                            MAX_OFFSET)
                return

    def _page_posts(self, raw_posts: list) -> list[Post]:
        posts = super()._page_posts(raw_posts)
        self._add_categories(posts)
        return posts

    # -- md5 lookups ---------------------------------------------------------

    def posts_by_md5(self, md5s: Iterable[str]) -> dict[str, Post]:
        found: dict[str, Post] = {}
        for md5 in wanted_md5s(md5s):  # one request per hash: see the module notes
            for raw in self._get_posts({"tags": f"md5:{md5}", "limit": 5}):
                post = self._parse_or_reject(raw)
                if post is not None and post.md5 == md5:
                    found[md5] = post
        self._add_categories(list(found.values()))
        return found

    # -- tag categories --------------------------------------------------------

    def _add_categories(self, posts: list[Post]) -> None:
        if not self.tag_categories or not posts:
            return
        unknown = sorted({t for p in posts for t in p.tags.get("general", []) if t not in self._tag_types})
        for start in range(0, len(unknown), TAG_BATCH):
            self._lookup_tags(unknown[start:start + TAG_BATCH])
        for post in posts:
            post.tags = categorised(post.tags.get("general", []), self._tag_types, list(CATEGORY_NUMBERS.values()))

    def _lookup_tags(self, names: list[str]) -> None:
        params = {"page": "dapi", "s": "tag", "q": "index", "json": "1", "names": " ".join(names),
                  "limit": len(names)}
        data = self.http.get_json(self._api_url, params, empty={})
        tags = data.get("tag", []) if isinstance(data, dict) else data
        if isinstance(tags, dict):
            tags = [tags]
        for tag in tags if isinstance(tags, list) else []:
            if not isinstance(tag, dict):
                continue
            try:
                name, kind = html.unescape(str(tag["name"])), tag.get("type")
            except KeyError:
                continue
            self._tag_types[name] = category_of(kind)
        for name in names:  # a tag the site does not know stays general, and is not asked for again
            self._tag_types.setdefault(name, "general")

    # -- parsing -------------------------------------------------------------

    def _get_posts(self, params: dict) -> list:
        query = {"page": "dapi", "s": "post", "q": "index", "json": "1", **params}
        data = self.http.get_json(self._api_url, query, empty=[])
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            if data.get("success") is False or ("post" not in data and "message" in data):
                reason = self.http.redact(str(data.get("message") or data.get("reason") or "no reason given"))[:200]
                raise DatasetError(f"{self.name} refused the search ({reason}); if it asks for a login, "
                                   f"give {self.login_hint}.")
            posts = data.get("post", [])
            if isinstance(posts, dict):
                return [posts]
            if isinstance(posts, list):
                return posts
        raise DatasetError(f"{self.name} answered a search with something that is not a list of posts.")



_CATEGORY_WORDS = {"tag": "general", "general": "general", "artist": "artist", "copyright": "copyright",
                   "character": "character", "metadata": "meta", "meta": "meta", "deprecated": "deprecated"}


def category_of(kind) -> str:
    """A tag API ``type`` (a number, or on some versions a word) as a category name; unknown ones are general."""
    if isinstance(kind, str) and not kind.strip().isdigit():
        return _CATEGORY_WORDS.get(kind.strip().lower(), "general")
    try:
        return CATEGORY_NUMBERS.get(as_int(kind), "general")
    except (TypeError, ValueError):
        return "general"


def rating_letter(value) -> str:
    word = str(value or "").strip().lower()
    return RATING_LETTERS.get(word, word[:1] if len(word) == 1 else "")


def parse_post(raw: dict, site: str, base_url: str) -> Post:
    """A Gelbooru-style post (either shape) as a :class:`Post`; ``ValueError`` on data we must not trust."""
    if not isinstance(raw, dict):
        raise ValueError("not a post object")
    md5 = checked_md5(raw.get("md5") or raw.get("hash"))
    url = checked_url(raw.get("file_url"), base_url)
    image = raw.get("image")
    if image is not None and not (isinstance(image, str) and _IMAGE_RE.fullmatch(image)):
        raise ValueError("invalid image name")
    if url is None and image and isinstance(raw.get("directory"), str):
        # Gelbooru 0.2 sites may leave file_url out; the file lives at images/<directory>/<image>
        if not _DIRECTORY_RE.fullmatch(raw["directory"]) or ".." in raw["directory"]:
            raise ValueError("invalid image directory")
        url = urljoin(base_url, f"images/{raw['directory']}/{image}")
    if image:
        ext = image.rsplit(".", 1)[1]
    elif url:
        ext = urlsplit(url).path.rsplit(".", 1)[-1]
    else:
        ext = ""
    ext = checked_ext(ext)
    tags_text = raw.get("tags") or ""
    if not isinstance(tags_text, str):
        raise ValueError("tags are not a string")
    general = html.unescape(tags_text).split()
    source = raw.get("source")
    return Post(
        id=as_int(raw["id"]),
        md5=md5,
        file_url=url,
        ext=ext,
        width=as_int(raw.get("width")),
        height=as_int(raw.get("height")),
        size=0,  # not in the API
        rating=rating_letter(raw.get("rating")),
        score=as_int(raw.get("score")),
        fav_count=0,
        tags={"general": general} if general else {},
        sources=[source] if isinstance(source, str) and source else [],
        deleted=str(raw.get("status") or "").lower() == "deleted",
        site=site,
    )


Gelbooru.parse_post = staticmethod(parse_post)
