"""Site clients behind one :class:`Booru` interface, and the table of known sites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import DatasetError
from ..http import Credentials, HttpPolicy, HttpSession
from .base import Booru, Post
from .e621 import E621


@dataclass(frozen=True)
class Site:
    name: str
    family: str
    base_url: str
    env_prefix: str  # credentials come from <PREFIX>_USERNAME / <PREFIX>_API_KEY
    account_site: str  # whose accounts it uses, as named in the User-Agent and in messages
    rate: float  # polite API requests per second
    max_rate: float  # the site's hard limit


SITES: dict[str, Site] = {
    "e621": Site("e621", "e621", "https://e621.net", "E621", "e621", 1.0, 2.0),
    "e926": Site("e926", "e621", "https://e926.net", "E621", "e621", 1.0, 2.0),
}

_CLIENTS = {"e621": E621}


def site_names() -> list[str]:
    return list(SITES)


def open_booru(name: str = "e621", *, base_url: Optional[str] = None, username: Optional[str] = None,
               api_key: Optional[str] = None, policy: Optional[HttpPolicy] = None) -> Booru:
    """A ready client for a site in :data:`SITES`, with credentials from options or the environment."""
    site = SITES.get(name)
    if site is None:
        raise DatasetError(f"Unknown site {name!r}; choose one of: {', '.join(SITES)}.")
    credentials = Credentials.resolve(username, api_key, site.env_prefix)
    if policy is None:
        policy = HttpPolicy(rate=site.rate, max_rate=site.max_rate)
    http = HttpSession(site.account_site, credentials, policy)
    return _CLIENTS[site.family](http, base_url=base_url or site.base_url, name=site.name)


__all__ = ["Booru", "Post", "Site", "SITES", "open_booru", "site_names"]
