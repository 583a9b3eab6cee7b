"""Who may drive the tab: its own page, reached under a name the server answers as.

A web page on another origin can send requests to a server on this computer, and a
page whose host name its owner re-points at 127.0.0.1 (DNS rebinding) even looks like
the tab's own.  So every call is judged by two headers the browser sets and the page
cannot: ``Origin`` must be the page's own (or one the user allowed), and ``Host`` must be
a name the server answers as.  Calls without ``Origin`` come from scripts (curl,
``gradio_client``), not from a page, and are let through; anything that can run a
script here needs no web page to reach the files.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

LOCALHOST = "localhost"


@dataclass(frozen=True)
class Access:
    """The origins and host names a host accepts besides the tab's own page on an IP address or localhost.

    The server answers as the names of the allowed ``origins`` too: a page allowed at ``http://nas.local:7860``
    reaches it by that name.
    """

    origins: tuple[str, ...] = ()  # other pages allowed to drive the tab, e.g. "http://192.168.1.5:7860"
    origin_regex: Optional[str] = None  # the web UI's --cors-allow-origins-regex
    host_names: tuple[str, ...] = ()  # more names the server answers as (besides IP addresses and localhost)

    def refusal(self, origin: Optional[str], host: Optional[str]) -> Optional[str]:
        """Why a call with these ``Origin`` and ``Host`` headers is refused; None when it may run."""
        host_name = _host_name(host)
        if host_name is None or not self._answers_as(host_name):
            return (f"Refused: this call named the server {_shown(host)}, which is not an address the Dataset tab "
                    "answers as (a page on another site can do that); open the tab at its own address, e.g. "
                    "http://127.0.0.1 with its port.")
        if origin is None or self._origin_allowed(origin, host):
            return None
        return (f"Refused: this call came from a page at {_shown(origin)}, not from the Dataset tab's own page; only "
                "the tab itself runs its steps (allow another page with --allow-origin, or the web UI's "
                "--cors-allow-origins).")

    def _answers_as(self, name: str) -> bool:
        # an IP literal cannot be re-pointed by anyone's DNS, and browsers resolve localhost themselves
        origin_names = (urlsplit(o.strip()).hostname or "" for o in self.origins)
        names = {_normal(n) for n in (*self.host_names, *origin_names)}
        return _is_ip(name) or name == LOCALHOST or name in names

    def _origin_allowed(self, origin: str, host: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in {o.strip().rstrip("/").lower() for o in self.origins}:
            return True
        if self.origin_regex and re.fullmatch(self.origin_regex, origin):
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def _host_name(host: Optional[str]) -> Optional[str]:
    """The name in a ``Host`` header without its port (``[::1]:7860`` → ``::1``); None when it is no host at all."""
    if not host or not host.strip():
        return None
    try:
        name = urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return None
    return _normal(name) if name else None


def _normal(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _shown(value: Optional[str]) -> str:
    """A header value for a message: quoted, short, printable."""
    if value is None:
        return "(none)"
    text = "".join(c if c.isprintable() else "?" for c in value)
    return repr(text[:80] + ("…" if len(text) > 80 else ""))
