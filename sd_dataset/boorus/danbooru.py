"""Danbooru and its clones (safebooru.donmai.us): bare-array ``posts.json``, ``b<id>`` cursors, 200 a page.

Searches page like e621 (Danbooru is e621ng's ancestor), so this client reuses
:class:`~.e621.E621`'s paging and batched ``md5:`` lookups and changes what
differs: the page size, the numbered-page cap, the answer's shape, the post
fields, and the tag limit, which Danbooru sets per account level.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Iterator, Optional
from urllib.parse import urljoin

from ..errors import DatasetError
from ..http import HttpSession, Rejected
from ..ratelimit import Pace
from .base import Booru, ImageMatch, Post, as_int, checked_ext, checked_md5, checked_size, checked_url
from .e621 import E621, THUMBNAIL_NAME, match_scores

log = logging.getLogger(__name__)

# tag_string_<category> fields, in the order Danbooru's sidebar shows them
TAG_CATEGORIES = ("artist", "copyright", "character", "general", "meta")
# the numbers its tag API and the autocomplete csv use, in the same order
CATEGORY_NUMBERS = {1: "artist", 3: "copyright", 4: "character", 0: "general", 5: "meta"}
RATING_WORDS = {"g": "general", "s": "sensitive", "q": "questionable", "e": "explicit"}

# Metatags that do not count against the tag limit (danbooru app/logical/post_query.rb, UNLIMITED_METATAGS).
UNLIMITED_METATAGS = frozenset("""
    status rating limit is id date age filesize filetype parent child md5 width height duration mpixels ratio
    score upvote downvotes favcount embedded tagcount pixiv_id pixiv
""".split())
# Danbooru publishes no throttle for image searches (a POST, so a Member login's); this pace is our own choice
IQDB_PACE = Pace(1, 2.0, "iqdb")
IQDB_MATCHES = 5  # matches asked for: the best is the one used, the rest cover posts we cannot read
ANONYMOUS_TAG_LIMIT = 2  # also Member accounts; Gold 6, Platinum and above unlimited
GOLD_TAG_LIMIT = 6


def counted_tags(query: str) -> list[str]:
    """The terms of a search that count against Danbooru's tag limit."""
    counted = []
    for term in query.split():
        name, sep, value = term.lstrip("-~").partition(":")
        if sep and value and name.lower() in UNLIMITED_METATAGS:
            continue
        counted.append(term)
    return counted


class Danbooru(E621):
    max_tags_per_search = None  # depends on the account; checked in :meth:`search`
    page_limit = 200
    max_page_number = 1000  # anonymous and Member; Gold+ 5000, but cursors need no numbers
    md5_batch_max = 100  # older sources cut md5: lists at 100; the request line allows about 200

    def __init__(self, http: HttpSession, base_url: str = "https://danbooru.donmai.us", name: str = "danbooru"):
        super().__init__(http, base_url, name)

    def search(self, query: str, limit: Optional[int] = None) -> Iterator[Post]:
        self.check_tag_limit(query)
        yield from super().search(query, limit)

    def check_tag_limit(self, query: str) -> None:
        """Refuse, before any request, a search an anonymous user may not make."""
        counted = counted_tags(query)
        if not self.http.logged_in and len(counted) > ANONYMOUS_TAG_LIMIT:
            raise DatasetError(self._tag_limit_sentence(len(counted), ANONYMOUS_TAG_LIMIT))

    def _tag_limit_sentence(self, count: int, limit: Optional[int]) -> str:
        """One sentence for a search over the tag limit; ``limit`` is the site's number when it said one."""
        has = f" (this one has {count})" if limit is None or count > limit else ""
        if self.http.logged_in:
            allowed = f"at most {limit} tag{'' if limit == 1 else 's'}" if limit is not None else "fewer tags"
            return (f"{self.name} refused the search: your account may search {allowed} at once{has}; "
                    f"Member accounts may use {ANONYMOUS_TAG_LIMIT} tags, Gold {GOLD_TAG_LIMIT}, so remove tags "
                    "(metatags such as rating:, score:, id:, md5: do not count).")
        limit = ANONYMOUS_TAG_LIMIT if limit is None else limit
        tags = "tag" if limit == 1 else "tags"
        return (f"{self.name} lets searches without a login use at most {limit} {tags}{has}, and metatags "
                f"such as rating:, score:, id:, md5: do not count; remove tags, or log in (Gold accounts may use "
                f"{GOLD_TAG_LIMIT}) with {self.login_hint}.")

    def post_by_md5(self, md5: str) -> Optional[Post]:
        return Booru.post_by_md5(self, md5)

    def image_pace(self) -> Optional[Pace]:
        return IQDB_PACE

    def logged_in_image_pace(self) -> Optional[Pace]:
        return None

    def check_image_search(self) -> None:
        # a file search is a POST, which Danbooru's policy lets only Member accounts and up make
        if not self.http.logged_in:
            raise DatasetError(f"{self.name}'s image search (IQDB) takes uploads only from logged-in users; give "
                               f"{self.login_hint}.")

    def post_by_image(self, thumbnail: bytes, cutoff: float) -> Optional[ImageMatch]:
        """Danbooru answers a bare list of ``{post_id, score, post}`` with the whole post (categorised tags), its
        score squared (``100 * (score / 100) ** 2``, its iqdb_client's curve): taken back to IQDB's own, so one
        cutoff means the same on e621 and here."""
        self.check_image_search()
        data = self.http.post_form(urljoin(self.base_url, "iqdb_queries.json"), {"search[limit]": str(IQDB_MATCHES)},
                                   {"search[file]": (THUMBNAIL_NAME, thumbnail, "image/jpeg")}, pace=IQDB_PACE)
        scores = {post_id: unsquared(score) for post_id, score in match_scores(data, self.name).items()}
        raws = {as_int(m["post"].get("id")): m["post"] for m in data
                if isinstance(m, dict) and isinstance(m.get("post"), dict) and _int_id(m["post"])}
        for post_id, score in sorted(scores.items(), key=lambda kv: -kv[1]):
            if score < cutoff:
                break
            post = self._parse_or_reject(raws[post_id]) if post_id in raws else None
            if post is not None:
                return ImageMatch(post, score)
        return None

    def _get_posts(self, params: dict) -> list:
        try:
            data = self.http.get_json(self._posts_url, params)
        except Rejected as exc:
            if exc.status == 422 and "tags" in exc.reason.lower():
                said = re.search(r"more than (\d+) tags", exc.reason)
                count = len(counted_tags(str(params.get("tags", ""))))
                raise DatasetError(self._tag_limit_sentence(count, int(said.group(1)) if said else None)) from None
            raise
        if not isinstance(data, list):
            raise DatasetError(f"{self.name} answered a search with something that is not a list of posts.")
        return data



def unsquared(score: float) -> float:
    """IQDB's own score from the one Danbooru shows (``100 * (raw / 100) ** 2``)."""
    return round(10 * math.sqrt(max(0.0, score)), 2)


def _int_id(raw: dict) -> bool:
    try:
        return as_int(raw.get("id")) > 0
    except ValueError:
        return False


def _tag_list(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        raise ValueError("tag string is not a string")
    return value.split()


def parse_post(raw: dict, site: str, base_url: str) -> Post:
    """A Danbooru post as a :class:`Post`; ``ValueError`` on data we must not trust.

    Danbooru drops ``md5`` and the file URLs from posts this login may not see;
    such a post keeps ``md5 == ""`` and no URL: it is counted as hidden, never fetched.
    """
    if not isinstance(raw, dict):
        raise ValueError("not a post object")
    md5 = checked_md5(raw["md5"]) if raw.get("md5") not in (None, "") else ""
    ext = checked_ext(raw.get("file_ext"))
    url = checked_url(raw.get("file_url"), base_url) if md5 else None
    tags = {cat: _tag_list(raw.get(f"tag_string_{cat}")) for cat in TAG_CATEGORIES}
    tags = {cat: names for cat, names in tags.items() if names}
    if not tags and raw.get("tag_string"):
        tags = {"general": _tag_list(raw.get("tag_string"))}
    source = raw.get("source")
    return Post(
        id=as_int(raw["id"]),
        md5=md5,
        file_url=url,
        ext=ext,
        width=as_int(raw.get("image_width")),
        height=as_int(raw.get("image_height")),
        size=checked_size(raw.get("file_size")),
        rating=str(raw.get("rating") or "").lower(),
        score=as_int(raw.get("score")),
        fav_count=as_int(raw.get("fav_count")),
        tags=tags,
        sources=[source] if isinstance(source, str) and source else [],
        deleted=bool(raw.get("is_deleted")),
        site=site,
    )


Danbooru.parse_post = staticmethod(parse_post)
