"""Fault suite: fetch and tag against a server that fails a seeded 20% of requests end complete and correct.

The faults are the server's FAULTS (429 with Retry-After 1, 503, connection reset, truncated body, slow answer,
malformed JSON).  Backoffs are the tests' short ones, but Retry-After is honoured in full, so the post counts stay
small.  ``max_tries`` is raised from 5 to 8: at a 20% fault rate five failures in a row hit about one request in
3000 (a rerun would finish it); eight make that one in 390 000, so the suite does not flake.
"""

import hashlib
from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for, make_posts
from sd_dataset.fetch import fetch
from sd_dataset.lock import LOCK_NAME
from sd_dataset.tagging import TagOptions, tag_folder

FAULT_RATE = 0.2


def folder_state(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_a_clean_run_gives(server, folder: Path) -> None:
    """A fetch from ``server`` without faults makes exactly ``folder``."""
    server.fault_rate = 0
    clean = folder.parent / "clean"
    fetch(client_for(server), "red_ball", clean)
    assert folder_state(folder) == folder_state(clean)


def images_only(folder: Path, posts) -> Path:
    """``folder`` holding the posts' images and no sidecars: every post comes from the site."""
    folder.mkdir()
    for post in posts:
        (folder / f"{post.md5}.png").write_bytes(post.data)
    return folder


def retried_faults(server) -> int:
    """Faults that must have cost a retry: a slow answer still arrives, and JSON garbage only hurts API answers."""
    return sum(1 for fault, path in server.fault_log
               if fault != "slow" and not (fault == "badjson" and not path.endswith(".json")))


@pytest.mark.parametrize("seed", [1, 2])
def test_fetch_under_faults_equals_a_clean_run(booru_server, tmp_path, seed):
    posts = make_posts(24)
    posts.append(ServerPost(id=3001, data=image_bytes(3001, "JPEG"), ext="jpg"))
    server = booru_server(posts, fault_rate=FAULT_RATE, seed=seed)
    faulty = tmp_path / "faulty"
    report = fetch(client_for(server, max_tries=8), "red_ball", faulty, workers=3)
    served = retried_faults(server)
    assert served >= 3, server.fault_log  # the seed gives the run real faults
    assert report.ok, report.summary()
    assert report.downloaded == len(posts)
    assert report.retries == served
    assert f"{report.retries} retried" in report.summary()[-1]

    server.fault_rate = 0
    clean = tmp_path / "clean"
    clean_report = fetch(client_for(server), "red_ball", clean)
    assert clean_report.retries == 0
    assert folder_state(faulty) == folder_state(clean)
    assert not (faulty / LOCK_NAME).exists()


def test_tag_under_faults_equals_a_clean_run(booru_server, tmp_path):
    # 400 images: the lookup takes two batched requests, so faults land on API answers
    posts = [ServerPost(id=5000 + i, data=image_bytes(5000 + i), tags={"general": [f"tag_{i % 7}", "red_ball"]})
             for i in range(400)]
    server = booru_server(posts, fault_rate=0.0, seed=4)
    src = images_only(tmp_path / "src", posts)

    server.fault_rate = FAULT_RATE
    faulty = tmp_path / "faulty"
    report = tag_folder(src, faulty, TagOptions(), booru=client_for(server, max_tries=8))
    served = retried_faults(server)
    assert served >= 1, server.fault_log
    assert report.ok and report.tagged == 400 and not report.untagged, report.summary()
    assert report.api_requests == len(server.api_requests()) >= 2 + served  # two batches, and the retries
    assert report.retries == served
    assert f"API requests: {report.api_requests}, {served} retried" in report.summary()

    server.fault_rate = 0
    clean = tmp_path / "clean"
    clean_report = tag_folder(src, clean, TagOptions(), booru=client_for(server))
    assert clean_report.tagged == 400
    assert folder_state(faulty) == folder_state(clean)


# -- a last pass: what failed all its tries is tried again before the run reports it ------------------------

def test_a_file_that_failed_all_its_tries_gets_a_last_pass(booru_server, tmp_path):
    posts = make_posts(6)
    server = booru_server(posts)
    unlucky = posts[2]
    server.script(server.file_url(unlucky).removeprefix(server.url), ["503"] * 5)  # all five tries of the first pass
    report = fetch(client_for(server), "red_ball", tmp_path / "faulty", workers=2)
    assert report.ok and report.downloaded == 6, report.summary()
    assert [path for _, path in server.fault_log].count(server.file_url(unlucky).removeprefix(server.url)) == 5
    assert_a_clean_run_gives(server, tmp_path / "faulty")


def test_a_search_page_that_failed_all_its_tries_is_asked_again_in_the_last_pass(booru_server, tmp_path):
    posts = make_posts(25)
    server = booru_server(posts)
    server.script("/posts.json", ["pass"] + ["503"] * 5)  # the second page fails its five tries
    client = client_for(server)
    client.page_limit = 10
    report = fetch(client, "red_ball", tmp_path / "faulty")
    assert report.ok and report.downloaded == 25 and report.considered == 25, report.summary()
    assert len(server.file_requests()) == 25  # the repeated search downloads nothing twice
    assert_a_clean_run_gives(server, tmp_path / "faulty")


def test_a_search_that_fails_again_in_the_last_pass_is_one_sentence_after_the_downloads(booru_server, tmp_path):
    from sd_dataset.errors import DatasetError

    posts = make_posts(25)
    server = booru_server(posts)
    server.script("/posts.json", ["pass"] + ["503"] * 10)
    client = client_for(server)
    client.page_limit = 10
    with pytest.raises(DatasetError, match=r"kept failing \(HTTP 503\) after 5 tries"):
        fetch(client, "red_ball", tmp_path)
    assert len(list(tmp_path.glob("*.png"))) == 10  # the first page's files all finished


@pytest.mark.parametrize("rate, seed", [(0.25, 7), (0.3, 8)])
def test_at_a_quarter_faults_and_more_with_the_default_tries_a_fetch_equals_a_clean_run(booru_server, tmp_path,
                                                                                          rate, seed):
    posts = make_posts(40)
    server = booru_server(posts, fault_rate=rate, seed=seed)
    client = client_for(server)
    client.page_limit = 10  # several pages, so faults land on API answers too
    assert client.http.policy.max_tries == 5
    faulty = tmp_path / "faulty"
    report = fetch(client, "red_ball", faulty, workers=3)
    assert report.ok and report.downloaded == 40, report.summary()
    assert len(server.fault_log) >= 10
    assert_a_clean_run_gives(server, faulty)


def test_a_tag_lookup_that_failed_all_its_tries_gets_a_last_pass(booru_server, tmp_path):
    posts = make_posts(5)
    server = booru_server(posts)
    src = images_only(tmp_path / "src", posts)
    server.script("/posts.json", ["503"] * 5)
    report = tag_folder(src, tmp_path / "faulty", TagOptions(), booru=client_for(server))
    assert report.ok and report.tagged == 5, report.summary()
    assert report.api_requests == 6
    clean_report = tag_folder(src, tmp_path / "clean", TagOptions(), booru=client_for(server))
    assert clean_report.tagged == 5
    assert folder_state(tmp_path / "faulty") == folder_state(tmp_path / "clean")
