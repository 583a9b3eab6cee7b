"""Hostile server data end to end: path-making fields, endless bodies, web pages for images, oversized files.

The field checks themselves are unit-tested in test_e621.py / test_sites.py; here a whole fetch runs against a
server that sends such data, and the test proves each is refused with a reason and nothing lands outside --out.
"""

import hashlib
import time
from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for, make_posts
from sd_dataset.errors import DatasetError
from sd_dataset.fetch import fetch
from sd_dataset.files import TEMP_SUFFIX
from sd_dataset.http import looks_like_html, size_text


def everything_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def assert_only_verified(out: Path, posts) -> None:
    names = {p.name for p in out.iterdir()}
    assert names == {f"{p.md5}.{p.ext}" for p in posts} | {f"{p.md5}.json" for p in posts}
    for post in posts:
        assert hashlib.md5((out / f"{post.md5}.{post.ext}").read_bytes()).hexdigest() == post.md5


def test_path_making_fields_are_refused_and_nothing_leaves_the_output(booru_server, tmp_path):
    good = make_posts(2)
    hostile = [
        ServerPost(id=1, data=image_bytes(1), ext="../../../escaped"),
        ServerPost(id=2, data=image_bytes(2), ext="/abs"),
        ServerPost(id=3, data=image_bytes(3), md5="../../../../tmp/escaped"),
        ServerPost(id=4, data=image_bytes(4), md5="/" + "a" * 31),
        ServerPost(id=5, data=image_bytes(5), md5="z" * 32),
        ServerPost(id=6, data=image_bytes(6), ext="png\x00.sh"),
    ]
    server = booru_server(good + hostile)
    out = tmp_path / "data" / "out"
    report = fetch(client_for(server), "red_ball", out)
    assert report.downloaded == 2 and len(report.failed) == len(hostile)
    assert all(f.reason.startswith("refused the site's data: invalid") for f in report.failed)
    assert_only_verified(out, good)
    assert everything_under(tmp_path) == {"data", "data/out"} | {f"data/out/{n}" for n in everything_under(out)}
    # the refused posts' files were never requested
    assert len(server.file_requests()) == 2


def test_endless_api_answer_is_bounded(booru_server):
    server = booru_server(make_posts(1))
    server.script("/posts.json", ["endless"])
    client = client_for(server, max_json_bytes=2 * 2**20)
    started = time.monotonic()
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball"))
    assert "sent an answer larger than 2 MiB" in str(err.value) and str(err.value).endswith(".")
    assert time.monotonic() - started < 10
    assert len(server.api_requests()) == 1  # not retried: the same answer would come again


def test_endless_file_is_bounded_by_the_posts_size(booru_server, tmp_path):
    posts = make_posts(3)
    server = booru_server(posts)
    server.script("/data/", ["endless"])
    report = fetch(client_for(server), "red_ball", tmp_path, workers=1)
    sizes = {f"{p.md5}.png": len(p.data) for p in posts}
    assert [f.reason for f in report.failed] == [
        f"the file from {server.url} is larger than the {sizes[report.failed[0].name]} bytes expected; refused"]
    assert report.downloaded == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    for image in tmp_path.glob("*.png"):
        assert hashlib.md5(image.read_bytes()).hexdigest() == image.stem
    # a rerun fetches the one left over
    assert fetch(client_for(server), "red_ball", tmp_path).downloaded == 1
    assert_only_verified(tmp_path, posts)


def test_file_larger_than_the_post_says_is_refused(booru_server, tmp_path):
    liar = ServerPost(id=9, data=image_bytes(9), size=50)
    server = booru_server([liar] + make_posts(1))
    report = fetch(client_for(server), "red_ball", tmp_path)
    assert [(f.name, f.reason) for f in report.failed] == [
        (f"{liar.md5}.png",
         f"the file from {server.url} is larger than the 50 bytes expected; refused")]
    assert not (tmp_path / f"{liar.md5}.png").exists() and not (tmp_path / f"{liar.md5}.json").exists()
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_web_page_instead_of_an_image_is_named_as_such(booru_server, tmp_path):
    posts = make_posts(2)
    server = booru_server(posts)
    server.script("/data/", ["html", "html"])
    report = fetch(client_for(server), "red_ball", tmp_path, workers=1)
    assert len(report.failed) == 1
    assert report.failed[0].reason.startswith("the server sent a web page (an error or login page) instead of the "
                                              "image, so its md5 did not match")
    assert len(list(tmp_path.glob("*.png"))) == 1 and len(list(tmp_path.glob("*.json"))) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_web_page_instead_of_json_says_so(booru_server):
    server = booru_server(make_posts(1))
    server.script("/posts.json", ["html"] * 5)
    with pytest.raises(DatasetError, match=r"kept failing \(a web page instead of JSON\) after 2 tries"):
        list(client_for(server, max_tries=2).search("red_ball"))


@pytest.mark.parametrize("head,html", [(b"<!DOCTYPE html><html>", True), (b"  \n<HTML><body>", True),
                                       (b"\x89PNG\r\n", False), (b'{"posts": []}', False), (b"", False)])
def test_looks_like_html(head, html):
    assert looks_like_html(head) is html


def test_size_text():
    assert size_text(50) == "50 bytes" and size_text(2 * 2**20) == "2 MiB" and size_text(1536) == "1.5 KiB"


# -- searches end ------------------------------------------------------------------------------------------------

def test_a_cursor_that_never_advances_ends_the_fetch_with_a_sentence(booru_server, tmp_path):
    posts = make_posts(12)
    server = booru_server(posts)
    server.stuck_paging = True  # every b<id> page answers the first page again
    client = client_for(server)
    client.page_limit = 5
    report = fetch(client, "red_ball", tmp_path)  # "0 = all": no --limit bounds it
    assert report.downloaded == 5 and report.considered == 5
    assert report.search_end == ("the search stopped at page 2: e621 sent no post it had not sent before, so its "
                                 "paging does not advance")
    assert f"  {report.search_end}" in report.summary() and not report.ok
    assert len(server.api_requests()) == 2


@pytest.mark.parametrize("cls, site", [("MoebooruServer", "yandere"), ("GelbooruServer", "safebooru")])
def test_numbered_pages_that_repeat_end_the_search(site_server, cls, site):
    import site_servers
    from conftest import site_client

    server = site_server(getattr(site_servers, cls), make_posts(250))
    server.stuck_paging = True
    client = site_client(server, site)
    assert len(list(client.search("red_ball"))) == 100
    assert client.search_end.startswith(f"the search stopped at page 2: {site} sent no post")
    assert len(server.api_requests()) == 2


def test_pages_that_partly_repeat_give_each_post_once(booru_server, monkeypatch):
    import sd_dataset.boorus.e621 as e621_mod

    server = booru_server(make_posts(30))
    client = client_for(server)
    client.page_limit = 10
    pages = iter(["b1025", "b1015", "b1005"])  # the second page repeats half of the first
    monkeypatch.setattr(e621_mod.E621, "_next_page", lambda self, page, raw: next(pages))
    ids = [p.id for p in client.search("red_ball")]
    assert ids == list(range(1029, 999, -1)) and client.search_end == ""


def test_a_search_reads_at_most_max_pages(booru_server, monkeypatch):
    import sd_dataset.boorus.base as base

    monkeypatch.setattr(base, "MAX_PAGES", 3)
    server = booru_server(make_posts(40))
    client = client_for(server)
    client.page_limit = 10
    assert len(list(client.search("red_ball"))) == 30
    assert client.search_end.startswith("the search stopped after 3 pages (30 posts), the most one search reads")
    assert len(server.api_requests()) == 3


# -- the site's invalid data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("site", ["e621", "yandere"])
def test_refused_posts_count_within_the_limit(booru_server, site_server, tmp_path, site):
    from conftest import site_client
    from site_servers import MoebooruServer

    hostile = [ServerPost(id=2000 + i, data=image_bytes(2000 + i), md5="z" * 32) for i in range(3)]
    posts = make_posts(10) + hostile  # the refused ones come first, newest first
    client = client_for(booru_server(posts)) if site == "e621" else site_client(site_server(MoebooruServer, posts),
                                                                                  site)
    report = fetch(client, "red_ball", tmp_path, limit=5)
    assert report.considered == 5 and len(report.failed) == 3 and report.downloaded == 2
    assert report.summary()[0].startswith("considered 5 posts: downloaded 2")


@pytest.mark.parametrize("size", [-1, 2**41])
def test_a_negative_or_absurd_size_is_the_sites_invalid_data(booru_server, tmp_path, size):
    liar = ServerPost(id=9, data=image_bytes(9), size=size)
    server = booru_server([liar] + make_posts(1))
    report = fetch(client_for(server), "red_ball", tmp_path)
    assert [(f.name, f.reason) for f in report.failed] == [("post 9", "refused the site's data: invalid file size")]
    assert report.downloaded == 1 and not (tmp_path / f"{liar.md5}.png").exists()


@pytest.mark.parametrize("field, value", [("md5", "a" * 32 + "\n"), ("ext", "png\n")])
def test_md5_and_extension_must_match_whole(field, value):
    from sd_dataset.boorus.base import Post
    from sd_dataset.boorus.e621 import parse_post

    raw = {"id": 1, "file": {"md5": "a" * 32, "ext": "png", "url": "http://x/y.png"}, "tags": {}}
    raw["file"][field] = value
    with pytest.raises(ValueError):
        parse_post(raw, "e621", "http://x/")
    sidecar = Post(id=1, md5="a" * 32, file_url=None, ext="png").to_json()
    sidecar[field] = value
    with pytest.raises(ValueError):
        Post.from_json(sidecar)


def test_a_limit_past_any_integer_size_means_all(booru_server, tmp_path):
    from test_fetch import run_cli

    server = booru_server(make_posts(3))
    result = run_cli(["fetch", "red_ball", "--out", str(tmp_path), "--base-url", server.url, "--rate", "2",
                      "--limit", "99999999999999999999"])
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith("considered 3 posts: downloaded 3")


# -- deadlines and cancel ----------------------------------------------------------------------------------------

def test_an_api_answer_dripped_a_byte_at_a_time_ends_at_its_deadline(booru_server):
    server = booru_server(make_posts(1))
    server.script("/posts.json", ["drip"])  # about 90 bytes at 0.2 s each: no read ever times out
    client = client_for(server, answer_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball"))
    assert str(err.value) == (f"e621 at {server.url} sent no complete answer within 1 seconds; it may be overloaded, "
                              "so run again later (finished work is kept).")
    assert time.monotonic() - started < 10  # the whole answer would take 18 s
    assert len(server.api_requests()) == 1  # not retried: it would drip again


def test_a_file_dripped_a_byte_at_a_time_fails_alone_at_its_budget(booru_server, tmp_path):
    posts = make_posts(3)
    server = booru_server(posts)
    server.script("/data/", ["drip"])
    report = fetch(client_for(server, answer_deadline=1.0), "red_ball", tmp_path, workers=1)
    assert report.downloaded == 2
    (failure,) = report.failed
    assert failure.reason == f"the file from {server.url} did not arrive within 1 seconds; a rerun tries again"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert fetch(client_for(server), "red_ball", tmp_path).downloaded == 1
    assert_only_verified(tmp_path, posts)


def test_the_default_deadlines_apply_and_cancel_shuts_the_connection_in_flight(booru_server, tmp_path):
    """At the defaults a user gets (the site table's policy), an API answer has 120 s and a file 120 s plus its size
    at 32 KiB/s; a cancel shuts the dripping connection at once, where the drip would take minutes."""
    import threading

    from sd_dataset.boorus import open_booru
    from sd_dataset.errors import Cancelled
    from sd_dataset.http import HttpPolicy
    from sd_dataset.progress import Progress
    from sd_dataset.watchdog import in_flight

    assert (HttpPolicy().answer_deadline, HttpPolicy().min_file_speed) == (120.0, 32 * 1024)
    posts = make_posts(1)
    server = booru_server(posts)
    server.drip_seconds = 2.0
    for path, expected in (("/posts.json", 120.0), ("/data/", 120.0 + len(posts[0].data) / (32 * 1024))):
        server.script(path, ["drip"])
        server.hangups.clear()
        server.dripping.clear()
        progress = Progress()
        outcome = []

        def run():
            try:
                fetch(open_booru("e621", base_url=server.url), "red_ball", tmp_path / path.strip("/"),
                      progress=progress)
            except Cancelled as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        assert server.dripping.wait(30)
        assert [watch.seconds for watch in in_flight()] == [expected]
        cancelled = time.monotonic()
        progress.cancel()
        worker.join(timeout=30)
        assert not worker.is_alive() and len(outcome) == 1
        assert time.monotonic() - cancelled < 5
        deadline = time.monotonic() + 10  # the server notices at its next byte
        while not server.hangups and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.hangups
