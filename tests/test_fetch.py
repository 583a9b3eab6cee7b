import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for, make_posts
from sd_dataset.errors import Cancelled, DatasetError
from sd_dataset.boorus import SITES
from sd_dataset.fetch import fetch, read_sidecar
from sd_dataset.files import TEMP_SUFFIX
from sd_dataset.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


def mixed_posts() -> list[ServerPost]:
    posts = make_posts(6)  # png, downloadable
    posts.append(ServerPost(id=2001, data=image_bytes(2001, "JPEG"), ext="jpg"))
    posts.append(ServerPost(id=2002, data=b"\x1aE\xdf\xa3 not really a video", ext="webm"))
    posts.append(ServerPost(id=2003, data=b"FWS flash", ext="swf"))
    posts.append(ServerPost(id=2004, data=image_bytes(2004, "GIF"), ext="gif"))
    posts.append(ServerPost(id=2005, data=image_bytes(2005), deleted=True))
    posts.append(ServerPost(id=2006, data=image_bytes(2006), hidden=True))
    posts.append(ServerPost(id=2007, data=image_bytes(2007), md5="0123456789abcdef0123456789abcdef"))
    return posts


def folder_state(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def assert_complete(folder: Path, posts: list[ServerPost]) -> None:
    names = {p.name for p in folder.iterdir()}
    assert not [n for n in names if n.endswith(TEMP_SUFFIX)]
    for post in posts:
        image = folder / f"{post.md5}.{post.ext}"
        assert hashlib.md5(image.read_bytes()).hexdigest() == post.md5
        assert read_sidecar(folder, post.md5).id == post.id
    assert len(names) == 2 * len(posts)


def test_fetch_keeps_only_verified_still_images(booru_server, tmp_path):
    posts = mixed_posts()
    server = booru_server(posts)
    report = fetch(client_for(server), "red_ball status:any", tmp_path)  # deleted posts show with status:any
    good = [p for p in posts if p.ext in ("png", "jpg") and not p.deleted and not p.hidden and p.md5 == p.real_md5]
    assert_complete(tmp_path, good)
    assert report.downloaded == 7 and report.present == 0
    assert dict(report.skipped_type) == {"webm": 1, "swf": 1, "gif": 1}
    assert (report.deleted, report.hidden) == (1, 1)
    assert [f.name for f in report.failed] == ["0123456789abcdef0123456789abcdef.png"]
    assert "did not match the post's md5 in 2 tries" in report.failed[0].reason
    assert not report.ok
    # the mismatching file was asked for twice, the others once
    asked = [r.path for r in server.file_requests()]
    assert asked.count("/data/01/23/0123456789abcdef0123456789abcdef.png") == 2
    assert report.retries == 1  # the second download of it is a retry too
    text = "\n".join(report.summary(SITES["e621"].login_hint))
    assert "hidden from this login 1" in text and "log in with --username and --api-key" in text


def test_gif_is_optional(booru_server, tmp_path):
    gif = ServerPost(id=1, data=image_bytes(1, "GIF"), ext="gif")
    server = booru_server([gif])
    report = fetch(client_for(server), "red_ball", tmp_path, include_gif=True)
    assert report.downloaded == 1 and (tmp_path / f"{gif.md5}.gif").exists()


def test_rerun_downloads_nothing(booru_server, tmp_path):
    posts = make_posts(12)
    server = booru_server(posts)
    fetch(client_for(server), "red_ball", tmp_path)
    before = folder_state(tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    files_before = len(server.file_requests())
    report = fetch(client_for(server), "red_ball", tmp_path)
    assert report.present == 12 and report.downloaded == 0
    assert len(server.file_requests()) == files_before
    assert folder_state(tmp_path) == before
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == mtimes


def test_rerun_replaces_a_corrupted_file_and_a_missing_sidecar(booru_server, tmp_path):
    posts = make_posts(3)
    server = booru_server(posts)
    fetch(client_for(server), "red_ball", tmp_path)
    (tmp_path / f"{posts[0].md5}.png").write_bytes(b"garbage")
    (tmp_path / f"{posts[1].md5}.json").unlink()
    report = fetch(client_for(server), "red_ball", tmp_path)
    assert report.downloaded == 1 and report.present == 2
    assert_complete(tmp_path, posts)


def test_faulty_downloads_end_complete(booru_server, tmp_path):
    posts = make_posts(8)
    server = booru_server(posts)
    server.script("/data/", ["truncate", "reset", "503", "429", "truncate"])
    report = fetch(client_for(server), "red_ball", tmp_path, workers=3)
    assert report.ok and report.downloaded == 8 and report.retries == 5
    assert_complete(tmp_path, posts)


def test_limit_considers_first_results_in_site_order(booru_server, tmp_path):
    posts = make_posts(30)
    server = booru_server(posts)
    report = fetch(client_for(server), "red_ball", tmp_path, limit=10)
    newest = sorted(posts, key=lambda p: -p.id)[:10]
    assert report.considered == 10
    assert_complete(tmp_path, newest)


def test_the_progress_total_becomes_the_number_of_posts_found(booru_server, tmp_path):
    server = booru_server(make_posts(7))
    totals = []

    class Watched(Progress):
        def set_total(self, total):
            super().set_total(total)
            totals.append(total)

    progress = Watched()
    fetch(client_for(server), "red_ball", tmp_path, limit=100, progress=progress)
    assert progress.total == 7 and progress.done == 7 and totals[-1] == 7  # not the limit of 100


def test_a_search_that_fetched_nothing_says_why_and_what_to_change(booru_server, tmp_path):
    posts = [ServerPost(id=1, data=image_bytes(1), hidden=True),
             ServerPost(id=2, data=image_bytes(2), md5="0123456789abcdef0123456789abcdef"),
             ServerPost(id=3, data=image_bytes(3, "GIF"), ext="gif")]
    report = fetch(client_for(booru_server(posts)), "red_ball", tmp_path)
    assert report.nothing_made(SITES["e621"].login_hint) == (
        "None of the 3 posts found was downloaded (1 of other file types, 1 hidden from this login, 1 failed); log in "
        "with --username and --api-key (or E621_USERNAME and E621_API_KEY); allow gif files with --gif; a rerun tries "
        "the failed ones again.")
    assert fetch(client_for(booru_server([])), "red_ball", tmp_path / "none").nothing_made() == (
        "The search found no posts; check its tags on the site, or search for fewer tags.")
    assert fetch(client_for(booru_server(make_posts(1))), "red_ball", tmp_path / "one").nothing_made() is None


def test_an_empty_search_is_refused_before_any_request(booru_server, tmp_path):
    server = booru_server(make_posts(3))
    for query in ("", "  "):
        with pytest.raises(DatasetError, match="The search is empty, which would fetch the whole site"):
            fetch(client_for(server), query, tmp_path)
    assert server.requests == []
    result = run_cli(["fetch", "", "--out", str(tmp_path / "cli"), "--base-url", server.url])
    assert result.returncode == 2 and server.requests == []
    assert result.stderr.strip().splitlines()[-1] == ("error: The search is empty, which would fetch the whole site; "
                                                      "type a search first, e.g. red_panda solo.")


def test_cancel_stops_between_posts(booru_server, tmp_path):
    server = booru_server(make_posts(20))
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        fetch(client_for(server), "red_ball", tmp_path, progress=progress)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_unwritable_output_is_one_sentence(booru_server, tmp_path):
    server = booru_server(make_posts(1))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        fetch(client_for(server), "red_ball", blocker)
    assert server.requests == []


def run_cli(args, env=None):
    return subprocess.run([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_cli_fetch_summary_and_exit_codes(booru_server, tmp_path):
    server = booru_server(mixed_posts(), credentials=("alice", "key-abc-123"))
    out = tmp_path / "out"
    result = run_cli(["fetch", "red_ball status:any", "--out", str(out), "--base-url", server.url, "--rate", "2",
                      "--username", "alice", "--api-key", "key-abc-123"])
    assert result.returncode == 1, result.stderr  # the md5 mismatch is a failure
    assert "downloaded 8" in result.stdout and "failed 1" in result.stdout  # logged in: the hidden post too
    assert all(r.headers["User-Agent"] == "sd-webui-dataset/0.1.0" for r in server.requests)  # not e621 itself
    outputs = result.stdout + result.stderr + "".join(p.read_text(errors="replace") for p in out.iterdir())
    assert "key-abc-123" not in outputs


def test_cli_verbose_shows_this_tools_details_only(booru_server, tmp_path):
    broken = ServerPost(id=7, data=image_bytes(7), md5="0123456789abcdef0123456789abcdef")
    server = booru_server([broken])
    result = run_cli(["-v", "fetch", "red_ball", "--out", str(tmp_path), "--base-url", server.url, "--rate", "2"])
    info = [line for line in result.stderr.splitlines() if "INFO:" in line]
    assert any("bytes do not match the md5 (try 1 of 2)" in line for line in info), result.stderr
    assert not [line for line in info if "bucket" in line.lower()], result.stderr  # the rate library's


def test_cli_a_mistyped_option_shows_the_subcommands_usage(tmp_path):
    result = run_cli(["fetch", "red_ball", "--out", str(tmp_path), "--limt", "3"])
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m sd_dataset fetch ") and "[--limit LIMIT]" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "python -m sd_dataset fetch: error: unrecognized arguments: --limt 3"


def test_cli_one_sentence_errors(tmp_path):
    result = run_cli(["fetch", " ".join(f"t{i}" for i in range(41)), "--out", str(tmp_path)])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "error: The search has 41 tags but e621 allows at most 40; remove some tags."
    result = run_cli(["fetch", "x", "--out", str(tmp_path), "--base-url", "http://127.0.0.1:9"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Cannot reach e621 at http://127.0.0.1:9" in result.stderr


def test_cli_fetch_a_search_that_is_one_negative_tag_after_dashes(booru_server, tmp_path):
    posts = [ServerPost(id=1, data=image_bytes(1), tags={"general": ["female", "red_ball"]}),
             ServerPost(id=2, data=image_bytes(2), tags={"general": ["male", "red_ball"]})]
    server = booru_server(posts)
    out = tmp_path / "out"
    result = run_cli(["fetch", "--out", str(out), "--base-url", server.url, "--rate", "2", "--", "-female"])
    assert result.returncode == 0, result.stderr
    assert "downloaded 1" in result.stdout
    assert [r.query["tags"] for r in server.api_requests()] == [["-female"]]
    assert sorted(p.name for p in out.iterdir()) == [f"{posts[1].md5}.json", f"{posts[1].md5}.png"]
    # the guide's search of several words needs no dashes, even when it starts with a negative tag
    result = run_cli(["fetch", "-female red_ball", "--out", str(tmp_path / "two"), "--base-url", server.url,
                      "--rate", "2"])
    assert result.returncode == 0 and "downloaded 1" in result.stdout, result.stderr


@pytest.mark.parametrize("args,sentence", [
    (["fetch", "-female", "--out", "OUT"], "the following arguments are required: query; a search that is one "
     "negative tag (such as -female) reads as an option: put it last, after --, as in: fetch --out DIR -- -female"),
    (["fetch", "--", "-female", "--out", "OUT"], "the following arguments are required: --out; everything after -- "
     "is the search, so put the options before it, as in: fetch --out DIR -- -female"),
    (["fetch", "red_panda", "-female", "--out", "OUT"], "unrecognized arguments: -female; a search of several words "
     'is one argument: quote it, as in: fetch "red_panda -female" --out DIR'),
])
def test_a_search_read_as_options_says_how_to_give_it(tmp_path, args, sentence):
    result = run_cli([str(tmp_path) if a == "OUT" else a for a in args])
    assert result.returncode == 2 and result.stderr.splitlines()[-1].endswith(sentence), result.stderr
    assert not list(tmp_path.iterdir())
    help_text = " ".join(run_cli(["fetch", "--help"]).stdout.split())
    assert "after --: fetch --out DIR -- -female" in help_text


def test_killed_run_resumes_to_the_same_folder(booru_server, tmp_path):
    posts = make_posts(40)
    server = booru_server(posts)
    server.script("/data/", ["slow"] * 40)
    out = tmp_path / "killed"
    args = ["fetch", "red_ball", "--out", str(out), "--base-url", server.url, "--rate", "2", "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 10:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # whatever is under a final name is complete and correct
    for image in out.glob("*.png"):
        assert hashlib.md5(image.read_bytes()).hexdigest() == image.stem
    assert len(list(out.glob("*.png"))) < 40
    assert run_cli(args).returncode == 0
    assert_complete(out, posts)
    clean = tmp_path / "clean"
    assert run_cli(["fetch", "red_ball", "--out", str(clean), "--base-url", server.url, "--rate", "2"]).returncode == 0
    assert folder_state(out) == folder_state(clean)


def test_sidecar_holds_the_normalised_post(booru_server, tmp_path):
    post = ServerPost(id=77, data=image_bytes(77), tags={"artist": ["an_artist"], "general": ["red_ball"]})
    server = booru_server([post])
    fetch(client_for(server), "red_ball", tmp_path)
    data = json.loads((tmp_path / f"{post.md5}.json").read_text())
    assert data["id"] == 77 and data["tags"] == {"artist": ["an_artist"], "general": ["red_ball"]}
    assert data["site"] == "e621" and data["sidecar_version"] == 1
