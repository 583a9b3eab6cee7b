"""Real HTTP servers on 127.0.0.1 shaped like the other site families' APIs.

* :class:`DanbooruServer`: ``/posts.json`` → bare array with ``tag_string_<category>``;
  ``md5`` and file URLs dropped from posts hidden from this login; limit capped at
  200; ``b<id>``/``a<id>`` cursors and pages ≤ 1000; the tag limit (2 anonymous)
  answered with Danbooru's 422 error JSON; Basic auth; ``POST /iqdb_queries.json`` with ``search[file]``
  for logged-in users, scores squared.
* :class:`GelbooruServer`: ``/index.php?page=dapi&s=post&q=index&json=1`` with
  ``tags``/``limit``/``pid``, ``id:<N``, ``md5:``, ``sort:``; the gelbooru.com shape
  ``{"@attributes": {...}, "post": [...]}`` or (``shape="array"``, rule34.xxx and
  safebooru.org) a bare array with ``hash`` and an empty body for no results;
  ``s=tag`` answers tag types; ``user_id``/``api_key`` query parameters.  With
  ``echo_key`` it echoes the login into posts, HTML-escaped tags included, and the
  scripted ``echorefusal`` refuses a search in words that quote the URL-encoded key.
* :class:`MoebooruServer`: ``/post.json`` → bare array with flat ``tags``, or with
  ``api_version=2`` (moebooru's ``post_controller``) ``{"posts": [...]}`` plus, with
  ``include_tags=1``, ``"tags": {name: type}`` for every tag of those posts (each
  post's category names its tags' type; ``api_v2=False`` plays a site that ignores
  the parameter); page numbers, ``md5:a,b`` lists, ``login``/``password_hash``
  parameters, files under ``/image/<md5>/<site> <id> <tags>.<ext>`` as yande.re names them.

The request log, scripted and random faults and file bytes are
:class:`booru_server.BooruServer`'s; only the routing and answers differ.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs, quote, unquote, urlsplit

from booru_server import BooruServer, SeenRequest, ServerPost, _Handler, echo_forms


@dataclass
class SiteRequest(SeenRequest):
    api: bool = True

    @property
    def is_api(self) -> bool:
        return self.api


class SiteServer(BooruServer):
    """A booru server whose API lives at ``api_paths``; subclasses answer :meth:`answer`."""

    api_paths: tuple = ()
    rate_status = 503

    def start(self):
        from http.server import ThreadingHTTPServer
        import threading

        server = self

        class Handler(_SiteHandler):
            booru = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def answer(self, path: str, query: dict, headers) -> tuple[int, object]:
        raise NotImplementedError

    def file_for(self, path: str) -> Optional[bytes]:
        return self.file_bytes(path)

    def visible(self, post: ServerPost, logged_in: bool) -> bool:
        return not post.deleted and (logged_in or not post.hidden)


class _SiteHandler(_Handler):
    booru: SiteServer

    def do_GET(self):
        server = self.booru
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        now = time.monotonic()
        is_api = parts.path in server.api_paths
        with server._lock:
            server.requests.append(SiteRequest(now, parts.path, query, dict(self.headers), len(self.requestline),
                                               api=is_api))
        if len(self.requestline) > 8190:
            return self._send_json(414, {"success": False, "message": "Request-URI Too Large"})
        fault = server.pick_fault(parts.path)
        if fault == "echo400":  # an error whose message repeats the request, credentials and all
            return self._send_json(400, {"success": False, "message": f"bad request: {unquote(parts.query)}"})
        if fault == "echorefusal":  # gelbooru's refusal (200, success false), quoting the request as it came
            login = server.login_of(self.headers, query) or ("", "")
            return self._send_json(200, {"success": False, "message": f"{server.echo_message(login)}: {parts.query}"})
        if fault:
            server.faults_served.append(fault)
            if self._serve_fault(fault, parts.path):
                return
        if is_api:
            if server.over_rate(now):
                return self._send_json(server.rate_status, {"success": False, "message": "rate limited"})
            status, body = server.answer(parts.path, query, self.headers)
            if isinstance(body, bytes):
                return self._send(status, body, "application/json")
            return self._send_json(status, body)
        data = server.file_for(unquote(parts.path))
        if data is None:
            return self._send(404, b"not found", "text/plain")
        return self._send(200, data, "application/octet-stream")

    def _serve_fault(self, fault: str, path: str) -> bool:
        if fault == "badjson" and path in self.booru.api_paths:
            self._send(200, b'[{"id": ', "application/json")
            return True
        return super()._serve_fault(fault, path)


def _terms(query: dict) -> list[str]:
    return query.get("tags", [""])[0].split()


def _tag_match(post: ServerPost, term: str) -> bool:
    all_tags = {t for tags in post.tags.values() for t in tags}
    if term.startswith("-"):
        return term[1:] not in all_tags
    return term in all_tags


# -- Danbooru ------------------------------------------------------------------------

DANBOORU_FREE = {"status", "rating", "limit", "is", "id", "date", "age", "filesize", "filetype", "parent", "child",
                 "md5", "width", "height", "duration", "mpixels", "ratio", "score", "upvote", "downvotes", "favcount",
                 "embedded", "tagcount", "pixiv_id", "pixiv"}
DANBOORU_CATEGORIES = ("general", "artist", "copyright", "character", "meta")


class DanbooruServer(SiteServer):
    api_paths = ("/posts.json",)
    rate_status = 429

    def __init__(self, posts=None, *, tag_limit_logged_in: int = 6, tag_limit_anonymous: int = 2, **kwargs):
        kwargs.setdefault("max_per_second", 10)
        super().__init__(posts, **kwargs)
        self.tag_limit_logged_in = tag_limit_logged_in
        self.tag_limit_anonymous = tag_limit_anonymous

    def post_json(self, post: ServerPost, logged_in: bool) -> dict:
        tags = {cat: " ".join(post.tags.get(cat, [])) for cat in DANBOORU_CATEGORIES}
        data = {
            "id": post.id, "created_at": "2024-01-02T03:04:05.000-05:00", "uploader_id": 1, "score": post.score,
            "source": "https://example.invalid/source", "md5": post.md5, "last_comment_bumped_at": None,
            "rating": post.rating, "image_width": 24, "image_height": 16,
            "tag_string": " ".join(t for cat in DANBOORU_CATEGORIES for t in post.tags.get(cat, [])),
            "fav_count": 3, "file_ext": post.ext, "last_noted_at": None, "parent_id": None, "has_children": False,
            "approver_id": None, "file_size": len(post.data), "up_score": post.score, "down_score": 0,
            "is_pending": False, "is_flagged": False, "is_deleted": post.deleted, "is_banned": False,
            "pixiv_id": None, "has_active_children": False, "bit_flags": 0, "has_large": False,
            "has_visible_children": False,
            **{f"tag_count_{cat}": len(post.tags.get(cat, [])) for cat in DANBOORU_CATEGORIES},
            **{f"tag_string_{cat}": value for cat, value in tags.items()},
            "file_url": self.file_url(post), "large_file_url": self.file_url(post),
            "preview_file_url": f"{self.url}/data/preview/{post.md5}.jpg",
        }
        if not (logged_in or not post.hidden):
            for key in ("md5", "file_url", "large_file_url", "preview_file_url"):
                data.pop(key)
        return data

    def answer(self, path, query, headers):
        logged_in = self.authenticated(headers)
        if logged_in is False:
            return 401, {"success": False, "error": "SessionLoader::AuthenticationFailure",
                         "message": "Invalid API key"}
        terms = _terms(query)
        counted = [t for t in terms if t.lstrip("-~").partition(":")[0] not in DANBOORU_FREE or ":" not in t]
        allowed = self.tag_limit_logged_in if logged_in else self.tag_limit_anonymous
        if len(counted) > allowed:
            return 422, {"success": False, "error": "PostQuery::TagLimitError",
                         "message": f"You cannot search for more than {allowed} tags at a time. "
                                    "Upgrade your account to search for more tags at once."}
        limit = min(200, int(query.get("limit", ["20"])[0]))  # Danbooru caps the limit silently
        matches = [p for p in self.posts if self._matches(p, terms)]
        page = query.get("page", ["1"])[0]
        if page.startswith("b"):
            matches = sorted((p for p in matches if p.id < int(page[1:])), key=lambda p: -p.id)[:limit]
        elif page.startswith("a"):
            matches = sorted((p for p in matches if p.id > int(page[1:])), key=lambda p: p.id)[:limit][::-1]
        else:
            number = int(page)
            if number > 1000:
                return 410, {"success": False, "error": "PaginationExtension::PaginationError",
                             "message": "You cannot go beyond page 1000."}
            matches = sorted(matches, key=lambda p: -p.id)[(number - 1) * limit: number * limit]
        return 200, [self.post_json(p, bool(logged_in)) for p in matches]

    def iqdb_answer(self, fields: dict, files: dict, headers) -> tuple[int, object]:
        """Danbooru's ``POST /iqdb_queries.json`` (its ``create``, which its policy lets only Members make): the
        upload in ``search[file]``, at most ``search[limit]`` matches (default 20), each ``{post_id, score, post}``
        with the whole post and the score squared, as its iqdb_client's ``process_results`` makes it."""
        logged_in = self.authenticated(headers)
        if not logged_in:
            return (401, {"success": False, "message": "Invalid API key"}) if logged_in is False else (
                403, {"success": False, "error": "User::PrivilegeError", "message": "Access denied"})
        self.iqdb_times.append(time.monotonic())
        upload = files.get("search[file]")
        if upload is None:
            return 200, []
        limit = int(fields.get("search[limit]") or 20)
        return 200, [{"post_id": post.id, "score": 100 * (score / 100) ** 2, "hash": "iqdb_" + post.md5[:16],
                      "post": self.post_json(post, True)} for post, score in self.iqdb_matches(upload, 0)[:limit]]

    @staticmethod
    def _matches(post: ServerPost, terms: list[str]) -> bool:
        any_status = False
        for term in terms:
            name, _, value = term.partition(":")
            if name == "md5":
                if post.md5 not in value.split(",")[:100]:
                    return False
            elif term == "status:any":
                any_status = True
            elif name in DANBOORU_FREE or name == "order":
                continue
            elif not _tag_match(post, term):
                return False
        return any_status or not post.deleted


# -- Gelbooru ------------------------------------------------------------------------

GELBOORU_RATING = {"g": "general", "s": "sensitive", "q": "questionable", "e": "explicit"}
V02_RATING = {"g": "safe", "s": "safe", "q": "questionable", "e": "explicit"}


class GelbooruServer(SiteServer):
    """``shape``: "gelbooru" (gelbooru.com 0.2.5) or "array" (Gelbooru 0.2: rule34.xxx, safebooru.org)."""

    api_paths = ("/index.php",)
    rate_status = 429

    def __init__(self, posts=None, *, shape: str = "gelbooru", auth: Optional[tuple[str, str]] = None,
                 tag_types: Optional[dict] = None, file_url: bool = True, **kwargs):
        super().__init__(posts, **kwargs)
        self.shape = shape
        self.auth = auth  # (user_id, api_key) the API insists on; None: anonymous reads work
        self.tag_types = tag_types or {}
        self.with_file_url = file_url

    def file_url(self, post: ServerPost) -> str:
        return f"{self.url}/images/{post.md5[:2]}/{post.md5[2:4]}/{post.md5}.{post.ext}"

    def post_json(self, post: ServerPost) -> dict:
        tags = " ".join(html.escape(t, quote=True).replace("&#x27;", "&#039;")
                        for cat in post.tags.values() for t in cat)
        if self.shape == "gelbooru":
            return {
                "id": post.id, "created_at": "Tue Jan 02 03:04:05 -0500 2024", "score": post.score, "width": 24,
                "height": 16, "md5": post.md5, "directory": f"{post.md5[:2]}/{post.md5[2:4]}",
                "image": f"{post.md5}.{post.ext}", "rating": GELBOORU_RATING.get(post.rating, post.rating),
                "source": "https://example.invalid/source", "change": 1700000000, "owner": "someone",
                "creator_id": 1, "parent_id": 0, "sample": 0, "preview_height": 16, "preview_width": 24,
                "tags": tags, "title": "", "has_notes": "false", "has_comments": "false",
                "file_url": self.file_url(post) if not post.hidden else "",
                "preview_url": f"{self.url}/thumbnails/{post.md5}.jpg", "sample_url": "", "sample_height": 0,
                "sample_width": 0, "status": "active", "post_locked": 0, "has_children": "false",
            }
        data = {
            "preview_url": f"{self.url}/thumbnails/{post.md5}.jpg", "sample_url": "",
            "directory": f"{post.md5[:2]}/{post.md5[2:4]}", "hash": post.md5, "width": 24, "height": 16,
            "id": post.id, "image": f"{post.md5}.{post.ext}", "change": 1700000000, "owner": "someone",
            "parent_id": 0, "rating": V02_RATING.get(post.rating, post.rating), "sample": False,
            "sample_height": 0, "sample_width": 0, "score": post.score, "tags": tags, "source": "",
            "status": "active", "has_notes": False, "comment_count": 0,
        }
        if self.with_file_url:
            data["file_url"] = self.file_url(post)
        return data

    def answer(self, path, query, headers):
        one = {k: v[0] for k, v in query.items()}
        if (one.get("page"), one.get("q"), one.get("json")) != ("dapi", "index", "1"):
            return 200, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><posts count=\"0\"></posts>"
        if self.auth is not None and (one.get("user_id"), one.get("api_key")) != self.auth:
            return 401, b'"Unauthorized"'
        if one.get("s") == "tag":
            names = one.get("names", "").split()
            tags = [{"id": i, "name": html.escape(n, quote=True).replace("&#x27;", "&#039;"), "count": 5,
                     "type": self.tag_types[n], "ambiguous": 0} for i, n in enumerate(names) if n in self.tag_types]
            return 200, {"@attributes": {"limit": 100, "offset": 0, "count": len(tags)}, **({"tag": tags} if tags else {})}
        terms = [t for t in _terms(query) if not (self.stuck_paging and t.startswith("id:<"))]
        limit = min(1000, int(one.get("limit", "100")))
        pid = 0 if self.stuck_paging else int(one.get("pid", "0"))
        if pid * limit > 20000:
            return 200, {"success": False, "message": "Too deep! Pull it back some. Holy fuck."}
        matches = [p for p in self.posts if not p.deleted and self._matches(p, terms)]
        order = next((t.split(":", 1)[1] for t in terms if t.startswith("sort:")), "id:desc")
        key = (lambda p: -p.score) if order.startswith("score") else (lambda p: -p.id)
        matches = sorted(matches, key=key)
        page = matches[pid * limit:(pid + 1) * limit]
        posts = [self.post_json(p) for p in page]
        login = self.login_of(headers, query) if self.echo_key else None
        if login:
            posts = [self.echoed_post(raw, login) for raw in posts]
        if self.shape == "array":
            return 200, json.dumps(posts).encode() if posts else b""
        return 200, {"@attributes": {"limit": limit, "offset": pid * limit, "count": len(matches)},
                     **({"post": posts} if posts else {})}

    def echoed_post(self, raw: dict, login: tuple[str, str]) -> dict:
        """A post with the login echoed into its tags (also as HTML character references), source and file url."""
        user, key = login
        escaped = "".join(f"&#{ord(c)};" for c in key)
        raw["tags"] = " ".join([raw["tags"], *echo_forms(user, key), escaped])
        raw["source"] = f"https://example.invalid/?user_id={user}&api_key={quote(key, safe='')}"
        if raw.get("file_url"):
            raw["file_url"] += "?api_key=" + quote(key, safe="")
        return raw

    @staticmethod
    def _matches(post: ServerPost, terms: list[str]) -> bool:
        for term in terms:
            name, _, value = term.partition(":")
            if name == "md5":
                if post.md5 != value:  # one hash per term: no lists
                    return False
            elif name == "id" and value.startswith("<"):
                if not post.id < int(value[1:]):
                    return False
            elif name in ("sort", "rating", "score"):
                continue
            elif not _tag_match(post, term):
                return False
        return True

    def file_for(self, path: str) -> Optional[bytes]:
        if not path.startswith("/images/"):
            return None
        return self.file_bytes(path)


# -- Moebooru ------------------------------------------------------------------------

class MoebooruServer(SiteServer):
    api_paths = ("/post.json",)
    rate_status = 503

    def __init__(self, posts=None, *, site: str = "yande.re", auth: Optional[tuple[str, str]] = None,
                 protocol_relative: bool = False, api_v2: bool = True, **kwargs):
        super().__init__(posts, **kwargs)
        self.site = site
        self.auth = auth  # (login, password_hash) that counts as logged in
        self.protocol_relative = protocol_relative
        self.api_v2 = api_v2

    def file_url(self, post: ServerPost) -> str:
        tags = " ".join(t for cat in post.tags.values() for t in cat)
        url = f"{self.url}/image/{post.md5}/{quote(f'{self.site} {post.id} {tags}')}.{post.ext}"
        return url.split(":", 1)[1] if self.protocol_relative else url

    def post_json(self, post: ServerPost, logged_in: bool) -> dict:
        url = self.file_url(post) if logged_in or not post.hidden else ""
        return {
            "id": post.id, "tags": " ".join(t for cat in post.tags.values() for t in cat), "created_at": 1700000000,
            "updated_at": 1700000001, "creator_id": 1, "approver_id": None, "author": "someone", "change": 5,
            "source": "", "score": post.score, "md5": post.md5, "file_size": len(post.data),
            "file_ext": post.ext, "file_url": url, "is_shown_in_index": True,
            "preview_url": f"{self.url}/data/preview/{post.md5}.jpg", "preview_width": 24, "preview_height": 16,
            "actual_preview_width": 24, "actual_preview_height": 16, "sample_url": url, "sample_width": 24,
            "sample_height": 16, "sample_file_size": 0, "jpeg_url": url, "jpeg_width": 24, "jpeg_height": 16,
            "jpeg_file_size": 0, "rating": post.rating, "is_rating_locked": False, "has_children": False,
            "parent_id": None, "status": "active", "is_pending": False, "width": 24, "height": 16,
            "is_held": False, "frames_pending_string": "", "frames_pending": [], "frames_string": "",
            "frames": [], "is_note_locked": False, "last_noted_at": 0, "last_commented_at": 0,
        }

    def answer(self, path, query, headers):
        one = {k: v[0] for k, v in query.items()}
        logged_in = False
        if "login" in one or "password_hash" in one:
            if (one.get("login"), one.get("password_hash")) != self.auth:
                return 403, {"success": False, "reason": "access denied"}
            logged_in = True
        terms = _terms(query)
        limit = min(1000, int(one.get("limit", "40")))
        page = 1 if self.stuck_paging else max(1, int(one.get("page", "1")))
        matches = sorted((p for p in self.posts if not p.deleted and self._matches(p, terms)), key=lambda p: -p.id)
        shown = matches[(page - 1) * limit: page * limit]
        posts = [self.post_json(p, logged_in) for p in shown]
        if not (self.api_v2 and one.get("api_version") == "2"):
            return 200, posts
        answer = {"posts": posts}  # votes and pools only when asked for (include_votes, include_pools)
        if one.get("include_tags") == "1":
            answer["tags"] = {tag: category for p in shown for category, tags in p.tags.items() for tag in tags}
        return 200, answer

    @staticmethod
    def _matches(post: ServerPost, terms: list[str]) -> bool:
        for term in terms:
            name, _, value = term.partition(":")
            if name == "md5":
                if post.md5 not in value.split(","):
                    return False
            elif name in ("order", "rating", "score", "limit"):
                continue
            elif not _tag_match(post, term):
                return False
        return True

    def file_for(self, path: str) -> Optional[bytes]:
        parts = path.split("/")
        if len(parts) < 4 or parts[1] != "image":
            return None
        for post in self.posts:
            if post.md5 == parts[2] and not post.deleted and path.endswith("." + post.ext):
                return post.data
        return None
