"""Moebooru sites (yande.re, konachan): ``post.json`` with page numbers, flat tags.

* Searches: ``/post.json?tags=&limit=&page=`` → a bare array, newest first; pages
  are numbered (as gallery-dl does), 100 posts a page.
* Tags are one flat string; their types come in the same answer: searches and
  lookups ask ``api_version=2&include_tags=1``, which moebooru's ``post_controller``
  answers ``{"posts": [...], "tags": {name: type}}`` (``Tag.batch_get_tag_types_for_posts``:
  every tag of those posts, by its type's lower-cased name), so types cost no
  request of their own.  The types are kept for the session; a site that answers
  the plain bare array instead leaves its tags uncategorised, for a vocabulary to sort.
* md5 lookups are batched: Moebooru's ``md5:`` takes a comma-separated list
  (``p.md5 IN (...)`` in moebooru ``post/sql_methods.rb``).  Deleted posts never
  show in its searches.
* The login, when given, is the ``login`` and ``password_hash`` query parameters
  (the API key is the site's password hash); the HTTP session adds them to API
  requests only.  Anonymous reads work.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, Optional
from urllib.parse import urljoin, urlsplit

from ..errors import DatasetError
from ..http import HttpSession
from .base import (UNCATEGORISED, Booru, Post, as_int, categorised, checked_ext, checked_md5, checked_size,
                   checked_url, md5_batches, wanted_md5s)

log = logging.getLogger(__name__)

PAGE_LIMIT = 100
MD5_BATCH_MAX = 100
RATING_WORDS = {"s": "safe", "q": "questionable", "e": "explicit"}
# tag types as yande.re and konachan number them, in the order they show them
CATEGORY_NUMBERS = {1: "artist", 3: "copyright", 4: "character", 5: "circle", 0: "general", 6: "faults"}
# the type names the API may give: the ones above, and meta where a site has Danbooru's (so captions drop it too);
# any other is read as general, as moebooru reads a tag it has no type for
TYPE_NAMES = frozenset(CATEGORY_NUMBERS.values()) | {"meta"}
TYPES_QUERY = {"api_version": "2", "include_tags": "1"}


class Moebooru(Booru):
    auth_params = ("login", "password_hash")

    def __init__(self, http: HttpSession, base_url: str = "https://yande.re", name: str = "yandere"):
        super().__init__(http, base_url, name)
        self._tag_types: dict[str, str] = {}  # tag name → category name, from the answers of this session

    @property
    def _posts_url(self) -> str:
        return urljoin(self.base_url, "post.json")

    def _pages(self, query: str, limit: Optional[int]) -> Iterator[list]:
        # numbered pages must keep one size, or their boundaries shift: the last one may bring more than needed
        size = min(PAGE_LIMIT, limit) if limit is not None else PAGE_LIMIT
        page = 1
        while True:
            raw_posts = self._get_posts({"tags": query, "limit": size, "page": page})
            yield raw_posts
            if len(raw_posts) < size:
                return
            page += 1

    def _page_posts(self, raw_posts: list) -> list[Post]:
        posts = super()._page_posts(raw_posts)
        for post in posts:
            post.tags = categorised(post.tags.get(UNCATEGORISED, []), self._tag_types, list(CATEGORY_NUMBERS.values()))
        return posts

    def posts_by_md5(self, md5s: Iterable[str]) -> dict[str, Post]:
        found: dict[str, Post] = {}
        for batch in md5_batches(wanted_md5s(md5s), MD5_BATCH_MAX, self._posts_url, self._md5_params):
            batch_set = set(batch)
            for post in self._page_posts(self._get_posts(self._md5_params(batch))):
                if post.md5 in batch_set:
                    found[post.md5] = post
        return found

    @staticmethod
    def _md5_params(batch: list[str]) -> dict:
        # the query as sent (_get_posts adds the types' parameters), for md5_batches to measure
        return {"tags": "md5:" + ",".join(batch), "limit": len(batch), **TYPES_QUERY}

    def _get_posts(self, params: dict) -> list:
        data = self.http.get_json(self._posts_url, {**params, **TYPES_QUERY})
        if isinstance(data, dict) and isinstance(data.get("posts"), list):
            types = data.get("tags")
            if isinstance(types, dict):
                self._tag_types.update({str(name): type_name(kind) for name, kind in types.items()})
            return data["posts"]
        if not isinstance(data, list):
            raise DatasetError(f"{self.name} answered a search with something that is not a list of posts.")
        return data


def type_name(kind) -> str:
    """An API tag type (its lower-cased name) as a category name; unknown ones are general."""
    name = kind.strip().lower() if isinstance(kind, str) else ""
    return name if name in TYPE_NAMES else "general"



def parse_post(raw: dict, site: str, base_url: str) -> Post:
    """A Moebooru post as a :class:`Post`; ``ValueError`` on data we must not trust."""
    if not isinstance(raw, dict):
        raise ValueError("not a post object")
    md5 = checked_md5(raw.get("md5"))
    url = checked_url(raw.get("file_url"), base_url)
    ext = raw.get("file_ext")
    if not ext and url:
        ext = urlsplit(url).path.rsplit(".", 1)[-1]
    ext = checked_ext(ext)
    tags_text = raw.get("tags") or ""
    if not isinstance(tags_text, str):
        raise ValueError("tags are not a string")
    flat = tags_text.split()
    source = raw.get("source")
    return Post(
        id=as_int(raw["id"]),
        md5=md5,
        file_url=url,
        ext=ext,
        width=as_int(raw.get("width")),
        height=as_int(raw.get("height")),
        size=checked_size(raw.get("file_size")),
        rating=str(raw.get("rating") or "").lower()[:1],
        score=as_int(raw.get("score")),
        fav_count=as_int(raw.get("fav_count")),
        tags={UNCATEGORISED: flat} if flat else {},
        sources=[source] if isinstance(source, str) and source else [],
        deleted=str(raw.get("status") or "").lower() == "deleted",
        site=site,
    )


Moebooru.parse_post = staticmethod(parse_post)
