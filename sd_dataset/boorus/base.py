"""What every site client offers, and the post record every later step reads."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

from ..errors import DatasetError

if TYPE_CHECKING:
    from ..http import HttpSession

MD5_RE = re.compile(r"^[0-9a-f]{32}$")
EXT_RE = re.compile(r"^[a-z0-9]{1,5}$")
STILL_IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp"})

SIDECAR_VERSION = 1


@dataclass
class Post:
    """One post of any site, normalised.  ``tags`` maps a category name to tags in the site's order."""

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

    @property
    def filename(self) -> str:
        return f"{self.md5}.{self.ext}"

    def all_tags(self) -> list[str]:
        return [tag for tags in self.tags.values() for tag in tags]

    def to_json(self) -> dict:
        return {"sidecar_version": SIDECAR_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "Post":
        """Rebuild a post from a sidecar; raises ``ValueError`` when it is not one of ours."""
        if not isinstance(data, dict) or data.get("sidecar_version") != SIDECAR_VERSION:
            raise ValueError("not an sd-webui-dataset sidecar")
        known = {f for f in cls.__dataclass_fields__}
        post = cls(**{k: v for k, v in data.items() if k in known})
        if not (isinstance(post.md5, str) and MD5_RE.match(post.md5) and isinstance(post.ext, str)
                and EXT_RE.match(post.ext)):
            raise ValueError("sidecar has an invalid md5 or extension")
        post.tags = {str(k): [str(t) for t in v] for k, v in dict(post.tags).items()}
        return post


class Booru(ABC):
    """A site client.  ``name`` is the site's short name (``e621``, ``danbooru``…)."""

    name: str
    http: "HttpSession"
    max_tags_per_search: Optional[int] = None
    rejected: list[tuple[str, str]]  # (which post, why) for server data we refuse to use

    @abstractmethod
    def search(self, query: str, limit: Optional[int] = None) -> Iterator[Post]:
        """Posts matching ``query`` lazily, in the site's order, at most ``limit`` of them."""

    @abstractmethod
    def posts_by_md5(self, md5s: Iterable[str]) -> dict[str, Post]:
        """Posts for many hashes in as few requests as the site allows; unknown hashes are absent."""

    def post_by_md5(self, md5: str) -> Optional[Post]:
        return self.posts_by_md5([md5]).get(md5)

    def close(self) -> None:
        self.http.close()


def check_query(query: str, max_tags: Optional[int], site: str) -> None:
    terms = query.split()
    if max_tags is not None and len(terms) > max_tags:
        raise DatasetError(
            f"The search has {len(terms)} tags but {site} allows at most {max_tags}; remove some tags."
        )
