"""Site clients behind one :class:`Booru` interface, and the table of known sites.

Every site has a short name (``--booru NAME``), a family (which client speaks its
API), a base URL (``--base-url`` overrides it), a polite rate and the site's hard
limit, the environment variables its login comes from, and, as data for the
caption code, its rating words, tag categories, the categories a caption keeps,
the artist-category tags that name no artist, and how a tag-autocomplete
vocabulary's category numbers read for its posts.

Credentials come from ``--username``/``--api-key`` or ``<PREFIX>_USERNAME`` and
``<PREFIX>_API_KEY``; on Gelbooru-style sites the "username" is the numeric user
id, and ``<PREFIX>_USER_ID`` is accepted as another name for it.  On Moebooru
sites the API key is the account's password hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import DatasetError
from ..http import Credentials, HttpPolicy, HttpSession, check_address, site_domain
from ..wording import option
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
# rule34.xxx and safebooru.org name their ratings safe/questionable/explicit; "safe" reads as g, as gelbooru.com's old
# one does, and s is kept for sidecars written before that
GELBOORU_V02_RATINGS = {"g": "safe", "s": "safe", "q": "questionable", "e": "explicit"}

# How a tag-autocomplete vocabulary (name,category,count,"aliases") numbers its categories (its README, "CSV tag
# data"): e621.csv uses e621's numbers and -1 for invalid, danbooru.csv Danbooru's (which Gelbooru's tag API shares;
# Moebooru users use danbooru.csv); danbooru_e621_merged.csv keeps Danbooru's 0-5 and moves e621's up by 7, so e621's
# -1 is 6, general 7 ... lore 15, and 2 is unused (the merged lists' README, dbr-e621-lists-archive)
E621_VOCAB_NUMBERS = {-1: "invalid", **E621_CATEGORIES}
MERGED_VOCAB_NUMBERS = {**danbooru.CATEGORY_NUMBERS, 2: "invalid",
                        **{number + 7: name for number, name in E621_VOCAB_NUMBERS.items()}}
VOCAB_NUMBERINGS = {"e621": E621_VOCAB_NUMBERS, "danbooru": danbooru.CATEGORY_NUMBERS, "merged": MERGED_VOCAB_NUMBERS}

# artist-category tags that name no artist, per site family (data for the caption's "by <artist>" parts)
E621_NOT_ARTISTS = frozenset({
    "conditional_dnp", "avoid_posting", "sound_warning", "epilepsy_warning", "jumpscare_warning",
    "unknown_artist", "unknown_artist_signature", "anonymous_artist", "third-party_edit", "third_party_edit",
    "artist_request", "unknown_creator", "anonymous_creator",
})
DANBOORU_NOT_ARTISTS = frozenset({
    "banned_artist", "unknown_artist", "anonymous_artist", "nameless_artist", "artist_request",
    "third-party_edit", "unknown_artist_signature",
})
GELBOORU_NOT_ARTISTS = DANBOORU_NOT_ARTISTS
MOEBOORU_NOT_ARTISTS = DANBOORU_NOT_ARTISTS


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
    # -- caption data --
    caption_categories: tuple = ("general",)  # the content categories a caption keeps by default
    not_artists: frozenset = field(default_factory=frozenset, hash=False)  # artist tags that name no artist
    flat_tags: bool = False  # posts carry all tags as "general": a vocabulary's categories sort them
    vocab_numbering: str = "danbooru"  # how a tag-autocomplete vocabulary's numbers read: a VOCAB_NUMBERINGS key

    @property
    def login_hint(self) -> str:
        user, key = option("username"), option("api_key")
        if self.login_is_user_id:
            return (f"{user} with your numeric user id and {key} (or {self.env_prefix}_USER_ID and "
                    f"{self.env_prefix}_API_KEY)")
        return f"{user} and {key} (or {self.env_prefix}_USERNAME and {self.env_prefix}_API_KEY)"

    @property
    def category_order(self) -> list[str]:
        return list(self.tag_categories.values())

    @property
    def includable(self) -> tuple:
        """The categories ``--include`` may add for this site's posts: its own and the vocabulary's (which sorts the
        tags a post has no category for), or for flat tags only the vocabulary's."""
        names = list(VOCAB_NUMBERINGS[self.vocab_numbering].values())
        if not self.flat_tags:
            names = list(dict.fromkeys(self.category_order + names))
        return tuple(c for c in names if c != "artist" and c not in self.caption_categories)


# posts that name a source other than a site of the table, and the site whose caption rules they follow
SITE_ALIASES = {"e621-export": "e621"}  # the offline index's posts (e621's posts export)


def site_of(name: Optional[str]) -> Optional[Site]:
    """The table entry for a post's ``site`` (or an alias of one); None when it names no known site."""
    name = (name or "").strip().lower()
    return SITES.get(name) or SITES.get(SITE_ALIASES.get(name, ""))


SITES: dict[str, Site] = {s.name: s for s in (
    Site("e621", "e621", "https://e621.net", "E621", "e621", 1.0, 2.0, E621_RATINGS, E621_CATEGORIES,
         caption_categories=("general", "species"), not_artists=E621_NOT_ARTISTS, vocab_numbering="e621"),
    Site("e926", "e621", "https://e926.net", "E621", "e621", 1.0, 2.0, E621_RATINGS, E621_CATEGORIES,
         caption_categories=("general", "species"), not_artists=E621_NOT_ARTISTS, vocab_numbering="e621"),
    Site("danbooru", "danbooru", "https://danbooru.donmai.us", "DANBOORU", "danbooru", 2.0, 10.0,
         danbooru.RATING_WORDS, danbooru.CATEGORY_NUMBERS, not_artists=DANBOORU_NOT_ARTISTS),
    Site("safebooru-donmai", "danbooru", "https://safebooru.donmai.us", "DANBOORU", "danbooru", 2.0, 10.0,
         danbooru.RATING_WORDS, danbooru.CATEGORY_NUMBERS, not_artists=DANBOORU_NOT_ARTISTS),
    Site("gelbooru", "gelbooru", "https://gelbooru.com", "GELBOORU", "gelbooru", 1.0, 2.0,
         GELBOORU_RATINGS, gelbooru.CATEGORY_NUMBERS, credentials_required=True, login_is_user_id=True,
         tag_lookup=True, not_artists=GELBOORU_NOT_ARTISTS),
    Site("rule34", "gelbooru", "https://api.rule34.xxx", "RULE34", "rule34", 1.0, 2.0,
         GELBOORU_V02_RATINGS, gelbooru.CATEGORY_NUMBERS, credentials_required=True, login_is_user_id=True,
         not_artists=GELBOORU_NOT_ARTISTS, flat_tags=True),
    Site("safebooru", "gelbooru", "https://safebooru.org", "SAFEBOORU", "safebooru", 1.0, 2.0,
         GELBOORU_V02_RATINGS, gelbooru.CATEGORY_NUMBERS, login_is_user_id=True,
         not_artists=GELBOORU_NOT_ARTISTS, flat_tags=True),
    Site("yandere", "moebooru", "https://yande.re", "YANDERE", "yandere", 1.0, 2.0,
         moebooru.RATING_WORDS, moebooru.CATEGORY_NUMBERS, not_artists=MOEBOORU_NOT_ARTISTS),
    Site("konachan", "moebooru", "https://konachan.com", "KONACHAN", "konachan", 1.0, 2.0,
         moebooru.RATING_WORDS, moebooru.CATEGORY_NUMBERS, not_artists=MOEBOORU_NOT_ARTISTS),
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


def is_own_address(site: Site, base_url: Optional[str]) -> bool:
    """Whether ``base_url`` (None: the default) is the site table's own address for ``site``."""
    return base_url is None or base_url.strip().rstrip("/").lower() == site.base_url.lower()


def login_for(site: Site, base_url: Optional[str], username: Optional[str] = None, api_key: Optional[str] = None,
              stored: Optional[Credentials] = None) -> Credentials:
    """The login a run sends: one given for the run (options, the tab's fields) goes to whatever address the run
    talks to; a stored one (``stored``, else the environment) only to the site's own address, so a mirror or a
    test server typed into *Site address* never receives the key kept for the real site."""
    given = Credentials.typed(username, api_key)
    if not is_own_address(site, base_url):
        return given
    saved = stored if stored is not None else Credentials.resolve(None, None, site.env_prefix)
    return Credentials(given.username or saved.username, given.api_key or saved.api_key)


def open_booru(name: str = "e621", *, base_url: Optional[str] = None, username: Optional[str] = None,
               api_key: Optional[str] = None, stored: Optional[Credentials] = None,
               policy: Optional[HttpPolicy] = None, rate: Optional[float] = None, offline: bool = False) -> Booru:
    """A ready client for a site in :data:`SITES`, with the login :func:`login_for` chooses.

    Without a ``policy`` the site's own is used, at ``rate`` API requests per second when given (the site's
    polite rate otherwise; more than its hard limit is one sentence).  ``offline``: the caller will make no
    request (``tag --offline``), so a missing login is no error.
    """
    site = get_site(name)
    if base_url is not None:
        check_address(base_url)
    credentials = login_for(site, base_url, username, api_key, stored)
    own_address = is_own_address(site, base_url)
    if site.credentials_required and own_address and not credentials.complete and not offline:
        raise DatasetError(
            f"{site.name} answers its API only with a login; give {site.login_hint}, both from your "
            f"{site.account_site} account's options page."
        )
    if policy is None:
        policy = HttpPolicy(rate=site.rate if rate is None else rate, max_rate=site.max_rate)
    cls = _CLIENTS[site.family]
    http = HttpSession(site.account_site, credentials, policy, auth_params=getattr(cls, "auth_params", None),
                       login_hint=site.login_hint, own_domain=site_domain(site.base_url) if own_address else None)
    kwargs = {"tag_categories": True} if site.tag_lookup else {}
    client = cls(http, base_url=base_url or site.base_url, name=site.name, **kwargs)
    client.login_hint = site.login_hint
    return client


__all__ = ["Booru", "Post", "Site", "SITES", "VOCAB_NUMBERINGS", "get_site", "is_own_address", "login_for", "open_booru", "site_names", "site_of"]
