"""The tab's steps scripted through gradio_client, as a user automating the flow would."""

import pytest

from booru_server import ServerPost, image_bytes
from sd_dataset.host import Host

gradio_client = pytest.importorskip("gradio_client")


def test_fetch_and_tag_through_gradio_client(booru_server, tmp_path, launch_tab):
    posts = [ServerPost(id=50 + i, data=image_bytes(i, size=(300, 300)), tags={"general": ["red_ball"]})
             for i in range(4)]
    server = booru_server(posts)
    url = launch_tab(Host(datasets_root=tmp_path, api_rate=2.0))
    client = gradio_client.Client(url)
    downloaded, tagged = tmp_path / "d", tmp_path / "t"
    log = client.predict(str(downloaded), "e621", server.url, "red_ball", 0, 2, False, "", "", False,
                         api_name="/fetch")
    assert log.startswith("considered 4 posts: downloaded 4"), log
    log = client.predict(str(downloaded), str(tagged), "e621", server.url, "", "auto", "", "txt", "flat", 10, "", "",
                         [], "",
                         True, True, False, True, 0, False, True, False, [], "", "", False, "", "", False, 80,
                         api_name="/tag")
    assert log.startswith("4 images: tagged 4"), log
    assert sorted(p.read_text() for p in tagged.glob("*.txt")) == ["safe content, red ball"] * 4
    error = client.predict(str(downloaded), "e621", server.url, "", 0, 2, False, "", "", False, api_name="/fetch")
    assert error == "error: Type a search first, e.g. red_panda solo."


def test_cancel_stops_a_running_fetch(booru_server, tmp_path, launch_tab):
    import time

    posts = [ServerPost(id=80 + i, data=image_bytes(i, size=(300, 300))) for i in range(30)]
    server = booru_server(posts)
    server.script("/data/", ["slow"] * 30)
    url = launch_tab(Host(datasets_root=tmp_path, api_rate=2.0))
    client = gradio_client.Client(url)
    job = client.submit(str(tmp_path / "d"), "e621", server.url, "red_ball", 0, 1, False, "", "", False,
                         api_name="/fetch")
    deadline = time.monotonic() + 30
    while not list((tmp_path / "d").glob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.predict(api_name="/fetch_cancel") == "cancelling: the step stops after the current file"
    assert job.result(timeout=60) == "stopped: Cancelled by the user; a rerun finishes what is not done."
    assert len(list((tmp_path / "d").glob("*.png"))) < 30


def test_cancel_cuts_a_dripping_download_and_the_queue_runs_on(booru_server, tmp_path, launch_tab):
    """A file sent one byte every 2 s would hold the fetch (and its queue slot) for many minutes."""
    import time

    posts = [ServerPost(id=80, data=image_bytes(1, size=(300, 300)))]
    server = booru_server(posts)
    server.drip_seconds = 2.0
    server.script("/data/", ["drip"])
    client = gradio_client.Client(launch_tab(Host(datasets_root=tmp_path, api_rate=2.0)))
    job = client.submit(str(tmp_path / "d"), "e621", server.url, "red_ball", 0, 1, False, "", "", False,
                        api_name="/fetch")
    assert server.dripping.wait(30)
    client.predict(api_name="/fetch_cancel")
    assert job.result(timeout=20) == "stopped: Cancelled by the user; a rerun finishes what is not done."
    log = client.predict(str(tmp_path / "d"), "e621", server.url, "red_ball", 0, 1, False, "", "", False,
                         api_name="/fetch")
    assert log.startswith("considered 1 posts: downloaded 1"), log


def test_json_nested_past_the_recursion_limit_is_a_sentence_in_the_app(booru_server, tmp_path, launch_tab):
    server = booru_server([ServerPost(id=81, data=image_bytes(1))])
    server.script("/posts.json", ["deepjson"])
    client = gradio_client.Client(launch_tab(Host(datasets_root=tmp_path, api_rate=2.0)))
    log = client.predict(str(tmp_path / "d"), "e621", server.url, "red_ball", 0, 1, False, "", "", False,
                         api_name="/fetch")
    assert log == (f"error: e621 sent JSON nested too deeply to read from {server.url}; refusing it (check that "
                   "\"Site address\" points at the site's API).")


def test_the_hosts_caption_defaults_fill_the_tag_section(tmp_path):
    from sd_dataset.ui import build_ui

    blocks = build_ui(Host(datasets_root=tmp_path, caption_defaults={"caption": "both", "rating": False}))
    by_id = {getattr(b, "elem_id", None): b for b in blocks.blocks.values()}
    assert by_id["sdds_caption"].value == "both"
    rating = next(b for b in blocks.blocks.values() if getattr(b, "label", None) == "Rating first")
    assert rating.value is False


def test_a_login_typed_in_the_tab_goes_to_this_run_and_is_kept_only_when_asked(booru_server, tmp_path, launch_tab,
                                                                               monkeypatch):
    import stat

    from conftest import own_site
    from sd_dataset.http import Credentials
    from sd_dataset.logins import LoginStore

    key = "typed-KEY-0123456789"
    server = booru_server([ServerPost(id=90, data=image_bytes(1, size=(300, 300)), hidden=True)],
                          credentials=("alice", key))
    store = LoginStore(tmp_path / "config" / "logins.json")
    client = gradio_client.Client(launch_tab(Host(datasets_root=tmp_path, api_rate=2.0, logins=store,
                                                  credentials=lambda site, prefix: store.get(prefix))))
    log = client.predict(str(tmp_path / "a"), "e621", server.url, "red_ball", 0, 2, False, "alice", key, False,
                         api_name="/fetch")
    assert "downloaded 1" in log and key not in log  # the hidden post: the typed login reached the mirror
    assert not store.path.exists()  # not asked to remember
    client.predict(str(tmp_path / "b"), "e621", server.url, "red_ball", 0, 2, False, "alice", key, True,
                   api_name="/fetch")
    assert store.get("E621") == Credentials("alice", key)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    # kept for e621 itself: a run with empty fields sends it to e621's own address only
    own_site(monkeypatch, "e621", server.url)
    server.requests.clear()
    log = client.predict(str(tmp_path / "c"), "e621", server.url, "red_ball", 0, 2, False, "", "", False,
                         api_name="/fetch")
    assert "downloaded 1" in log and all("Authorization" in r.headers for r in server.api_requests())
    log = client.predict(str(tmp_path / "d"), "e621", server.url, "red_ball", 0, 2, False, "alice", "", True,
                         api_name="/fetch")
    assert log == "error: Type both your e621 user name and API key to remember them."
