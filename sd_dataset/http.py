"""The one HTTP session every site client uses: identity, credentials, pace, retries.

* Rate limiting of API requests is pyrate-limiter's sliding window, shared by every
  run on the machine (:mod:`sd_dataset.ratelimit`), so no window of one second
  ever holds more than the site allows, however many runs talk to it at once.
* Every request has a whole deadline (:mod:`sd_dataset.watchdog`), not only
  per-read timeouts, and a run's cancel shuts the request in flight.
* Retries are tenacity's: exponential backoff with jitter on 429, 5xx,
  connection errors, timeouts and truncated or garbled bodies, a bounded number
  of tries, and ``Retry-After`` honoured when the server sends it.
* Credentials go only to API requests, as HTTP basic auth or, for sites that
  want them in the query (``auth_params``, e.g. Gelbooru's ``user_id`` and
  ``api_key``), as query parameters added here and nowhere else; they never go
  into a message: errors name the site and the host, never a URL's query or a
  header.
* A server may echo the login back, in any form it was sent in (see
  :meth:`Credentials.secret_forms`).  :class:`Redactor` blanks every form out of
  the JSON answers before anyone stores or prints them, out of the server's
  error words, and out of urllib3's log lines, which print whole URLs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import IO, Any, Iterable, Iterator, Mapping, Optional
from urllib.parse import quote, quote_plus, urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

from . import __version__
from .errors import Cancelled, DatasetError
from .ratelimit import Pace, machine_limiter, pace_limiter, seconds_until_free
from .watchdog import CANCELLED, DEADLINE, Watch, WatchedAdapter, watching
from .wording import option

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
SLOT_WAIT = 0.25  # seconds one wait for a free slot in the rate limit lasts at most


@dataclass(frozen=True)
class Credentials:
    """A site login; ``repr`` never shows the key."""

    username: Optional[str] = None
    api_key: Optional[str] = field(default=None, repr=False)

    @classmethod
    def resolve(cls, username: Optional[str], api_key: Optional[str], env_prefix: str) -> "Credentials":
        """Options win over the environment (``<PREFIX>_USERNAME``, ``<PREFIX>_API_KEY``).

        ``<PREFIX>_USER_ID`` is another name for ``<PREFIX>_USERNAME``, for sites whose
        login is a numeric user id (Gelbooru-style).
        """
        username = (username or os.environ.get(f"{env_prefix}_USERNAME")
                    or os.environ.get(f"{env_prefix}_USER_ID") or None)
        api_key = api_key or os.environ.get(f"{env_prefix}_API_KEY") or None
        return cls.typed(username, api_key)

    @classmethod
    def typed(cls, username: Optional[str], api_key: Optional[str]) -> "Credentials":
        """A login as typed (options, the tab's fields): surrounding blanks dropped, an empty value is none."""
        return cls((username or "").strip() or None, (api_key or "").strip() or None)

    @property
    def complete(self) -> bool:
        return bool(self.username and self.api_key)

    def secret_forms(self) -> list[str]:
        """Every form the key takes on the way out: raw, URL-encoded (as a path, and as a query encodes it) and
        base64 (of the key and of basic auth's ``user:key``, padded or not).  The username alone is no secret."""
        if not self.api_key:
            return []
        key = self.api_key
        forms = {key, quote(key, safe=""), quote(key), quote_plus(key)}
        for plain in (key, f"{self.username}:{key}") if self.username else (key,):
            encoded = base64.b64encode(plain.encode()).decode()
            forms.update((encoded, encoded.rstrip("=")))
        return sorted(forms)


# the query parameters that carry a login on some sites: their values are secret wherever they are quoted
_LOGIN_PARAM = re.compile(r"(?<![\w-])(api_key|user_id|login|password_hash)=[^&#\s\"'<>]+")


class Redactor:
    """Blanks a login's forms, and the values of login query parameters, out of text and decoded JSON."""

    def __init__(self, forms: Iterable[str] = ()):
        # longest first, so a form that holds a shorter one (padded base64) goes whole
        self.forms = tuple(sorted({f for f in forms if f}, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.forms)

    def text(self, text: str) -> str:
        if not self.forms:
            return text
        for form in self.forms:
            if form in text:  # testing first is measurably cheaper: almost every string has no form
                text = text.replace(form, "***")
        return _LOGIN_PARAM.sub(r"\1=***", text) if "=" in text else text

    def json(self, data: Any) -> Any:
        """``data`` with every string and dict key redacted, in place.

        Walked with a stack, not recursion: a hostile answer may nest as deep as the JSON decoder allows.
        """
        if not self.forms:
            return data
        if isinstance(data, str):
            return self.text(data)
        text, stack = self.text, [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                for i, item in enumerate(node):
                    if isinstance(item, str):
                        node[i] = text(item)
                    elif isinstance(item, (list, dict)):
                        stack.append(item)
            elif isinstance(node, dict):
                items = [(text(k), text(v) if isinstance(v, str) else v) for k, v in node.items()]
                node.clear()
                node.update(items)
                stack.extend(v for _, v in items if isinstance(v, (list, dict)))
        return data


@dataclass
class HttpPolicy:
    """How politely and how persistently we talk to a site."""

    rate: float = 1.0  # API requests per second
    max_rate: float = 2.0  # the site's hard limit; ``rate`` may never exceed it
    max_tries: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # for each read: a server that stops sending is retried
    # the whole of one request (connect, headers and body): a server that drips its answer is not retried
    answer_deadline: float = 120.0  # seconds for an API answer, and the fixed part of a file's budget
    min_file_speed: float = 32 * 1024  # bytes per second: a file's budget adds its expected size at this pace
    max_json_bytes: int = 64 * 1024 * 1024
    max_file_bytes: int = 1024 * 1024 * 1024

    def file_deadline(self, size: int) -> float:
        """Seconds one try of a ``size``-byte file may take in all."""
        return self.answer_deadline + size / self.min_file_speed

    def validate(self) -> None:
        if not (0 < self.rate <= self.max_rate):
            raise DatasetError(
                f"The API rate must be above 0 and at most {self.max_rate:g} requests per second (got {self.rate:g})."
            )
        if self.max_tries < 1:
            raise DatasetError("The number of tries must be at least 1.")


@dataclass
class HttpStats:
    requests: int = 0
    api_requests: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, api: bool) -> None:
        with self.lock:
            self.requests += 1
            self.api_requests += api

    def count_retry(self) -> None:
        with self.lock:
            self.retries += 1


class NotFound(DatasetError):
    """The server answered 404."""


class Exhausted(DatasetError):
    """A request failed all its tries for reasons that pass (busy, reset, truncated): another pass may succeed."""


class Rejected(DatasetError):
    """The server refused a request with a 4xx answer; ``reason`` is its own (redacted) words, if any."""

    def __init__(self, message: str, status: int, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason


class _Overdue(Exception):
    """A request passed its deadline (``seconds``, its whole budget): the server drips, and would again."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


class _Transient(Exception):
    """A failure worth another try; ``retry_after`` is the server's wish, in seconds."""

    def __init__(self, reason: str, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def user_agent(username: Optional[str], site_label: str) -> str:
    """Our User-Agent, naming the user when given; a name beyond ASCII goes URL-encoded, as a header carries
    Latin-1 only."""
    base = f"sd-webui-dataset/{__version__}"
    if username and not username.isascii():
        username = quote(username, safe="")
    return f"{base} (by {username} on {site_label})" if username else base


def host_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL for a message (never its path or query, which may hold a login)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an invalid port or IPv6 address: name what there is
        return url.split("/", 3)[2].rpartition("@")[2] if url.count("/") >= 2 else "an invalid address"
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{port}" if port else "")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_address(url: str, what: str = "The site address") -> None:
    """Refuse, before any request, an address no retry can reach: no http(s) scheme, no host, a port out of range,
    an address that does not parse; ``what`` names it in the sentence."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if "://" not in url or not scheme.isalpha():
        raise DatasetError(f"{what} has no http:// or https:// in front; give the whole address, e.g. "
                           "https://e621.net.")
    if scheme not in ("http", "https"):
        raise DatasetError(f"{what} starts with {scheme}://, but only http:// and https:// addresses can be used.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as exc:
        raise DatasetError(f"{what} is not a valid address ({exc}); check it for a typo.") from None
    if not parts.hostname or _CONTROL.search(url):
        raise DatasetError(f"{what} has no host name, or a control character in it; check it for a typo.")


def check_login(credentials: Credentials) -> None:
    """Refuse a login no server can take: one with a control character (a pasted newline, an escape)."""
    for label, value in (("user name", credentials.username), ("API key", credentials.api_key)):
        if value and _CONTROL.search(value):
            raise DatasetError(f"The {label} has a control character (a newline, tab or the like) in it; type it "
                               "again without.")


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import datetime as _dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - _dt.datetime.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError):
        return None


_NO_DEFAULT = object()


class _RedactSecrets(logging.Filter):
    """Blanks every login this process was given out of urllib3's log lines, which print whole URLs."""

    def __init__(self):
        super().__init__()
        self.redactor = Redactor()
        self._lock = threading.Lock()

    def add(self, forms: list[str]) -> None:
        if not forms:
            return
        with self._lock:  # a new redactor, swapped in whole, so a line logged meanwhile reads a finished one
            self.redactor = Redactor((*self.redactor.forms, *forms))

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        if redactor:
            text = record.getMessage()
            redacted = redactor.text(text)
            if redacted != text:
                record.msg, record.args = redacted, ()
        return True


_URL_LOG_FILTER = _RedactSecrets()
# a logger's filters see only its own records, not its children's: each urllib3 module that prints a URL
for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_URL_LOG_FILTER)


def redact_logins(text: str) -> str:
    """``text`` without any login this process was given and without the values of login query parameters."""
    return _LOGIN_PARAM.sub(r"\1=***", _URL_LOG_FILTER.redactor.text(text))


def site_domain(url: str) -> str:
    """The domain whose hosts are the site's own: ``e621.net`` for ``https://e621.net`` (its files come from
    ``static1.e621.net``), ``donmai.us`` for ``https://danbooru.donmai.us``; an IP address is only itself."""
    host = (urlsplit(url).hostname or "").lower()
    labels = host.split(".")
    if len(labels) <= 2 or labels[-1].isdigit() or ":" in host:
        return host
    return ".".join(labels[-2:])


class _Session(requests.Session):
    """A session whose User-Agent names the user to the site's own hosts only, after redirects too."""

    def __init__(self, named_agent: str, plain_agent: str, own_domain: Optional[str]):
        super().__init__()
        self.named_agent, self.plain_agent, self.own_domain = named_agent, plain_agent, own_domain
        self.headers["User-Agent"] = plain_agent

    def agent_for(self, url: str) -> str:
        host = (urlsplit(url).hostname or "").lower()
        own = bool(self.own_domain) and (host == self.own_domain or host.endswith("." + self.own_domain))
        return self.named_agent if own else self.plain_agent

    def rebuild_auth(self, prepared_request, response):
        # requests drops basic auth on a redirect to another host; the name in the User-Agent must follow suit
        super().rebuild_auth(prepared_request, response)
        prepared_request.headers["User-Agent"] = self.agent_for(prepared_request.url)


class HttpSession:
    """Requests to one site, with its identity, credentials, pace and retry policy."""

    def __init__(self, site_label: str, credentials: Credentials = Credentials(), policy: Optional[HttpPolicy] = None,
                 pool_size: int = 16, *, auth_params: Optional[tuple[str, str]] = None,
                 login_hint: Optional[str] = None, own_domain: Optional[str] = None):
        """``auth_params`` names the query parameters (user, key) that carry the login instead of basic auth;
        ``own_domain`` is the site's own (``e621.net``): only its hosts see the user's name in the User-Agent."""
        self.site_label = site_label
        self.credentials = credentials
        self.login_hint = login_hint or f"{option('username')} and {option('api_key')}"
        self.policy = policy or HttpPolicy()
        self.policy.validate()
        check_login(credentials)
        self.stats = HttpStats()
        self._interval_ms = max(1, round(1000 / self.policy.rate))
        # a login sent as query parameters is kept off file requests, so the User-Agent does not name it either
        self._session = _Session(user_agent(None if auth_params else credentials.username, site_label),
                                 user_agent(None, site_label), own_domain)
        self._session.trust_env = False  # a stray .netrc must not add credentials we did not choose
        adapter = WatchedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._redactor = Redactor(credentials.secret_forms())
        _URL_LOG_FILTER.add(list(self._redactor.forms))
        self._auth: Optional[tuple[str, str]] = None
        self._auth_query: dict[str, str] = {}
        if credentials.complete and auth_params:
            self._auth_query = {auth_params[0]: credentials.username, auth_params[1]: credentials.api_key}
        elif credentials.complete:
            # as UTF-8 (RFC 7617's charset), as the secret forms are: requests would send Latin-1 or fail
            self._auth = (credentials.username.encode(), credentials.api_key.encode())
        self._backoff = wait_exponential(multiplier=self.policy.backoff_initial, max=self.policy.backoff_max) + \
            wait_random(0, self.policy.backoff_initial)
        self._cancel: Optional[threading.Event] = None

    def close(self) -> None:
        self._session.close()

    @contextmanager
    def cancel_on(self, event: threading.Event) -> Iterator[None]:
        """Inside the block, setting ``event`` stops this session's requests within a second: the one in flight
        has its connection shut, waits (retries, the rate limit) end, and each raises :class:`Cancelled`."""
        self._cancel = event
        try:
            yield
        finally:
            self._cancel = None

    def redact(self, text: str) -> str:
        """``text`` (a server's words, a URL) without any form of the login."""
        return self._redactor.text(text)

    # -- public requests -------------------------------------------------

    @property
    def logged_in(self) -> bool:
        return bool(self._auth or self._auth_query)

    def get_json(self, url: str, params: Optional[Mapping[str, Any]] = None, *, empty: Any = _NO_DEFAULT) -> Any:
        """GET an API URL (rate limited, authenticated) and return its JSON, every string redacted.

        ``empty``: what an empty body means, for APIs that answer "nothing found" with
        no body at all; without it an empty body is malformed JSON (and retried).
        """
        return self._retrying(url, lambda: self._json_attempt(url, params, empty))

    def post_form(self, url: str, fields: Mapping[str, Any], files: Mapping[str, tuple[str, bytes, str]], *,
                  pace: Pace) -> Any:
        """POST a multipart form (``files``: field → (file name, bytes, content type)) to an API URL and return its
        JSON, every string redacted: the login, retries, deadline and redaction of :meth:`get_json`, paced by the
        site's ``pace`` for this kind of request as well as by the API rate."""
        form = _Form(dict(fields), dict(files), pace)
        return self._retrying(url, lambda: self._json_attempt(url, None, form=form))

    def download(self, url: str, fh: IO[bytes], max_bytes: Optional[int] = None) -> tuple[str, int]:
        """Stream a file into ``fh`` (from its start) and return ``(md5 hex, size)``.

        File downloads are not API requests: no rate limit, no credentials.  A body
        longer than ``max_bytes`` (the size the post announced) is refused.
        """
        limit = min(max_bytes or self.policy.max_file_bytes, self.policy.max_file_bytes)
        return self._retrying(url, lambda: self._download_attempt(url, fh, limit, max_bytes))

    # -- machinery -------------------------------------------------------

    def _retrying(self, url: str, attempt):
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_tries),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            if exc.reason.startswith("connection failed"):
                raise Exhausted(
                    f"Cannot reach {self.site_label} at {host_of(url)} ({exc.reason}, {self.policy.max_tries} tries); "
                    "check the address and your internet connection."
                ) from None
            raise Exhausted(
                f"{self.site_label} at {host_of(url)} kept failing ({exc.reason}) after {self.policy.max_tries} tries; "
                "wait a few minutes and run again (finished work is kept)."
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            if exc.retry_after > self.policy.retry_after_max:
                raise DatasetError(
                    f"{self.site_label} asked us to wait {exc.retry_after:.0f} seconds before trying again; "
                    "run again later (finished work is kept)."
                )
            return exc.retry_after
        return self._backoff(state)

    def _sleep(self, seconds: float) -> None:
        if self._cancel is None:
            time.sleep(seconds)
        elif self._cancel.wait(seconds):
            raise Cancelled()

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.count_retry()
        exc = state.outcome.exception() if state.outcome else None
        log.info("retrying %s request: %s", self.site_label, self.redact(str(exc)))

    def _wait_for_slot(self, url: str, pace: Optional[Pace] = None) -> None:
        """Block until the machine-wide rate limit lets another API request to this server go (or the run is
        cancelled); with ``pace``, first until that throttle of the site lets one of its kind go: the site's hard
        limit counts every request, so a paced one keeps both."""
        server = _server(url)
        limiters = [pace_limiter(server, pace)] if pace is not None else []
        for limiter in limiters + [machine_limiter(server, self._interval_ms)]:
            # in short waits, each ending with a look at the cancel
            while not limiter.try_acquire("api", blocking=True, timeout=SLOT_WAIT):
                self._check_cancel()

    def pace_wait(self, url: str, pace: Pace) -> float:
        """Seconds a request to ``url``'s server at ``pace`` would wait now for its slot (other runs count)."""
        return seconds_until_free(pace_limiter(_server(url), pace), pace)

    @contextmanager
    def _exchange(self, url: str, params: Optional[Mapping[str, Any]], api: bool, seconds: float,
                  form: Optional["_Form"] = None) -> Iterator[tuple[requests.Response, Watch]]:
        """One request (a POST of ``form`` when given) whose answer (status checked) the block reads, all of it
        within ``seconds`` (the block may extend them); past them :class:`_Overdue`, and :class:`Cancelled` once
        the run is cancelled."""
        check_address(url, "The API address" if api else "The file address")
        if api:
            self._wait_for_slot(url, form.pace if form is not None else None)
        self._check_cancel()
        self.stats.count(api)
        if api and self._auth_query:
            params = {**(params or {}), **self._auth_query}
        with watching(Watch(seconds, self._cancel)) as watch:
            try:
                resp = self._get(url, params, api, form)
                with resp:
                    self._check_status(resp, url)
                    yield resp, watch
            except (_Transient, DatasetError):
                if watch.fired == CANCELLED:
                    raise Cancelled() from None
                if watch.fired == DEADLINE:
                    raise _Overdue(watch.seconds) from None
                raise

    def _get(self, url: str, params: Optional[Mapping[str, Any]], api: bool,
             form: Optional["_Form"] = None) -> requests.Response:
        try:
            return self._session.request(
                "GET" if form is None else "POST",
                url,
                params=params,
                data=form.fields if form is not None else None,
                files=form.files if form is not None else None,
                headers={"User-Agent": self._session.agent_for(url)},
                auth=self._auth if api else None,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                stream=True,
            )
        except requests.Timeout:
            raise _Transient("timed out") from None
        except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema) as exc:  # the address checked out: a redirect went there
            raise DatasetError(f"{self.site_label} at {host_of(url)} redirected the request to an address that is not "
                               f"http(s) or not valid ({exc.__class__.__name__}); refusing it.") from None
        except requests.TooManyRedirects:
            raise DatasetError(f"{self.site_label} at {host_of(url)} redirected the request more than "
                               f"{self._session.max_redirects} times; check --base-url.") from None
        except requests.ConnectionError as exc:
            raise _Transient(f"connection failed: {_short_reason(exc)}") from None
        except requests.RequestException as exc:
            raise _Transient(f"request failed: {exc.__class__.__name__}") from None

    def _check_status(self, resp: requests.Response, url: str) -> None:
        code = resp.status_code
        if code < 400:
            return
        if code == 429 or code >= 500:
            resp.close()
            raise _Transient(f"HTTP {code}", parse_retry_after(resp.headers.get("Retry-After")))
        # redacted before it is cut short, or the cut could leave half a key that no form matches
        reason = self.redact(_server_reason(resp))[:200]
        resp.close()
        if code == 401 and not self.logged_in:
            raise DatasetError(
                f"{self.site_label} wants a login for its API (HTTP 401); give {self.login_hint}."
            )
        if code == 401:
            raise DatasetError(
                f"{self.site_label} refused the login (HTTP 401); check your {self.site_label} username and API key."
            )
        if code == 403:
            raise DatasetError(
                f"{self.site_label} refused access (HTTP 403); if you gave a login, check that its API key is still valid."
            )
        if code == 404:
            raise NotFound(f"{self.site_label} has no such page (HTTP 404) at {host_of(url)}.")
        if code == 414:
            raise DatasetError(f"{self.site_label} refused a request line as too long (HTTP 414).")
        said = f": {reason}" if reason else ""
        raise Rejected(f"{self.site_label} rejected the request (HTTP {code}){said}.", code, reason)

    def _json_attempt(self, url: str, params: Optional[Mapping[str, Any]], empty: Any = _NO_DEFAULT,
                      form: Optional["_Form"] = None) -> Any:
        try:
            with self._exchange(url, params, True, self.policy.answer_deadline, form) as (resp, _):
                body = bytearray()
                for chunk in _iter_body(resp):
                    body += chunk
                    if len(body) > self.policy.max_json_bytes:
                        raise DatasetError(
                            f"{self.site_label} sent an answer larger than {size_text(self.policy.max_json_bytes)} "
                            f"from {host_of(url)}; refusing it (check that {option('base_url')} points at the site's "
                            "API)."
                        )
                _check_length(resp, len(body))
        except _Overdue as exc:
            raise DatasetError(f"{self.site_label} at {host_of(url)} sent no complete answer within {exc.seconds:g} "
                               "seconds; it may be overloaded, so run again later (finished work is kept).") from None
        if empty is not _NO_DEFAULT and not body.strip():
            return empty
        try:
            data = json.loads(body)
        except ValueError:
            raise _Transient("a web page instead of JSON" if looks_like_html(body) else "malformed JSON") from None
        except RecursionError:
            raise DatasetError(f"{self.site_label} sent JSON nested too deeply to read from {host_of(url)}; "
                               f"refusing it (check that {option('base_url')} points at the site's API).") from None
        return self._redactor.json(data)

    def _download_attempt(self, url: str, fh: IO[bytes], limit: int, expected: Optional[int]) -> tuple[str, int]:
        """One try; ``expected`` is the size the post announced (None: unknown, then the server's length, else
        ``limit``, sets the budget)."""
        policy = self.policy
        fh.seek(0)
        fh.truncate()
        digest, size = hashlib.md5(), 0
        try:
            # until its headers come, a file has an answer's time; then its budget for the size it will have
            with self._exchange(url, None, False, policy.file_deadline(expected or 0)) as (resp, watch):
                length = resp.headers.get("Content-Length", "")
                watch.extend(policy.file_deadline(expected or min(int(length) if length.isdigit() else limit, limit)))
                for chunk in _iter_body(resp):
                    size += len(chunk)
                    if size > limit:
                        raise DatasetError(f"the file from {host_of(url)} is larger than the {size_text(limit)} "
                                           f"expected; refused")
                    digest.update(chunk)
                    fh.write(chunk)
                _check_length(resp, size)
        except _Overdue as exc:
            raise DatasetError(f"the file from {host_of(url)} did not arrive within {exc.seconds:.0f} seconds; "
                               "a rerun tries again") from None
        return digest.hexdigest(), size


@dataclass(frozen=True)
class _Form:
    """A multipart POST's fields and files, and the pace its kind of request keeps."""

    fields: dict
    files: dict
    pace: Pace


def _server(url: str) -> str:
    """How the rate limiter names the server of ``url``: ``host:port`` (the scheme where the port is implicit)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or parts.scheme}"


def size_text(n: int) -> str:
    """``n`` bytes for a message: ``512 bytes``, ``3.5 KiB``, ``64 MiB``."""
    if n < 1024:
        return f"{n} bytes"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.3g} {unit}"


def looks_like_html(head: bytes) -> bool:
    """True when a body that should be an image or JSON starts like a web page (a proxy's or site's error page)."""
    text = bytes(head[:512]).lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<title"))


def _iter_body(resp: requests.Response):
    try:
        yield from resp.iter_content(CHUNK)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
            requests.ConnectionError) as exc:
        raise _Transient(f"truncated body: {_short_reason(exc)}") from None
    except requests.Timeout:
        raise _Transient("timed out while reading") from None


def _check_length(resp: requests.Response, received: int) -> None:
    # urllib3 1.x (still found in some web UI installs) does not enforce Content-Length on streams.
    expected = resp.headers.get("Content-Length")
    if expected and expected.isdigit() and "Content-Encoding" not in resp.headers and int(expected) != received:
        raise _Transient(f"truncated body: {received} of {expected} bytes")


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "Name or service not known", "timed out",
                   "IncompleteRead", "Remote end closed", "Connection aborted"):
        if marker.lower() in text.lower():
            return marker.lower()
    return exc.__class__.__name__


def _server_reason(resp: requests.Response) -> str:
    """The server's own words from an error answer's JSON, whole (the caller redacts, then shortens)."""
    try:
        data = json.loads(next(resp.iter_content(4096), b"") or b"null")
    except (ValueError, RecursionError, requests.RequestException):
        return ""
    if isinstance(data, dict):
        for key in ("message", "reason", "error"):
            if isinstance(data.get(key), str):
                return data[key]
    return ""
