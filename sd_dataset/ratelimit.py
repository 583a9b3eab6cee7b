"""One API rate per server for the whole machine: every run (the tab's steps, the app's queue, command lines) counts
its requests in one pyrate-limiter SQLite bucket in the cache folder, under its file lock, so together they never
send a server more than the rate one run may.

Each server (host and port) has its own table.  A run waits until no request to that server went out within its
interval (one second at 1 request a second); the check and the record are one step under the lock, across
processes.  Where the cache folder cannot hold the file, the run keeps the rate for itself alone and says so in
the log.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading

from pyrate_limiter import InMemoryBucket, Limiter, Rate, SQLiteBucket

from .cachedir import default_cache_dir

log = logging.getLogger(__name__)

RATE_FILE = "rates.sqlite3"

_limiters: dict[tuple[str, str, int], Limiter] = {}
_lock = threading.Lock()


def machine_limiter(server: str, interval_ms: int) -> Limiter:
    """The limiter letting one request to ``server`` (``host:port``) go every ``interval_ms``, machine-wide."""
    path = default_cache_dir() / RATE_FILE
    key = (str(path), server, interval_ms)
    with _lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = Limiter(_bucket(path, server, [Rate(1, interval_ms)]))
    return limiter


def _bucket(path, server: str, rates: list[Rate]):
    table = "rate_" + hashlib.sha256(server.encode()).hexdigest()[:24]  # any host name makes a safe table name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteBucket.init_from_file(rates, table=table, db_path=str(path), use_file_lock=True)
    except (OSError, sqlite3.Error) as exc:
        log.warning("cannot share the API rate with other runs through %s (%s); this run keeps it alone", path, exc)
        return InMemoryBucket(rates)
