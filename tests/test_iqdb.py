"""Image look-up (IQDB): images whose md5 matches no post (re-encoded, resized copies) get their posts by the
site's reverse-image search, against the real loopback servers of ``booru_server`` and ``site_servers`` whose
``/iqdb_queries.json`` compares the uploaded thumbnail with every post's image and keeps the site's throttle."""

import io
import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from booru_server import ServerPost, echo_forms, picture_bytes, resaved_copy
from conftest import client_for, site_client
from site_servers import DanbooruServer
from sd_dataset.boorus.base import ImageMatch
from sd_dataset.boorus.danbooru import unsquared
from sd_dataset.boorus.e621 import IQDB_ANONYMOUS, IQDB_LOGGED_IN
from sd_dataset.cli import main
from sd_dataset.errors import Cancelled, DatasetError
from sd_dataset.imagesearch import estimate, thumbnail
from sd_dataset.postcache import MISSING, PostCache
from sd_dataset.progress import Progress
from sd_dataset.tagging import IQDB, TagOptions, tag_folder

USER, KEY = "iqdb-user", "iqdb-secret-key-5521"


def posts(count: int, start: int = 700) -> list[ServerPost]:
    """Posts with pictures an image search tells apart; each has a general and a species tag of its own (a
    species is a category the IQDB answer's flat tag_string does not carry)."""
    return [ServerPost(id=start + i, data=picture_bytes(start + i), rating="s",
                       tags={"general": ["red_ball", f"thing_{i}"], "species": [f"species_{i}"]})
            for i in range(count)]


def folder_of_copies(root: Path, server_posts: list[ServerPost], **copy) -> Path:
    src = root / "mine"
    src.mkdir(parents=True, exist_ok=True)
    for i, post in enumerate(server_posts):
        (src / f"holiday {i}.jpg").write_bytes(resaved_copy(post.data, **copy))
    return src


def iqdb_requests(server):
    return [r for r in server.requests if r.path == "/iqdb_queries.json"]


def caption(out: Path, i: int) -> str:
    return (out / f"holiday {i}.txt").read_text(encoding="utf-8")


def sidecar(out: Path, i: int) -> dict:
    """The tag sidecar of an output: its post, and how it was found."""
    return json.loads((out / f"holiday {i}.json").read_text(encoding="utf-8"))


def tag(src, out, client, cache=None, progress=None, **options):
    return tag_folder(src, out, TagOptions(iqdb=True, **options), booru=client, cache=cache, progress=progress)


class Notes(Progress):
    def __init__(self):
        super().__init__()
        self.notes = []

    def note(self, text):
        self.notes.append(text)


def test_reencoded_copies_get_their_posts_captions_and_a_rerun_asks_nothing(booru_server, tmp_path):
    server = booru_server(posts(4), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts[:3])
    (src / "stranger.png").write_bytes(picture_bytes(9999))  # no post looks like it
    client = client_for(server, username=USER, api_key=KEY)
    with PostCache(tmp_path / "cache") as cache:
        report = tag(src, tmp_path / "out", client, cache)
        asked = len(server.requests)
        again = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY), cache)
    assert report.ok, report.failure_lines()
    assert report.sources[IQDB] == 3 and report.tagged == 3 and report.untagged == ["stranger.png"]
    for i in range(3):  # the categorised post, looked up again by id: species are kept, as e621 captions do
        assert "thing " + str(i) in caption(tmp_path / "out", i) and f"species {i}" in caption(tmp_path / "out", i)
    assert [r.query["tags"][0] for r in server.api_requests() if r.path == "/posts.json"][1:] == [
        f"id:{p.id} status:any" for p in server.posts[:3]]
    found = [sidecar(tmp_path / "out", i) for i in range(3)]
    assert [(f["id"], f["found"]["by"], f["found"]["cutoff"]) for f in found] == [
        (post.id, "iqdb", 80) for post in server.posts[:3]]
    assert all(f["found"]["score"] >= 80 for f in found)
    assert any("image look-up (IQDB, score at least 80) 3" in line for line in report.summary())
    # the rerun: the md5 misses and the image matches (and the stranger's miss) all come from the cache
    assert len(server.requests) == asked
    assert again.api_requests == 0 and again.sources[IQDB] == 3 and again.untagged == ["stranger.png"]
    assert again.captions == report.captions


def test_the_cutoff_decides_and_a_miss_is_asked_again_only_for_a_lower_one(booru_server, tmp_path):
    server = booru_server(posts(2), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts[:1], brighten=30)  # scores about 70
    client = client_for(server, username=USER, api_key=KEY)
    with PostCache(tmp_path / "cache") as cache:
        strict = tag(src, tmp_path / "a", client, cache)
        searched = len(iqdb_requests(server))
        stricter = tag(src, tmp_path / "b", client, cache, iqdb_cutoff=90)
        assert len(iqdb_requests(server)) == searched  # a miss at 80 is one at 90
        loose = tag(src, tmp_path / "c", client, cache, iqdb_cutoff=60)
        assert len(iqdb_requests(server)) == searched + 1
        tighter = tag(src, tmp_path / "d", client, cache, iqdb_cutoff=75)  # the remembered score decides
    assert iqdb_requests(server)[0] and strict.untagged == stricter.untagged == ["holiday 0.jpg"]
    assert loose.sources[IQDB] == 1 and "thing 0" in caption(tmp_path / "c", 0)
    score = sidecar(tmp_path / "c", 0)["found"]["score"]
    assert 60 <= score < 80
    assert len(iqdb_requests(server)) == searched + 1
    assert (tighter.sources[IQDB] == 1) == (score >= 75)
    with PostCache(tmp_path / "cache") as cache:  # the same output, now without a match: no stale record of one
        tag(src, tmp_path / "c", client, cache, iqdb_cutoff=90)
    assert not (tmp_path / "c" / "holiday 0.json").exists() and not (tmp_path / "c" / "holiday 0.jpg").exists()


def test_logged_in_six_searches_in_ten_seconds_and_no_more(booru_server, tmp_path):
    """The server fails a client faster than e621's 6 in 10 s; a seventh search waits out the window."""
    server = booru_server(posts(7), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts)
    progress = Notes()
    report = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY), progress=progress)
    times = server.iqdb_times
    assert report.ok, report.failure_lines()
    assert report.sources[IQDB] == 7 and server.iqdb_throttled == 0
    assert times[6] - times[0] >= 9.5
    assert progress.notes == ["7 image look-ups at 6 per 10 s take under a minute."]


def test_without_a_login_one_search_a_minute(booru_server, tmp_path):
    """The second search waits for the minute (measured from the limiter, not waited out); the estimate says how
    long, and that a login makes it faster."""
    server = booru_server(posts(3))
    src = folder_of_copies(tmp_path, server.posts)
    client = client_for(server)
    progress = Notes()
    outcome = []

    def run():
        try:
            tag(src, tmp_path / "out", client, progress=progress)
        except Cancelled as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while not server.iqdb_times and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    try:
        assert len(server.iqdb_times) == 1 and server.iqdb_throttled == 0
        assert 55 <= client.http.pace_wait(server.url, IQDB_ANONYMOUS) <= 60
        assert client.http.pace_wait(server.url, IQDB_LOGGED_IN) == 0  # one of six in the window
    finally:
        progress.cancel()
        worker.join(10)
    assert outcome and not worker.is_alive()
    assert progress.notes == ["3 image look-ups at 1 per 60 s take about 2 minutes; logging in (--username and "
                              "--api-key) makes it 6 per 10 s, under a minute."]


def test_estimates():
    assert estimate(1, IQDB_ANONYMOUS) == "1 image look-up at 1 per 60 s takes under a minute."
    assert estimate(12, IQDB_ANONYMOUS, 30, IQDB_LOGGED_IN).startswith(
        "12 image look-ups at 1 per 60 s take about 12 minutes; logging in")
    assert estimate(12, IQDB_LOGGED_IN) == "12 image look-ups at 6 per 10 s take under a minute."


def test_a_throttled_site_fails_the_rest_in_one_sentence_and_a_rerun_asks_again(booru_server, tmp_path):
    server = booru_server(posts(3), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts)
    server.script("/iqdb_queries", ["429"] * 2)
    with PostCache(tmp_path / "cache") as cache:
        report = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY, max_tries=2), cache)
        assert len(iqdb_requests(server)) == 2  # the first image's tries; none for the images after it
        assert len(report.failed) == 3 and len({f.reason for f in report.failed}) == 1
        [line] = report.failure_lines()
        assert line.startswith("  failed 3, ")
        assert "the image search stopped" in line and "HTTP 429" in line and "a rerun asks again" in line
        again = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY), cache)
    assert again.ok and again.sources[IQDB] == 3


def test_a_site_that_keeps_failing_stops_the_search_and_the_md5_lookup_is_kept(booru_server, tmp_path):
    server = booru_server(posts(2), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts)
    server.script("/iqdb_queries", ["503"] * 50)
    report = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY))
    assert len(iqdb_requests(server)) == 5
    assert {f.reason for f in report.failed} == {
        f"the image search stopped (e621 at {server.url} kept failing (HTTP 503) after 5 tries; wait a few minutes "
        "and run again (finished work is kept)); a rerun asks again"}


def test_an_unreadable_image_fails_alone(booru_server, tmp_path):
    server = booru_server(posts(2), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts)
    (src / "broken.jpg").write_bytes(resaved_copy(server.posts[0].data, size=(300, 200))[:300])  # a JPEG cut short
    report = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY))
    assert [f.name for f in report.failed] == ["broken.jpg"]
    assert report.failed[0].reason.startswith("could not be read for the image search: corrupt")
    assert report.sources[IQDB] == 2 and len(iqdb_requests(server)) == 2


def test_thumbnails_are_small_upright_jpegs(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGBA", (1200, 300), (10, 200, 30, 0)).save(path)
    small = Image.open(io.BytesIO(thumbnail(path)))
    assert small.format == "JPEG" and small.size == (256, 64) and small.getpixel((5, 5)) > (240, 240, 240)


def test_danbooru_matches_need_a_login_and_score_as_iqdb_does(site_server, tmp_path):
    """Danbooru squares IQDB's score (70 shows as 49): taken back, a cutoff of 65 means on Danbooru what it means
    on e621, and the look-alike copies (about 70) pass it."""
    server = site_server(DanbooruServer, posts(3), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts[:2], brighten=30)
    with pytest.raises(DatasetError, match="takes uploads only from logged-in users"):
        tag(src, tmp_path / "out", site_client(server, "danbooru"))
    assert server.requests == []  # refused before any request
    report = tag(src, tmp_path / "out", site_client(server, "danbooru", username=USER, api_key=KEY),
                 iqdb_cutoff=65)
    assert report.ok and report.sources[IQDB] == 2
    assert [r.path for r in server.requests] == ["/posts.json"] + ["/iqdb_queries.json"] * 2  # no lookup by id
    assert "thing 1" in caption(tmp_path / "out", 1)
    assert all(65 <= sidecar(tmp_path / "out", i)["found"]["score"] < 80 for i in range(2))
    assert unsquared(49.0) == 70.0 and unsquared(100.0) == 100.0


def test_a_hidden_danbooru_post_is_remembered_without_its_md5(tmp_path):
    from sd_dataset.boorus.base import Post

    hidden = Post(id=5, md5="", file_url=None, ext="jpg", tags={"general": ["red_ball"]}, site="danbooru")
    with PostCache(tmp_path / "cache") as cache:
        cache.put_image_match("site", "a" * 32, ImageMatch(hidden, 91.0), 80)
        cache.put_image_match("site", "b" * 32, None, 80, logged_in=False)
        answers = cache.get_image_matches("site", ["a" * 32, "b" * 32], 80, logged_in=True)
        assert answers["a" * 32].post.tags == {"general": ["red_ball"]} and "b" * 32 not in answers
        assert cache.get_image_matches("site", ["b" * 32], 85)["b" * 32] == MISSING


def test_a_site_without_image_search_is_refused_before_any_work(site_server, tmp_path):
    from site_servers import MoebooruServer

    server = site_server(MoebooruServer, posts(1))
    src = folder_of_copies(tmp_path, server.posts)
    with pytest.raises(DatasetError, match="has no image search"):
        tag(src, tmp_path / "out", site_client(server, "yandere"))
    assert server.requests == []


def test_the_login_never_reaches_logs_sidecars_captions_or_the_cache(booru_server, tmp_path, caplog):
    caplog.set_level("DEBUG")
    server = booru_server(posts(2), credentials=(USER, KEY), echo_key=True)
    src = folder_of_copies(tmp_path, server.posts)
    with PostCache(tmp_path / "cache") as cache:
        report = tag(src, tmp_path / "out", client_for(server, username=USER, api_key=KEY), cache)
    assert report.sources[IQDB] == 2
    assert any("Authorization" in r.headers for r in iqdb_requests(server))  # the searches did carry it
    written = [p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "out").iterdir()]
    written += [p.read_bytes().decode("latin-1") for p in (tmp_path / "cache").iterdir()]
    texts = written + [caplog.text, "\n".join(report.summary())]
    leaks = [form for form in echo_forms(USER, KEY) for text in texts if form in text]
    assert leaks == []


def test_the_command_line(booru_server, tmp_path, capsys):
    server = booru_server(posts(2), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts[:1])
    code = main(["tag", str(src), "--out", str(tmp_path / "out"), "--base-url", server.url, "--username", USER,
                 "--api-key", KEY, "--iqdb", "--iqdb-cutoff", "85", "--cache", str(tmp_path / "cache")])
    printed = capsys.readouterr()
    assert code == 0 and "thing 0" in caption(tmp_path / "out", 0)
    assert "1 image look-up at 6 per 10 s takes under a minute." in printed.err
    assert "image look-up (IQDB, score at least 85) 1" in printed.out
    assert main(["tag", str(src), "--out", str(tmp_path / "o2"), "--iqdb", "--iqdb-cutoff", "0", "--offline"]) == 2
    assert "--iqdb-cutoff is an IQDB score above 0 and at most 100" in capsys.readouterr().err


def test_the_tab(booru_server, tmp_path):
    pytest.importorskip("gradio")
    from sd_dataset.host import Host
    from sd_dataset.ui import _sentence, DatasetTab
    from ui.step_args import tag_args

    server = booru_server(posts(2), credentials=(USER, KEY))
    src = folder_of_copies(tmp_path, server.posts[:1])
    tab = DatasetTab(Host(datasets_root=tmp_path))
    assert _sentence(tab.tag, "Tag")(*tag_args(src, tmp_path / "out", iqdb=True, iqdb_cutoff=0)) == (
        'error: "IQDB score cutoff" is an IQDB score above 0 and at most 100; enter e.g. 80.')
    text = tab.tag(*tag_args(src, tmp_path / "out", iqdb=True, offline=False, keep_untagged=False,
                             base_url=server.url, username=USER, api_key=KEY)).text()
    assert "image look-up (IQDB, score at least 80) 1" in text and "thing 0" in caption(tmp_path / "out", 0)
