"""One API rate per server for the whole machine: every run (the tab's steps, the app's queue, command lines) counts
its requests in one pyrate-limiter SQLite bucket in the cache folder, under its file lock, so together they never
send a server more than the rate one run may.

Each server (host and port) has its own table.  A run waits until no request to that server went out within its
interval (one second at 1 request a second); the check and the record are one step under the lock, across
processes.  Where the cache folder cannot hold the file, the run keeps the rate for itself alone and says so in
the log.

A site's other throttles (e621's image search: 1 look-up a minute without a login) are a :class:`Pace` each, kept in
a table of their own, so they neither slow nor count against the API rate.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from dataclasses import dataclass

from pyrate_limiter import InMemoryBucket, Limiter, Rate, SQLiteBucket

from .cachedir import default_cache_dir

log = logging.getLogger(__name__)

RATE_FILE = "rates.sqlite3"

_limiters: dict[tuple[str, str, tuple], Limiter] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Pace:
    """At most ``limit`` requests in any ``period`` seconds: a site's throttle of one kind of request (``kind``)."""

    limit: int
    period: float
    kind: str

    def text(self) -> str:
        return f"{self.limit} per {self.period:g} s"

    def seconds_for(self, count: int, owed: float = 0.0) -> float:
        """About how long ``count`` requests take at this pace, ``owed`` seconds before the first may go: the first
        ``limit`` go at once, each later one a ``period`` after the one ``limit`` before it."""
        if count <= 0:
            return 0.0
        return owed + (count - 1) // self.limit * self.period


def machine_limiter(server: str, interval_ms: int) -> Limiter:
    """The limiter letting one request to ``server`` (``host:port``) go every ``interval_ms``, machine-wide."""
    return _shared(server, (Rate(1, interval_ms),))


def pace_limiter(server: str, pace: Pace) -> Limiter:
    """The machine-wide limiter of ``pace`` for ``server``: its table is the kind's, whatever the pace, so a run
    without a login sees the look-ups a run with one made a moment ago."""
    return _shared(f"{pace.kind}:{server}", (Rate(pace.limit, round(pace.period * 1000)),))


def seconds_until_free(limiter: Limiter, pace: Pace) -> float:
    """How long the next request at ``pace`` waits now: the ``limit``-th latest one must be a ``period`` old."""
    bucket = limiter.buckets()[0]
    latest = bucket.peek(pace.limit - 1)
    if latest is None:
        return 0.0
    return max(0.0, (latest.timestamp + pace.period * 1000 - bucket.now()) / 1000)


def _shared(name: str, rates: tuple) -> Limiter:
    path = default_cache_dir() / RATE_FILE
    key = (str(path), name, tuple((rate.limit, rate.interval) for rate in rates))  # Rate compares by identity
    with _lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = Limiter(_bucket(path, name, list(rates)))
    return limiter


def _bucket(path, server: str, rates: list[Rate]):
    table = "rate_" + hashlib.sha256(server.encode()).hexdigest()[:24]  # any host name makes a safe table name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteBucket.init_from_file(rates, table=table, db_path=str(path), use_file_lock=True)
    except (OSError, sqlite3.Error) as exc:
        log.warning("cannot share the API rate with other runs through %s (%s); this run keeps it alone", path, exc)
        return InMemoryBucket(rates)
