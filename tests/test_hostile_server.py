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
