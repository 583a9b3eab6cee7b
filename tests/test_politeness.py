"""Several runs at once keep the site's rate together, at the defaults a user gets (no --rate, the site table's
polite rate): e621 answers more than 2 API requests a second with 503 and may block the user
(/work/shared/booru-api.md), so the server here records every arrival and no second may hold more than 2."""

import subprocess
import sys
import threading
from pathlib import Path

from booru_server import PAGE_MAX
from conftest import make_posts
from sd_dataset.boorus import open_booru

ROOT = Path(__file__).resolve().parents[1]
E621_HARD_LIMIT = 2  # API requests in any second


def test_three_command_line_fetches_at_once_keep_the_sites_rate_together(booru_server, tmp_path):
    server = booru_server(make_posts(2 * PAGE_MAX + 20, hidden=True))  # three pages a search, and no file to get
    runs = [subprocess.Popen([sys.executable, "-m", "sd_dataset", "fetch", "red_ball", "--out", str(tmp_path / str(i)),
                              "--base-url", server.url], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for i in range(3)]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert out.startswith(f"considered {2 * PAGE_MAX + 20} posts")
    assert len(server.api_requests()) == 9 and "503" not in server.faults_served
    assert server.max_api_requests_in_any_second() <= E621_HARD_LIMIT


def test_four_runs_in_one_process_keep_the_sites_rate_together(booru_server):
    """As four tag runs in the app's queue: each opens its own client."""
    posts = make_posts(4)
    server = booru_server(posts)
    clients = [open_booru("e621", base_url=server.url) for _ in posts]
    found = {}
    threads = [threading.Thread(target=lambda c=c, p=p: found.update(c.posts_by_md5([p.md5])))
               for c, p in zip(clients, posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(found) == {p.md5 for p in posts}
    assert len(server.api_requests()) == 4
    assert server.max_api_requests_in_any_second() <= E621_HARD_LIMIT


def test_where_the_cache_folder_cannot_hold_the_rate_file_a_run_keeps_the_rate_alone(booru_server, tmp_path,
                                                                                    monkeypatch, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    server = booru_server(make_posts(2))
    client = open_booru("e621", base_url=server.url)
    for post in server.posts:
        assert client.post_by_md5(post.md5) is not None
    assert "cannot share the API rate with other runs through" in caplog.text
    assert server.max_api_requests_in_any_second() <= 1  # the site table's polite 1 a second, kept alone
