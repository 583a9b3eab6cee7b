"""Whole-request deadlines and cancel for ``requests``, which only knows per-read timeouts.

A server that sends one byte every few seconds never trips a read timeout, and a read blocked in ``recv`` does not
look at a cancel event.  So every request runs under a :class:`Watch` (its deadline and the run's cancel event), and
one watchdog thread shuts the socket of a request that passed either: the blocked read returns at once with an error,
which :mod:`sd_dataset.http` turns into its sentence.  The connections learn their request's watch through
:class:`WatchedAdapter`, mounted on the session in place of requests' own adapter.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

POLL = 0.1  # seconds between the watchdog's looks: how soon a cancel or a passed deadline shuts the socket
DEADLINE, CANCELLED = "deadline", "cancelled"


class Watch:
    """One request's deadline (``seconds`` from its start; :meth:`extend` may move it) and cancel event."""

    def __init__(self, seconds: float, cancel: Optional[threading.Event] = None):
        self.started = time.monotonic()
        self.seconds = seconds
        self.cancel = cancel
        self.fired = ""  # DEADLINE or CANCELLED once the watchdog shut the request's socket
        self._connection = None
        self._done = False
        self._lock = threading.Lock()

    def extend(self, seconds: float) -> None:
        """Give the request ``seconds`` from its start in all (a file's budget, once its size is known)."""
        self.seconds = seconds

    def overdue(self, now: float) -> str:
        if self.cancel is not None and self.cancel.is_set():
            return CANCELLED
        return DEADLINE if now - self.started >= self.seconds else ""

    def attach(self, connection) -> None:
        with self._lock:
            self._connection = connection
            fired = self.fired
        if fired:  # it fired while no socket was known yet (connecting)
            _shut(connection)

    def fire(self, why: str) -> None:
        with self._lock:
            if self._done or self.fired:
                return
            self.fired = why
            connection = self._connection
        if connection is not None:
            _shut(connection)

    def finish(self) -> None:
        with self._lock:
            self._done = True


def _shut(connection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # the plain socket's shutdown, also under TLS: it wakes a blocked recv in another thread, and unlike
        # SSLSocket.shutdown it leaves the TLS object that thread is reading through alone
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass


class _Watchdog:
    """The one thread that fires the watches of requests past their deadline or cancelled."""

    def __init__(self):
        self._watches: set[Watch] = set()
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def add(self, watch: Watch) -> None:
        with self._wake:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sd-dataset-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()

    def discard(self, watch: Watch) -> None:
        with self._wake:
            self._watches.discard(watch)

    def watches(self) -> list[Watch]:
        with self._wake:
            return list(self._watches)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._watches:
                    self._wake.wait()
                watches = list(self._watches)
            now = time.monotonic()
            for watch in watches:
                why = watch.overdue(now)
                if why:
                    watch.fire(why)
            time.sleep(POLL)


_WATCHDOG = _Watchdog()
_current = threading.local()  # the watch of the request this thread is making


def in_flight() -> list[Watch]:
    """The watches of the requests this process has in flight."""
    return _WATCHDOG.watches()


@contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Run the request made inside the block under ``watch``."""
    _current.watch = watch
    _WATCHDOG.add(watch)
    try:
        yield watch
    finally:
        watch.finish()
        _WATCHDOG.discard(watch)
        _current.watch = None


class _Watched:
    """A urllib3 connection that hands itself to the watch of the request using it: a new one when it connects,
    a pooled one when it sends."""

    def connect(self):
        _attach(self)
        super().connect()

    def request(self, *args, **kwargs):
        _attach(self)
        return super().request(*args, **kwargs)


def _attach(connection) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(connection)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, with connections a :class:`Watch` can shut."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
