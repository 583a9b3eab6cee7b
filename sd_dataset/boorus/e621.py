"""e621 and e926 (e621ng): search with id cursors, batched md5 lookups, legacy post shape."""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, Optional
from urllib.parse import urljoin

import requests

from ..errors import DatasetError
from ..http import HttpSession, NotFound
from ..ratelimit import Pace
from .base import (MD5_RE, Booru, ImageMatch, Post, as_int, checked_ext, checked_md5, checked_size, checked_url,
                   wanted_md5s)

log = logging.getLogger(__name__)

TAG_CATEGORIES = ("artist", "contributor", "copyright", "character", "species", "general", "invalid", "meta", "lore")
PAGE_LIMIT = 320
MAX_PAGE_NUMBER = 750
MAX_REQUEST_LINE = 8000  # front-end servers commonly cap the request line at 8 KB
# e621ng's iqdb_queries_controller throttles file queries: 1 a minute without a login, 6 in 10 s per user and IP
IQDB_ANONYMOUS = Pace(1, 60.0, "iqdb")
IQDB_LOGGED_IN = Pace(6, 10.0, "iqdb")
THUMBNAIL_NAME = "image.jpg"


class E621(Booru):
    max_tags_per_search = 40
    page_limit = PAGE_LIMIT  # posts per request
    max_page_number = MAX_PAGE_NUMBER  # numbered pages stop here; id cursors do not
    md5_batch_max = PAGE_LIMIT  # hashes per md5: lookup

    def __init__(self, http: HttpSession, base_url: str = "https://e621.net", name: str = "e621"):
        super().__init__(http, base_url, name)

    @property
    def _posts_url(self) -> str:
        return urljoin(self.base_url, "posts.json")

    # -- search ----------------------------------------------------------

    def _pages(self, query: str, limit: Optional[int]) -> Iterator[list]:
        order = _order_of(query)
        page: Optional[str] = None if order in ("", "id_desc") else ("a0" if order == "id" else "1")
        asked = 0
        while True:
            want = self.page_limit if limit is None else min(self.page_limit, limit - asked)
            if want <= 0:
                return
            params = {"tags": query, "limit": want}
            if page is not None:
                params["page"] = page
            raw_posts = self._get_posts(params)
            asked += len(raw_posts)
            yield raw_posts
            if len(raw_posts) < want:
                return
            page = self._next_page(page, raw_posts)
            if page is None:
                log.warning("%s stops numbered pages at %d; narrow the search to see more", self.name,
                            self.max_page_number)
                return

    def _next_page(self, page: Optional[str], raw_posts: list) -> Optional[str]:
        ids = [raw["id"] for raw in raw_posts if isinstance(raw, dict) and isinstance(raw.get("id"), int)]
        if page is None or page.startswith("b"):
            return f"b{min(ids)}" if ids else None
        if page.startswith("a"):
            return f"a{max(ids)}" if ids else None
        number = int(page) + 1
        return str(number) if number <= self.max_page_number else None

    # -- md5 lookups ---------------------------------------------------------

    def posts_by_md5(self, md5s: Iterable[str]) -> dict[str, Post]:
        wanted = wanted_md5s(md5s)
        found: dict[str, Post] = {}
        for batch in self.md5_batches(wanted):
            # status:any, or md5: hides deleted posts, whose tags we still want
            params = {"tags": "md5:" + ",".join(batch) + " status:any", "limit": self.page_limit}
            batch_set = set(batch)
            for raw in self._get_posts(params):
                post = self._parse_or_reject(raw)
                if post is not None and post.md5 in batch_set:
                    found[post.md5] = post
        return found

    def post_by_md5(self, md5: str) -> Optional[Post]:
        md5 = md5.lower()
        if not MD5_RE.fullmatch(md5):
            return None
        try:
            data = self.http.get_json(self._posts_url, {"md5": md5})
        except NotFound:
            return None
        raw = data.get("post") if isinstance(data, dict) else None
        post = self._parse_or_reject(raw) if raw is not None else None
        return post if post is not None and post.md5 == md5 else None

    def md5_batches(self, md5s: list[str]) -> Iterator[list[str]]:
        """Split hashes into batches of at most ``md5_batch_max`` whose request line stays under 8 KB."""
        per_batch = min(self.md5_batch_max, self._hashes_per_request())
        for start in range(0, len(md5s), per_batch):
            yield md5s[start:start + per_batch]

    def _hashes_per_request(self) -> int:
        def line_length(n: int) -> int:
            params = {"tags": "md5:" + ",".join(["0" * 32] * n) + " status:any", "limit": self.page_limit}
            url = requests.Request("GET", self._posts_url, params=params).prepare().path_url
            return len(f"GET {url} HTTP/1.1")

        per_hash = line_length(2) - line_length(1)
        return max(1, (MAX_REQUEST_LINE - line_length(1)) // per_hash + 1)

    # -- reverse-image search ------------------------------------------------

    @property
    def _iqdb_url(self) -> str:
        return urljoin(self.base_url, "iqdb_queries.json")

    def image_pace(self) -> Optional[Pace]:
        return IQDB_LOGGED_IN if self.http.logged_in else IQDB_ANONYMOUS

    def logged_in_image_pace(self) -> Optional[Pace]:
        return None if self.http.logged_in else IQDB_LOGGED_IN

    def check_image_search(self) -> None:
        pass

    def post_by_image(self, thumbnail: bytes, cutoff: float) -> Optional[ImageMatch]:
        """e621ng answers a bare list of ``{post_id, score, post}`` (``render json: @matches, root: "posts"``: the
        root wraps each match's post, not the list); that post is the database row, flat ``tag_string`` and no
        categories, so the best match is looked up again by id for the categorised post."""
        data = self.http.post_form(self._iqdb_url, {"score_cutoff": f"{cutoff:g}"},
                                   {"file": (THUMBNAIL_NAME, thumbnail, "image/jpeg")}, pace=self.image_pace())
        scores = match_scores(data, self.name)
        for post_id, score in sorted(scores.items(), key=lambda kv: -kv[1]):
            if score < cutoff:
                break
            post = self.post_by_id(post_id)
            if post is not None:
                return ImageMatch(post, score)
        return None

    def post_by_id(self, post_id: int) -> Optional[Post]:
        """The post ``post_id``, deleted ones too; None when the site sends none we can use."""
        for raw in self._get_posts({"tags": f"id:{post_id} status:any", "limit": 1}):
            post = self._parse_or_reject(raw)
            if post is not None and post.id == post_id:
                return post
        return None

    # -- parsing -------------------------------------------------------------

    def _get_posts(self, params: dict) -> list:
        data = self.http.get_json(self._posts_url, params)
        posts = data.get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list):
            raise DatasetError(f"{self.name} answered a search with something that is not a list of posts.")
        return posts




def match_scores(data, site: str) -> dict[int, float]:
    """``post id → score`` from an IQDB answer (a list of matches); one sentence when it is no list."""
    if not isinstance(data, list):
        raise DatasetError(f"{site} answered an image search with something that is not a list of matches.")
    scores: dict[int, float] = {}
    for match in data:
        try:
            post_id, score = as_int(match["post_id"]), float(match["score"])
        except (KeyError, TypeError, ValueError):
            continue  # a match without a post or a score is no match
        if post_id > 0 and 0 <= score <= 100:
            scores[post_id] = max(score, scores.get(post_id, 0.0))
    return scores


def _order_of(query: str) -> str:
    for term in query.split():
        if term.lower().startswith("order:"):
            return term.split(":", 1)[1].lower()
    return ""


def parse_post(raw: dict, site: str, base_url: str) -> Post:
    """A legacy-shape e621 post as a :class:`Post`; ``ValueError`` on data we must not trust."""
    if not isinstance(raw, dict):
        raise ValueError("not a post object")
    file = raw["file"]
    md5 = checked_md5(file.get("md5"))
    ext = checked_ext(file.get("ext"))
    url = checked_url(file.get("url"), base_url)
    raw_tags = raw.get("tags") or {}
    tags = {cat: [str(t) for t in raw_tags.get(cat) or []] for cat in TAG_CATEGORIES if raw_tags.get(cat)}
    score = raw.get("score")
    flags = raw.get("flags") or {}
    return Post(
        id=int(raw["id"]),
        md5=md5,
        file_url=url,
        ext=ext,
        width=int(file.get("width") or 0),
        height=int(file.get("height") or 0),
        size=checked_size(file.get("size")),
        rating=str(raw.get("rating") or ""),
        score=int(score.get("total", 0) if isinstance(score, dict) else score or 0),
        fav_count=int(raw.get("fav_count") or 0),
        tags=tags,
        sources=[str(s) for s in raw.get("sources") or []],
        deleted=bool(flags.get("deleted")),
        site=site,
    )


E621.parse_post = staticmethod(parse_post)
