"""Site clients behind one :class:`Booru` interface, and the table of known sites.

Every site has a short name (``--booru NAME``), a family (which client speaks its
API), a base URL (``--base-url`` overrides it), a polite rate and the site's hard
limit, the environment variables its login comes from, and, as data for the
caption code, its rating words and tag categories.

Credentials come from ``--username``/``--api-key`` or ``<PREFIX>_USERNAME`` and
``<PREFIX>_API_KEY``; on Gelbooru-style sites the "username" is the numeric user
id, and ``<PREFIX>_USER_ID`` is accepted as another name for it.  On Moebooru
sites the API key is the account's password hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import DatasetError
from ..http import Credentials, HttpPolicy, HttpSession
from . import danbooru, gelbooru, moebooru
from .base import Booru, Post
from .danbooru import Danbooru
from .e621 import E621
from .gelbooru import Gelbooru
from .moebooru import Moebooru

E621_RATINGS = {"s": "safe", "q": "questionable", "e": "explicit"}
E621_CATEGORIES = {1: "artist", 2: "contributor", 3: "copyright", 4: "character", 5: "species", 0: "general",
                   6: "invalid", 7: "meta", 8: "lore"}
GELBOORU_RATINGS = {"g": "general", "s": "sensitive", "q": "questionable", "e": "explicit"}
# rule34.xxx and safebooru.org name their ratings safe/questionable/explicit ("general" read as g, just in case)
GELBOORU_V02_RATINGS = {"g": "general", "s": "safe", "q": "questionable", "e": "explicit"}


@dataclass(frozen=True)
class Site:
    name: str
    family: str  # e621, danbooru, gelbooru, moebooru: which client speaks its API
    base_url: str
    env_prefix: str  # credentials come from <PREFIX>_USERNAME (or _USER_ID) / <PREFIX>_API_KEY
    account_site: str  # whose accounts it uses, as named in the User-Agent and in messages
    rate: float  # polite API requests per second
    max_rate: float  # the site's hard limit (or our ceiling where it publishes none)
    rating_words: dict = field(default_factory=dict, hash=False)  # Post.rating letter → the site's word
    tag_categories: dict = field(default_factory=dict, hash=False)  # tag-API number → name, in the site's order
    credentials_required: bool = False  # the API answers nothing without a login
    login_is_user_id: bool = False  # the "username" is the numeric user id
    tag_lookup: bool = False  # ask the site's tag API for the categories of flat tags

    @property
    def login_hint(self) -> str:
        if self.login_is_user_id:
            return (f"--username with your numeric user id and --api-key (or {self.env_prefix}_USER_ID and "
                    f"{self.env_prefix}_API_KEY)")
        return f"--username and --api-key (or {self.env_prefix}_USERNAME and {self.env_prefix}_API_KEY)"

    @property
    def category_order(self) -> list[str]:
        return list(self.tag_categories.values())


SITES: dict[str, Site] = {s.name: s for s in (
    Site("e621", "e621", "https://e621.net", "E621", "e621", 1.0, 2.0, E621_RATINGS, E621_CATEGORIES),
    Site("e926", "e621", "https://e926.net", "E621", "e621", 1.0, 2.0, E621_RATINGS, E621_CATEGORIES),
    Site("danbooru", "danbooru", "https://danbooru.donmai.us", "DANBOORU", "danbooru", 2.0, 10.0,
         danbooru.RATING_WORDS, danbooru.CATEGORY_NUMBERS),
    Site("safebooru-donmai", "danbooru", "https://safebooru.donmai.us", "DANBOORU", "danbooru", 2.0, 10.0,
         danbooru.RATING_WORDS, danbooru.CATEGORY_NUMBERS),
    Site("gelbooru", "gelbooru", "https://gelbooru.com", "GELBOORU", "gelbooru", 1.0, 2.0,
         GELBOORU_RATINGS, gelbooru.CATEGORY_NUMBERS, credentials_required=True, login_is_user_id=True,
         tag_lookup=True),
    Site("rule34", "gelbooru", "https://api.rule34.xxx", "RULE34", "rule34", 1.0, 2.0,
         GELBOORU_V02_RATINGS, gelbooru.CATEGORY_NUMBERS, credentials_required=True, login_is_user_id=True),
    Site("safebooru", "gelbooru", "https://safebooru.org", "SAFEBOORU", "safebooru", 1.0, 2.0,
         GELBOORU_V02_RATINGS, gelbooru.CATEGORY_NUMBERS, login_is_user_id=True),
    Site("yandere", "moebooru", "https://yande.re", "YANDERE", "yandere", 1.0, 2.0,
         moebooru.RATING_WORDS, moebooru.CATEGORY_NUMBERS),
    Site("konachan", "moebooru", "https://konachan.com", "KONACHAN", "konachan", 1.0, 2.0,
         moebooru.RATING_WORDS, moebooru.CATEGORY_NUMBERS),
)}

_CLIENTS = {"e621": E621, "danbooru": Danbooru, "gelbooru": Gelbooru, "moebooru": Moebooru}


def site_names() -> list[str]:
    return list(SITES)


def get_site(name: str) -> Site:
    """The table entry for ``name``; one sentence naming the choices when there is none."""
    site = SITES.get(name)
    if site is None:
        raise DatasetError(f"Unknown site {name!r}; choose one of: {', '.join(SITES)}.")
    return site


def open_booru(name: str = "e621", *, base_url: Optional[str] = None, username: Optional[str] = None,
               api_key: Optional[str] = None, policy: Optional[HttpPolicy] = None) -> Booru:
    """A ready client for a site in :data:`SITES`, with credentials from options or the environment."""
    site = get_site(name)
    credentials = Credentials.resolve(username, api_key, site.env_prefix)
    own_address = base_url is None or base_url.rstrip("/") == site.base_url
    if site.credentials_required and own_address and not credentials.complete:
        raise DatasetError(
            f"{site.name} answers its API only with a login; give {site.login_hint}, both from your "
            f"{site.account_site} account's options page."
        )
    if policy is None:
        policy = HttpPolicy(rate=site.rate, max_rate=site.max_rate)
    cls = _CLIENTS[site.family]
    http = HttpSession(site.account_site, credentials, policy, auth_params=getattr(cls, "auth_params", None),
                       login_hint=site.login_hint)
    kwargs = {"tag_categories": True} if site.tag_lookup else {}
    client = cls(http, base_url=base_url or site.base_url, name=site.name, **kwargs)
    client.login_hint = site.login_hint
    return client


__all__ = ["Booru", "Post", "Site", "SITES", "get_site", "open_booru", "site_names"]
