"""A real HTTP server on 127.0.0.1 that answers like e621: posts.json searches and lookups, file bytes.

Tests put posts in it, start it, point the client at its ``url``, and read back
what it saw (``requests``: time, path, query, headers).  Faults are either
scripted (``script(path_prefix, [...])``: the next requests to a path get these
answers) or drawn at a seeded ``fault_rate``.  ``echo_key=True`` makes it hostile: it
echoes the login it was sent (every form of :func:`echo_forms`) into the posts it
answers, and the scripted ``echo422`` answers a 422 whose reason quotes the login.  ``stuck_paging = True``
makes its paging never advance: every page (cursor or number) answers the first one again.

``POST /iqdb_queries.json`` is e621ng's reverse-image search: it really compares the uploaded file with every
post's image (:func:`iqdb_score`, 0-100), drops matches under ``score_cutoff`` (default 60) and deleted posts,
and answers a bare list of ``{post_id, score, hash, post}`` whose post is the database row (flat ``tag_string``),
wrapped in ``{"posts": …}`` as ``render json: @matches, root: "posts"`` wraps it.  It keeps e621's throttle for
file queries (``iqdb_paces``: 1 a minute anonymous, 6 in 10 s logged in; 429 past it) and records each search's
time in ``iqdb_times``.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import io
import json
import random
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

from PIL import Image

PAGE_MAX = 320
# The "second" the servers count requests in.  Arrivals jitter around the client's sending times (a first
# request that also opens its connection lands late), so a client pacing exactly N/s can see N+1 arrivals
# just inside a full second; 0.9 s still catches any pace more than 11 % too fast.
RATE_WINDOW = 0.9
FAULTS = ("429", "503", "reset", "truncate", "slow", "badjson")
# hostile answers a test asks for by ``script`` (never drawn at random: no retry can mend them)
HOSTILE = ("endless", "html", "echo422", "deepjson", "deep422", "drip")
DEEP = 100_000  # JSON nesting far past Python's recursion limit
# ``trickle``: a file sent half now and half a while later (``trickle_seconds``), so a kill can land mid-write
# ``drip``: the whole answer, status line to last byte, one byte every ``drip_seconds``: no read ever times out


def echo_forms(user: str, key: str) -> list[str]:
    """Every form a hostile server echoes a login in: raw, URL-encoded three ways, base64 padded and not."""
    basic = base64.b64encode(f"{user}:{key}".encode()).decode()
    alone = base64.b64encode(key.encode()).decode()
    return [key, quote(key, safe=""), quote(key), quote_plus(key), basic, basic.rstrip("="), alone,
            alone.rstrip("=")]


def picture_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (96, 64)) -> bytes:
    """A picture with structure (a gradient between two colours and a block of a third), different for every
    seed, so an image search can tell one from another and find resized, re-encoded copies."""
    rng = random.Random(seed)
    a, b, c = ([rng.randrange(256) for _ in range(3)] for _ in range(3))
    img = Image.new("RGB", size)
    w, h = size
    img.putdata([tuple(round(a[k] + (b[k] - a[k]) * x / (w - 1)) for k in range(3))
                 for y in range(h) for x in range(w)])
    left, top = rng.randrange(w // 2), rng.randrange(h // 2)
    img.paste(tuple(c), (left, top, left + w // 3, top + h // 3))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def resaved_copy(data: bytes, size: tuple[int, int] = (150, 100), fmt: str = "JPEG", brighten: int = 0) -> bytes:
    """A picture as a user keeps it: resized and saved again (JPEG by default), so its md5 is no post's;
    ``brighten`` moves it out of a close match."""
    img = Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.LANCZOS)
    if brighten:
        img = img.point(lambda v: min(255, v + brighten))
    buf = io.BytesIO()
    img.save(buf, fmt, quality=88)
    return buf.getvalue()


def iqdb_score(upload: bytes, original: bytes) -> float:
    """How alike two images look, 0-100, as IQDB scores: 100 less the mean difference of their 16x16 copies."""
    small = [Image.open(io.BytesIO(data)).convert("RGB").resize((16, 16), Image.BILINEAR).tobytes()
             for data in (upload, original)]
    diff = sum(abs(x - y) for x, y in zip(*small)) / len(small[0])
    return round(max(0.0, 100.0 - diff), 2)


IQDB_WINDOW = 0.95  # of the throttle's period: arrivals jitter, as with RATE_WINDOW


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (24, 16)) -> bytes:
    """A small synthetic image, different for every seed."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    img.putpixel((seed % size[0], 0), (255 - seed % 256, seed % 7, 3))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@dataclass
class SeenRequest:
    time: float
    path: str
    query: dict
    headers: dict
    line_length: int

    @property
    def is_api(self) -> bool:
        return self.path.endswith(".json")


@dataclass
class ServerPost:
    id: int
    data: bytes
    ext: str = "png"
    tags: dict = field(default_factory=lambda: {"general": ["red_ball"]})
    rating: str = "s"
    deleted: bool = False
    hidden: bool = False  # no url for anonymous requests
    md5: Optional[str] = None  # what the API claims; defaults to the real md5 of data
    score: int = 10
    size: Optional[int] = None  # what the API claims; defaults to the real size of data

    def __post_init__(self):
        self.real_md5 = hashlib.md5(self.data).hexdigest()
        if self.md5 is None:
            self.md5 = self.real_md5


class BooruServer:
    def __init__(self, posts: Optional[list[ServerPost]] = None, *, credentials: Optional[tuple[str, str]] = None,
                 enforce_rate: bool = True, fault_rate: float = 0.0, seed: int = 0, echo_key: bool = False,
                 max_per_second: int = 2):
        self.posts: list[ServerPost] = list(posts or [])
        self.credentials = credentials
        self.echo_key = echo_key
        self.enforce_rate = enforce_rate
        self.max_per_second = max_per_second
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.requests: list[SeenRequest] = []
        self.faults_served: list[str] = []
        self.fault_log: list[tuple[str, str]] = []  # (fault, path) of every fault served
        self.trickle_seconds = 5.0
        self.redirect_to: Optional[str] = None  # where the "redirect" fault sends a request (path and query kept)
        self.odd_id = None  # when set, a search also answers a copy of its first post with this id (any JSON value)
        self.trickling = threading.Event()  # set once a trickled file's first half is out
        self.stuck_paging = False  # every page of a search answers the first page again
        self.drip_seconds = 0.2
        self.dripping = threading.Event()  # set once a dripped answer has begun
        self.hangups: list[float] = []  # when a client hung up on a dripped answer (monotonic time)
        self.iqdb_paces = {False: (1, 60.0), True: (6, 10.0)}  # logged in -> (searches, in seconds)
        self.iqdb_times: list[float] = []  # when each image search arrived (monotonic time)
        self.iqdb_throttled = 0  # searches answered 429 for coming too fast
        self._scripts: list[tuple[str, deque]] = []
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None

    # -- control ---------------------------------------------------------------

    def start(self) -> "BooruServer":
        server = self

        class Handler(_Handler):
            booru = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, path_prefix: str, answers: list[str]) -> None:
        """The next requests whose path starts with ``path_prefix`` get these faults, in order."""
        with self._lock:
            self._scripts.append((path_prefix, deque(answers)))

    def api_requests(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.is_api]

    def file_requests(self) -> list[SeenRequest]:
        return [r for r in self.requests if not r.is_api]

    def max_api_requests_in_any_second(self) -> int:
        times = sorted(r.time for r in self.api_requests())
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= RATE_WINDOW:
                start += 1
            best = max(best, end - start + 1)
        return best

    def file_url(self, post: ServerPost) -> str:
        return f"{self.url}/data/{post.md5[:2]}/{post.md5[2:4]}/{post.md5}.{post.ext}"

    # -- answers ---------------------------------------------------------------

    def pick_fault(self, path: str) -> Optional[str]:
        """The fault this request gets, if any; a scripted ``"pass"`` is a request answered as it should be."""
        with self._lock:
            for prefix, answers in self._scripts:
                if path.startswith(prefix) and answers:
                    answer = answers.popleft()
                    return None if answer == "pass" else answer
            if self.fault_rate and self.rng.random() < self.fault_rate:
                return self.rng.choice(FAULTS)
        return None

    def over_rate(self, now: float) -> bool:
        recent = [r for r in self.requests[:-1] if r.is_api and now - r.time < RATE_WINDOW]
        return self.enforce_rate and len(recent) >= self.max_per_second

    def authenticated(self, headers) -> Optional[bool]:
        """True/False for a good/bad login, None when none was sent."""
        auth = headers.get("Authorization")
        if not auth:
            return None
        try:
            user, _, key = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":")
        except (ValueError, IndexError):
            return False
        return self.credentials is not None and (user, key) == self.credentials

    @staticmethod
    def login_of(headers, query: dict) -> Optional[tuple[str, str]]:
        """(user, key) as a request carried them, in basic auth or a login's query parameters; None without."""
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
            return user, key
        one = {k: v[0] for k, v in query.items()}
        key = one.get("api_key") or one.get("password_hash")
        return (one.get("user_id") or one.get("login") or "", key) if key else None

    @staticmethod
    def echo_message(login: tuple[str, str]) -> str:
        """Error words quoting the login: the key raw, URL-encoded and in basic auth's base64, the user id."""
        user, key = login
        basic = base64.b64encode(f"{user}:{key}".encode()).decode()
        return f"the key {key} ({quote(key, safe='')}, {basic}) is not valid for user_id={user}"

    def echoed(self, body: dict, login: tuple[str, str], query: dict) -> dict:
        """An e621 answer with the login echoed into every post; a search also gets a post whose id is the key."""
        user, key = login
        posts = body.get("posts") or ([body["post"]] if "post" in body else [])
        for raw in posts:
            raw["tags"]["general"] = raw["tags"]["general"] + echo_forms(user, key)
            raw["sources"] = raw["sources"] + [f"https://example.invalid/?login={user}&api_key={key}"]
            if raw["file"]["url"]:
                raw["file"]["url"] += "?token=" + quote(key, safe="")
        if posts and "md5:" not in query.get("tags", [""])[0]:
            body["posts"].append({**posts[0], "id": key})
        return body

    def post_json(self, post: ServerPost, logged_in: bool) -> dict:
        visible = not post.deleted and (logged_in or not post.hidden)
        return {
            "id": post.id,
            "file": {"width": 24, "height": 16, "ext": post.ext,
                     "size": len(post.data) if post.size is None else post.size, "md5": post.md5,
                     "url": self.file_url(post) if visible else None},
            "preview": {"width": 24, "height": 16, "url": None},
            "sample": {"has": False, "height": 16, "width": 24, "url": None, "alternates": {}},
            "score": {"up": post.score, "down": 0, "total": post.score},
            "tags": {cat: post.tags.get(cat, []) for cat in
                     ("general", "artist", "contributor", "copyright", "character", "species", "invalid", "meta",
                      "lore")},
            "locked_tags": [],
            "change_seq": 1,
            "flags": {"pending": False, "flagged": False, "note_locked": False, "status_locked": False,
                      "rating_locked": False, "deleted": post.deleted},
            "rating": post.rating,
            "fav_count": 3,
            "sources": ["https://example.invalid/source"],
            "pools": [],
            "relationships": {"parent_id": None, "has_children": False, "has_active_children": False,
                              "children": []},
            "approver_id": None,
            "uploader_id": 1,
            "description": "",
            "comment_count": 0,
            "is_favorited": False,
            "has_notes": False,
            "duration": None,
        }

    def search(self, query: dict, logged_in: bool) -> tuple[int, dict]:
        if "md5" in query:
            for post in self.posts:
                if post.md5 == query["md5"][0]:
                    return 200, {"post": self.post_json(post, logged_in)}
            return 404, {"success": False, "reason": "not found"}
        tags = query.get("tags", [""])[0].split()
        limit = int(query.get("limit", ["75"])[0])
        if not 0 <= limit <= PAGE_MAX:
            return 422, {"success": False, "reason": f"Limit must be between 0 and {PAGE_MAX}"}
        if len(tags) > 40:
            return 422, {"success": False, "reason": "You can only search up to 40 tags at once"}
        matches = [p for p in self.posts if _matches(p, tags)]
        page = "1" if self.stuck_paging else query.get("page", ["1"])[0]
        if page.startswith("b"):
            matches = sorted((p for p in matches if p.id < int(page[1:])), key=lambda p: -p.id)[:limit]
        elif page.startswith("a"):
            matches = sorted((p for p in matches if p.id > int(page[1:])), key=lambda p: p.id)[:limit]
            matches.reverse()
        else:
            number = int(page)
            if number > 750:
                return 410, {"success": False, "reason": "You cannot go beyond page 750."}
            ordered = sorted(matches, key=lambda p: -p.id)
            matches = ordered[(number - 1) * limit: number * limit]
        answer = [self.post_json(p, logged_in) for p in matches]
        if self.odd_id is not None and answer and "md5:" not in query.get("tags", [""])[0]:
            answer.append({**answer[0], "id": self.odd_id})
        return 200, {"posts": answer}

    # -- reverse-image search ----------------------------------------------------

    def iqdb_too_fast(self, now: float, logged_in: bool) -> bool:
        limit, period = self.iqdb_paces[logged_in]
        recent = [t for t in self.iqdb_times if now - t < period * IQDB_WINDOW]
        self.iqdb_times.append(now)
        return len(recent) >= limit

    def iqdb_matches(self, upload: bytes, cutoff: float) -> list[tuple[ServerPost, float]]:
        """The posts whose image scores at least ``cutoff`` against ``upload``, best first (deleted ones left out,
        as e621ng's ``process_iqdb_result`` leaves them)."""
        scored = [(post, iqdb_score(upload, post.data)) for post in self.posts if not post.deleted]
        return sorted(((p, s) for p, s in scored if s >= cutoff), key=lambda ps: -ps[1])

    def iqdb_answer(self, fields: dict, files: dict, headers) -> tuple[int, object]:
        logged_in = self.authenticated(headers)
        if logged_in is False:
            return 401, {"success": False, "reason": "Invalid API key"}
        if self.iqdb_too_fast(time.monotonic(), bool(logged_in)):
            self.iqdb_throttled += 1
            return 429, {"success": False, "message": "Throttled: Too many requests", "code": None}
        upload = files.get("file") or files.get("search[file]")
        if upload is None:
            return 200, []
        cutoff = float(fields.get("score_cutoff") or 60)
        answer = []
        for post, score in self.iqdb_matches(upload, cutoff):
            row = {"id": post.id, "md5": post.md5, "file_ext": post.ext, "rating": post.rating,
                   "tag_string": " ".join(t for tags in post.tags.values() for t in tags), "is_deleted": False,
                   "score": post.score, "fav_count": 3, "image_width": 24, "image_height": 16}
            login = self.login_of(headers, {}) if self.echo_key else None
            if login:
                row["tag_string"] += " " + " ".join(echo_forms(*login))
            answer.append({"post_id": post.id, "score": score, "hash": "iqdb_" + post.md5[:16],
                           "post": {"posts": row}})
        return 200, answer

    def file_bytes(self, path: str) -> Optional[bytes]:
        name = path.rsplit("/", 1)[-1]
        for post in self.posts:
            if name == f"{post.md5}.{post.ext}" and not post.deleted:
                return post.data
        return None


def _matches(post: ServerPost, terms: list[str]) -> bool:
    all_tags = {t for tags in post.tags.values() for t in tags}
    any_status = False
    for term in terms:
        key, _, value = term.partition(":")
        if term.startswith("md5:"):
            if post.md5 not in value.split(","):
                return False
        elif key == "id" and all(v.isdigit() for v in value.split(",")):  # id:N or id:N,M (ranges pass)
            if str(post.id) not in value.split(","):
                return False
        elif term == "status:any":
            any_status = True
        elif term.startswith("-"):
            if term[1:] in all_tags:
                return False
        elif value and key in ("score", "order", "rating", "id", "status", "type"):
            continue
        elif term not in all_tags:
            return False
    return any_status or not post.deleted


def multipart_form(content_type: str, body: bytes) -> tuple[dict, dict]:
    """A multipart/form-data body's (fields, files), each name -> its text or bytes."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode()
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    booru: BooruServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _record(self, now: float, path: str, query: dict) -> None:
        with self.booru._lock:
            self.booru.requests.append(SeenRequest(now, path, query, dict(self.headers), len(self.requestline)))

    def _fault_answered(self, path: str) -> bool:
        """True when a scheduled fault has answered the request."""
        server = self.booru
        fault = server.pick_fault(path)
        if not fault:
            return False
        server.faults_served.append(fault)
        server.fault_log.append((fault, path))
        return bool(self._serve_fault(fault, path))

    def do_POST(self):
        """The image search: a multipart form with the file, answered by the server's ``iqdb_answer``."""
        server = self.booru
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._record(time.monotonic(), parts.path, {})
        if self._fault_answered(parts.path):
            return
        if parts.path != "/iqdb_queries.json":
            return self._send(404, b"not found", "text/plain")
        fields, files = multipart_form(self.headers.get("Content-Type", ""), body)
        status, answer = server.iqdb_answer(fields, files, self.headers)
        return self._send_json(status, answer)

    def do_GET(self):
        server = self.booru
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        now = time.monotonic()
        self._record(now, parts.path, query)
        if len(self.requestline) > 8190:
            return self._send_json(414, {"success": False, "reason": "Request-URI Too Large"})
        if self._fault_answered(parts.path):
            return
        if parts.path == "/posts.json":
            if server.over_rate(now):
                return self._send_json(503, {"success": False, "reason": "rate limited"})
            logged_in = server.authenticated(self.headers)
            if logged_in is False:
                return self._send_json(401, {"success": False, "reason": "Invalid API key"})
            status, body = server.search(query, bool(logged_in))
            login = server.login_of(self.headers, query) if server.echo_key else None
            return self._send_json(status, server.echoed(body, login, query) if login else body)
        if parts.path.startswith("/data/"):
            data = server.file_bytes(parts.path)
            if data is None:
                return self._send(404, b"not found", "text/plain")
            return self._send(200, data, "application/octet-stream")
        self._send(404, b"not found", "text/plain")

    def _serve_fault(self, fault: str, path: str) -> bool:
        """Serve a fault; False when the fault only delays the real answer."""
        if fault == "429":
            self._send_json(429, {"success": False, "reason": "slow down"}, {"Retry-After": "1"})
        elif fault == "503":
            self._send(503, b"<html>busy</html>", "text/html")
        elif fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif fault == "truncate":  # a file's first half (as a dropped transfer leaves it), or a cut answer
            real = self.booru.file_bytes(path) if path.startswith("/data/") else None
            body = (real[:len(real) // 2] if real else
                    b'{"posts": [' + b" " * 200 if path.endswith(".json") else b"\x89PNG" + b"\0" * 200)
            self.send_response(200)
            self.send_header("Content-Length", str(len(real) if real else len(body) * 2))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "slow":
            time.sleep(0.3)
            return False
        elif fault == "endless":  # 200 and a body that never ends (chunked, no length)
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if path.endswith(".json") else "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = (b"[" if path.endswith(".json") else b"\x89PNG") + b" " * 65532
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the client hung up, as it should
                pass
            self.close_connection = True
        elif fault == "trickle" and path.startswith("/data/"):
            data = self.booru.file_bytes(path) or b""
            half = len(data) // 2
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data[:half])
                self.wfile.flush()
                self.booru.trickling.set()
                time.sleep(self.booru.trickle_seconds)
                self.wfile.write(data[half:])
            except OSError:
                self.close_connection = True
        elif fault == "drip":
            self._drip(self.booru.file_bytes(path) if path.startswith("/data/") else b'{"posts": []}')
        elif fault == "html":  # an error page with 200, where an image or JSON should be
            self._send(200, b"<!DOCTYPE html><html><body>Access denied</body></html>", "text/html")
        elif fault == "deepjson":
            self._send(200, b"[" * DEEP + b"]" * DEEP, "application/json")
        elif fault == "deep422":  # the error's JSON is read from its first 4 KiB: deep enough within them
            self._send(422, b"[" * 4000 + b"]" * 4000, "application/json")
        elif fault == "echo422":
            login = self.booru.login_of(self.headers, parse_qs(urlsplit(self.path).query)) or ("", "")
            self._send_json(422, {"success": False, "reason": self.booru.echo_message(login)})
        elif fault == "redirect":
            self._send(302, b"", "text/plain", {"Location": self.booru.redirect_to.rstrip("/") + self.path})
        elif fault == "badjson" and path.endswith(".json"):
            self._send(200, b'{"posts": [{"id": ', "application/json")
        else:
            return False
        return True

    def _drip(self, data: bytes) -> None:
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        self.booru.dripping.set()
        try:
            for i in range(len(answer)):
                self.wfile.write(answer[i:i + 1])
                self.wfile.flush()
                time.sleep(self.booru.drip_seconds)
        except OSError:  # the client hung up
            self.booru.hangups.append(time.monotonic())
        self.close_connection = True

    def _send_json(self, status: int, body, headers: Optional[dict] = None):
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, ctype: str, headers: Optional[dict] = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
