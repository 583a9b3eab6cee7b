"""Search → verified, atomic, resumable downloads named ``<md5>.<ext>``, each with a ``<md5>.json`` sidecar."""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from .boorus.base import STILL_IMAGE_EXTS, Booru, Post, check_query
from .errors import Cancelled, DatasetError
from .files import (Refused, atomic_open, ensure_writable_dir, md5_of_file, read_inside, remove_stale_temps,
                    write_text_if_changed)
from .http import Exhausted, looks_like_html
from .lock import folder_lock
from .progress import Progress
from .summaries import by_reason
from .wording import option

log = logging.getLogger(__name__)

DOWNLOADED, PRESENT = "downloaded", "present"


@dataclass
class Failure:
    name: str
    reason: str


@dataclass
class FetchReport:
    considered: int = 0
    downloaded: int = 0
    present: int = 0
    skipped_type: Counter = field(default_factory=Counter)
    deleted: int = 0
    hidden: int = 0
    failed: list[Failure] = field(default_factory=list)
    search_end: str = ""  # why the search stopped before the site's results ended, if it did
    api_requests: int = 0
    file_requests: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.search_end

    def summary(self, login_hint: Optional[str] = None) -> list[str]:
        """The report's lines; ``login_hint`` says how to log in to the site (its :attr:`Site.login_hint`)."""
        login_hint = login_hint or _login_words()
        skipped = sum(self.skipped_type.values())
        lines = [
            f"considered {self.considered} posts: downloaded {self.downloaded}, already present {self.present}, "
            f"skipped by type {skipped}, unavailable {self.deleted + self.hidden}, failed {len(self.failed)}"
        ]
        if skipped:
            lines.append("  skipped by type: " + ", ".join(f"{ext} {n}" for ext, n in self.skipped_type.most_common()))
        if self.deleted or self.hidden:
            lines.append(f"  unavailable: deleted {self.deleted}, hidden from this login {self.hidden}")
        lines += self.failure_lines()
        if self.search_end:
            lines.append(f"  {self.search_end}")
        if self.hidden:
            lines.append(f"hint: {self.hidden} posts have no file address for this login; log in with {login_hint} "
                         "to fetch them.")
        lines.append(f"requests: {self.api_requests} API, {self.file_requests} file, {self.retries} retried")
        return lines

    def failure_lines(self) -> list[str]:
        """One line per reason downloads failed for, with a count and examples."""
        return [f"  {line}" for line in by_reason(((f.name, f.reason, "") for f in self.failed), "failed")]

    def nothing_made(self, login_hint: Optional[str] = None) -> Optional[str]:
        """Why the folder holds none of the search's images, with what to change; None when it holds some."""
        if self.downloaded or self.present:
            return None
        if not self.considered:
            return "The search found no posts; check its tags on the site, or search for fewer tags."
        skipped = sum(self.skipped_type.values())
        parts = [f"{skipped} of other file types"] if skipped else []
        parts += [f"{self.deleted} deleted"] if self.deleted else []
        parts += [f"{self.hidden} hidden from this login"] if self.hidden else []
        parts += [f"{len(self.failed)} failed"] if self.failed else []
        fixes = [f"log in with {login_hint or _login_words()}"] if self.hidden else []
        fixes += [f"allow gif files with {option('gif')}"] if self.skipped_type.get("gif") else []
        fixes += ["a rerun tries the failed ones again"] if self.failed else []
        return (f"None of the {self.considered} posts found was downloaded ({', '.join(parts) or 'all duplicates'}); "
                f"{'; '.join(fixes) or 'search for other tags'}.")


def _login_words() -> str:
    return f"{option('username')} and {option('api_key')}"


def wanted_exts(include_gif: bool) -> frozenset[str]:
    return STILL_IMAGE_EXTS | {"gif"} if include_gif else STILL_IMAGE_EXTS


def fetch(booru: Booru, query: str, out: Path, *, limit: Optional[int] = None, workers: int = 4,
          include_gif: bool = False, progress: Optional[Progress] = None) -> FetchReport:
    """Download the still images among the first ``limit`` results of ``query`` into ``out``."""
    if workers < 1:
        raise DatasetError("The number of parallel downloads must be at least 1.")
    if limit is not None and limit < 0:
        raise DatasetError("The limit must be zero or more.")
    if not query.strip():
        raise DatasetError("The search is empty, which would fetch the whole site; type a search first, e.g. "
                           "red_panda solo.")
    check_query(query, booru.max_tags_per_search, booru.name)
    out = ensure_writable_dir(Path(out))
    progress = progress or Progress()
    with folder_lock(out, "fetch"), booru.http.cancel_on(progress.cancel_event):
        return _fetch_locked(booru, query, out, limit, workers, include_gif, progress)


def _fetch_locked(booru: Booru, query: str, out: Path, limit: Optional[int], workers: int, include_gif: bool,
                  progress: Progress) -> FetchReport:
    remove_stale_temps(out)
    progress.start(limit, f"fetch {query}")
    run = _FetchRun(booru, out, wanted_exts(include_gif), limit, progress)
    stats = booru.http.stats
    http_before = (stats.api_requests, stats.requests, stats.retries)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        try:
            search_failed = run.fetch_pass(pool, workers, run.searched(query))
            # the last pass: a file that failed all its tries gets them again, and a search page that did is
            # asked for again (from the search's start: its cursor went with it), once the rest is done; a site
            # that answered nothing at all would only fail the same way again
            again, run.last_pass = list(run.retries.values()), True
            run.retries.clear()
            if search_failed and run.considered:
                search_failed = run.fetch_pass(pool, workers, itertools.chain(again, run.searched(query)))
            else:
                run.fetch_pass(pool, workers, iter(again))
            if search_failed:
                raise search_failed
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            run.finish()
            report = run.report
            report.api_requests = stats.api_requests - http_before[0]
            report.file_requests = stats.requests - http_before[1] - report.api_requests
            report.retries += stats.retries - http_before[2]
            progress.close()
    return report


class _FetchRun:
    """One fetch's state across its passes: what was considered, what is on its way, what gets a last try."""

    def __init__(self, booru: Booru, out: Path, exts: frozenset[str], limit: Optional[int], progress: Progress):
        self.booru, self.out, self.exts, self.limit, self.progress = booru, out, exts, limit, progress
        self.report = FetchReport()
        self.seen: set[str] = set()  # md5s given to a download
        self.considered: set[int] = set()  # post ids counted: a repeated search does not count them again
        self.retries: dict[str, Post] = {}  # md5 → post whose download failed all its tries
        self.last_pass = False
        self.pending: dict[Future, Post] = {}

    def searched(self, query: str) -> Iterator[Post]:
        """The search's posts still to download, each counted once in the report; the rest skipped."""
        for post in self.booru.search(query, self.limit):
            self.progress.check()
            if post.id in self.considered:
                continue
            self.considered.add(post.id)
            self.report.considered += 1
            if self.limit is None:
                self.progress.set_total(self.report.considered)
            reason = _skip_reason(post, self.exts, self.seen)
            if reason:
                _count_skip(self.report, post, reason)
                self.progress.advance()
                continue
            self.seen.add(post.md5)
            yield post
        self.progress.set_total(self.report.considered)  # the search has ended: these are all its posts

    def fetch_pass(self, pool: ThreadPoolExecutor, workers: int, posts: Iterator[Post]) -> Optional[Exhausted]:
        """Download ``posts`` and wait for all of them; a search that failed all its tries is returned, not raised,
        so the downloads under way finish first."""
        failed = None
        try:
            for post in posts:
                self.pending[pool.submit(_store_post, self.booru, post, self.out)] = post
                self._collect(block=len(self.pending) >= workers * 4)
        except Exhausted as exc:
            failed = exc
        while self.pending:
            self.progress.check()
            self._collect(block=True)
        return failed

    def _collect(self, block: bool) -> None:
        done, _ = wait(list(self.pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            post = self.pending.pop(future)
            try:
                outcome, retries = future.result()
            except Cancelled:
                raise
            except Exhausted as exc:
                if not self.last_pass:
                    self.retries[post.md5] = post
                    continue
                self.report.failed.append(Failure(post.filename, str(exc)))
            except DatasetError as exc:
                self.report.failed.append(Failure(post.filename, str(exc)))
                self.report.retries += getattr(exc, "retries", 0)
            except OSError as exc:
                self.report.failed.append(Failure(post.filename, f"could not write the file ({exc.strerror or exc})"))
            else:
                self.report.retries += retries
                if outcome == DOWNLOADED:
                    self.report.downloaded += 1
                else:
                    self.report.present += 1
            self.progress.advance()

    def finish(self) -> None:
        """Count the posts the site sent that were refused (once, though a repeated search refuses them again)."""
        rejected = list(dict.fromkeys(self.booru.rejected))
        self.booru.rejected.clear()
        self.report.considered += len(rejected)
        self.progress.advance(len(rejected))
        self.report.failed += [Failure(label, f"refused the site's data: {why}") for label, why in rejected]
        self.report.search_end = self.booru.search_end


def _skip_reason(post: Post, exts: frozenset[str], seen: set[str]) -> str:
    if post.ext not in exts:
        return "type"
    if post.md5 in seen:
        return "duplicate"
    if not post.file_url:
        return "deleted" if post.deleted else "hidden"
    return ""


def _count_skip(report: FetchReport, post: Post, reason: str) -> None:
    if reason == "type":
        report.skipped_type[post.ext] += 1
    elif reason == "deleted":
        report.deleted += 1
    elif reason == "hidden":
        report.hidden += 1


def _store_post(booru: Booru, post: Post, out: Path) -> tuple[str, int]:
    """Make ``<md5>.<ext>`` and its sidecar right in ``out``; (DOWNLOADED or PRESENT, downloads tried again)."""
    final = out / post.filename
    outcome, retries = PRESENT, 0
    if not (final.is_file() and md5_of_file(final) == post.md5):
        retries = _download_verified(booru, post, final)
        outcome = DOWNLOADED
    write_sidecar(out, post)
    return outcome, retries


def _download_verified(booru: Booru, post: Post, final: Path, tries: int = 2) -> int:
    """Download ``post`` until its bytes match its md5; how many times it was downloaded again (a retry each)."""
    web_page = False
    for attempt in range(1, tries + 1):
        try:
            with atomic_open(final, "w+b") as fh:
                md5, _ = booru.http.download(post.file_url, fh, max_bytes=post.size or None)
                if md5 != post.md5:
                    fh.seek(0)
                    raise _Mismatch(looks_like_html(fh.read(512)))
            return attempt - 1
        except _Mismatch as exc:
            web_page = exc.web_page
            log.info("%s: bytes do not match the md5 (try %d of %d)", post.filename, attempt, tries)
    if web_page:
        raise Unverified(f"the server sent a web page (an error or login page) instead of the image, so its md5 "
                         f"did not match, in {tries} tries; nothing was kept, and a rerun tries again", tries - 1)
    raise Unverified(f"the downloaded bytes did not match the post's md5 in {tries} tries; a rerun tries again",
                     tries - 1)


class Unverified(DatasetError):
    """A download whose bytes never matched the post's md5, after ``retries`` downloads again."""

    def __init__(self, reason: str, retries: int):
        super().__init__(reason)
        self.retries = retries


class _Mismatch(Exception):
    def __init__(self, web_page: bool = False):
        super().__init__()
        self.web_page = web_page


def sidecar_path(folder: Path, md5: str) -> Path:
    return Path(folder) / f"{md5}.json"


def write_sidecar(folder: Path, post: Post) -> None:
    path = sidecar_path(folder, post.md5)
    text = json.dumps(post.to_json(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    write_text_if_changed(path, text)


def read_sidecar(folder: Path, md5: str, real_root: Optional[Path] = None) -> Optional[Post]:
    """The post saved beside a download, or None when there is no usable sidecar.

    A sidecar that is no regular file inside the folder (``real_root``: its resolved path, when the caller has it)
    raises :class:`files.Refused`, for the caller to report: a link out or a FIFO is never read.
    """
    try:
        return Post.from_json(json.loads(read_inside(sidecar_path(folder, md5), real_root or Path(folder).resolve())))
    except Refused:
        raise
    except (OSError, ValueError, TypeError):
        return None
