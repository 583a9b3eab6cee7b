"""A persistent local cache of posts by md5, which also remembers the hashes a site does not know.

One SQLite file (``posts.sqlite3``) in the user's cache folder — ``$XDG_CACHE_HOME/sd_dataset``,
else ``~/.cache/sd_dataset`` — or where ``--cache`` says.  It runs in WAL mode, so any
number of readers can use it while one writer adds to it.  The offline index built from
e621's posts export (:mod:`sd_dataset.postindex`) lives in the same file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Optional, Union

from .boorus.base import ImageMatch, Post
from .cachedir import default_cache_dir
from .errors import DatasetError
from .wording import offers, option

DB_NAME = "posts.sqlite3"
_FILE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
_CHUNK = 500  # hashes per SELECT (SQLite's default limit on parameters is 999)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    site TEXT NOT NULL, md5 TEXT NOT NULL, found INTEGER NOT NULL, data TEXT, checked REAL NOT NULL,
    by_login INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, md5)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS export_posts (
    md5 TEXT PRIMARY KEY, id INTEGER, rating TEXT, tag_string TEXT, ext TEXT, score INTEGER,
    fav_count INTEGER, deleted INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tag_categories (name TEXT PRIMARY KEY, category INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS image_matches (
    site TEXT NOT NULL, md5 TEXT NOT NULL, found INTEGER NOT NULL, score REAL, cutoff REAL NOT NULL,
    by_login INTEGER NOT NULL, data TEXT, checked REAL NOT NULL,
    PRIMARY KEY (site, md5)) WITHOUT ROWID;
"""

MISSING = "missing"  # what lookups answer for a hash the site is remembered not to know


def cache_file(path: Optional[Union[str, Path]] = None) -> Path:
    """The cache's database file: ``path`` itself when it names a database file, else ``path/posts.sqlite3``."""
    if path is None:
        return default_cache_dir() / DB_NAME
    path = Path(path).expanduser()
    if path.is_file() or (not path.is_dir() and path.suffix.lower() in _FILE_SUFFIXES):
        return path
    return path / DB_NAME


def site_key(booru) -> str:
    """How cache rows name the server they came from (its base address, so a test server is not e621)."""
    return str(getattr(booru, "base_url", "") or booru.name).rstrip("/")


class PostCache:
    def __init__(self, path: Optional[Union[str, Path]] = None):
        self.path = cache_file(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 60000")
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass  # a read-only or network filesystem: the default journal still works
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.executescript(_SCHEMA)
            self._add_login_column()
        except (OSError, sqlite3.Error) as exc:
            where = f"pass {option('cache')} with" if offers("cache") else "set XDG_CACHE_HOME to"
            raise DatasetError(f"Cannot open the post cache {self.path} ({exc}); {where} a folder you can write "
                               "to.") from None

    def _add_login_column(self) -> None:
        """Caches made before misses knew whether a login asked; their misses count as anonymous."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(posts)")}
        if "by_login" not in columns:
            self.db.execute("ALTER TABLE posts ADD COLUMN by_login INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "PostCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- posts from a site ---------------------------------------------------------

    def get_many(self, site: str, md5s: Iterable[str], include_misses: bool = True,
                 logged_in: bool = False) -> dict[str, Union[Post, str]]:
        """Cached answers: a :class:`Post`, or :data:`MISSING` for a remembered miss; unknown hashes are absent.

        A site hides some posts from anonymous users, so a miss remembered without a login is no answer for a
        run that has one: that run asks again.
        """
        md5s = list(dict.fromkeys(md5s))
        answers: dict[str, Union[Post, str]] = {}
        for start in range(0, len(md5s), _CHUNK):
            chunk = md5s[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT md5, found, data, by_login FROM posts WHERE site = ? AND md5 IN ({marks})",
                                   [site, *chunk]).fetchall()
            for md5, found, data, by_login in rows:
                if not found:
                    if include_misses and (by_login or not logged_in):
                        answers[md5] = MISSING
                    continue
                try:
                    answers[md5] = Post.from_json(json.loads(data))
                except (ValueError, TypeError):
                    continue  # a damaged row is as good as none: ask again
        return answers

    def put_many(self, site: str, posts: Iterable[Post], misses: Iterable[str] = (), logged_in: bool = False) -> None:
        now, login = time.time(), int(logged_in)
        rows = [(site, p.md5, 1, json.dumps(p.to_json(), ensure_ascii=False, sort_keys=True), now, login)
                for p in posts]
        rows += [(site, m, 0, None, now, login) for m in misses]
        if not rows:
            return
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO posts (site, md5, found, data, checked, by_login) "
                                "VALUES (?,?,?,?,?,?)", rows)

    def forget_misses(self, site: str) -> int:
        with self._transaction():
            return self.db.execute("DELETE FROM posts WHERE site = ? AND found = 0", [site]).rowcount

    def count(self, site: Optional[str] = None) -> tuple[int, int]:
        """(posts, misses) remembered, for one site or all."""
        where, args = ("WHERE site = ?", [site]) if site else ("", [])
        found, missing = self.db.execute(
            f"SELECT COALESCE(SUM(found), 0), COALESCE(SUM(1 - found), 0) FROM posts {where}", args).fetchone()
        return int(found), int(missing)

    # -- posts found by their image (IQDB), by the md5 of the file that was searched for -----------------

    def get_image_matches(self, site: str, md5s: Iterable[str], cutoff: float, include_misses: bool = True,
                          logged_in: bool = False) -> dict[str, Union[ImageMatch, str]]:
        """Remembered image searches that answer a run with ``cutoff``: an :class:`ImageMatch`, or :data:`MISSING`.

        The best match is kept, so one below ``cutoff`` says no post reaches it; a miss answers only a cutoff at
        least as strict as the one it was asked with, and, as with posts, a miss without a login none for a run
        with one.  Hashes absent from the answer need a search.
        """
        md5s = list(dict.fromkeys(md5s))
        answers: dict[str, Union[ImageMatch, str]] = {}
        for start in range(0, len(md5s), _CHUNK):
            chunk = md5s[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT md5, found, score, cutoff, by_login, data FROM image_matches "
                                   f"WHERE site = ? AND md5 IN ({marks})", [site, *chunk]).fetchall()
            for md5, found, score, asked_cutoff, by_login, data in rows:
                if found and score is not None and score < cutoff:
                    if include_misses:
                        answers[md5] = MISSING
                elif found:
                    try:
                        answers[md5] = ImageMatch(Post.from_json(json.loads(data), hidden=True), float(score))
                    except (ValueError, TypeError):
                        continue  # a damaged row is as good as none: search again
                elif include_misses and asked_cutoff <= cutoff and (by_login or not logged_in):
                    answers[md5] = MISSING
        return answers

    def put_image_match(self, site: str, md5: str, match: Optional[ImageMatch], cutoff: float,
                        logged_in: bool = False) -> None:
        """Remember one image search's answer (``match`` None: none reached ``cutoff``) as soon as it comes, so a
        run cut short keeps the searches it paid for."""
        data = json.dumps(match.post.to_json(), ensure_ascii=False, sort_keys=True) if match else None
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO image_matches (site, md5, found, score, cutoff, by_login, data, "
                            "checked) VALUES (?,?,?,?,?,?,?,?)",
                            (site, md5, int(match is not None), match.score if match else None, cutoff,
                             int(logged_in), data, time.time()))

    # -- transactions ---------------------------------------------------------------

    def _transaction(self):
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
