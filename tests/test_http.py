import io
import re
from urllib.parse import quote

import pytest

from conftest import client_for, fast_policy, make_posts, own_site
from sd_dataset.errors import DatasetError
from sd_dataset.http import Credentials, HttpSession, parse_retry_after, user_agent


def test_user_agent_names_project_version_and_user(booru_server, monkeypatch):
    server = booru_server(make_posts(3), credentials=("alice", "k"))
    own_site(monkeypatch, "e621", server.url)
    for username, expected in ((None, "sd-webui-dataset/0.1.0"), ("alice", "sd-webui-dataset/0.1.0 (by alice on e621)")):
        client = client_for(server, username=username, api_key="k" if username else None)
        list(client.search("red_ball"))
        assert server.requests[-1].headers["User-Agent"] == expected
    assert user_agent(None, "e621") == "sd-webui-dataset/0.1.0"


def test_only_the_sites_own_hosts_learn_the_users_name(booru_server):
    """A mirror given a login for the run gets it (it asked), but the User-Agent names nobody there."""
    server = booru_server(make_posts(2), credentials=("alice", "k"))
    client = client_for(server, username="alice", api_key="k")
    list(client.search("red_ball"))
    assert {r.headers["User-Agent"] for r in server.requests} == {"sd-webui-dataset/0.1.0"}
    assert server.api_requests()[-1].headers["Authorization"].startswith("Basic ")


def test_a_redirect_carries_neither_the_login_nor_the_name(booru_server, monkeypatch):
    other = booru_server(make_posts(2))
    server = booru_server(make_posts(2), credentials=("alice", "s3cret-key"))
    own_site(monkeypatch, "e621", server.url)
    other.credentials = None
    server.redirect_to = other.url.replace("127.0.0.1", "localhost")  # another host name, the same test server
    server.script("/posts.json", ["redirect"])
    client = client_for(server, username="alice", api_key="s3cret-key")
    assert len(list(client.search("red_ball"))) == 2
    (redirected,) = other.api_requests()
    assert "Authorization" not in redirected.headers
    assert redirected.headers["User-Agent"] == "sd-webui-dataset/0.1.0"
    assert server.api_requests()[0].headers["User-Agent"] == "sd-webui-dataset/0.1.0 (by alice on e621)"


def test_basic_auth_goes_to_api_requests_only(booru_server):
    posts = make_posts(2)
    server = booru_server(posts, credentials=("alice", "s3cret-key"))
    client = client_for(server, username="alice", api_key="s3cret-key")
    post = next(client.search("red_ball"))
    client.http.download(post.file_url, io.BytesIO())
    api, files = server.api_requests(), server.file_requests()
    assert api[0].headers["Authorization"].startswith("Basic ")
    assert "Authorization" not in files[0].headers


def test_credentials_come_from_environment(monkeypatch):
    monkeypatch.setenv("E621_USERNAME", "envuser")
    monkeypatch.setenv("E621_API_KEY", "envkey")
    assert Credentials.resolve(None, None, "E621") == Credentials("envuser", "envkey")
    assert Credentials.resolve("opt", "optkey", "E621") == Credentials("opt", "optkey")
    assert "envkey" not in repr(Credentials.resolve(None, None, "E621"))


def test_wrong_key_gives_clear_sentence_without_the_key(booru_server):
    server = booru_server(make_posts(1), credentials=("alice", "right"))
    client = client_for(server, username="alice", api_key="wrong-key-123")
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball"))
    assert "check your e621 username and API key" in str(err.value)
    assert "wrong-key-123" not in str(err.value)


def test_retry_after_is_honoured(booru_server):
    server = booru_server(make_posts(1))
    server.script("/posts.json", ["429"])
    client = client_for(server)
    assert len(list(client.search("red_ball"))) == 1
    first, second = server.api_requests()
    assert second.time - first.time >= 1.0
    assert client.http.stats.retries == 1


@pytest.mark.parametrize("fault", ["503", "reset", "truncate", "badjson"])
def test_transient_api_faults_are_retried(booru_server, fault):
    server = booru_server(make_posts(5))
    server.script("/posts.json", [fault, fault])
    client = client_for(server)
    assert len(list(client.search("red_ball"))) == 5
    assert len(server.api_requests()) == 3
    assert client.http.stats.retries == 2


@pytest.mark.parametrize("fault", ["503", "reset", "truncate"])
def test_transient_download_faults_are_retried(booru_server, fault):
    posts = make_posts(1)
    server = booru_server(posts)
    client = client_for(server)
    post = next(client.search("red_ball"))
    server.script("/data/", [fault])
    buf = io.BytesIO()
    md5, size = client.http.download(post.file_url, buf)
    assert md5 == posts[0].real_md5 and size == len(posts[0].data) == len(buf.getvalue())


def test_tries_are_bounded_then_one_sentence(booru_server):
    server = booru_server(make_posts(1))
    server.script("/posts.json", ["503"] * 10)
    client = client_for(server, max_tries=3)
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball"))
    assert len(server.api_requests()) == 3
    assert "HTTP 503" in str(err.value) and "after 3 tries" in str(err.value)


def test_unreachable_site_is_one_sentence():
    session = HttpSession("e621", policy=fast_policy(max_tries=2))
    with pytest.raises(DatasetError, match="Cannot reach e621 at http://127.0.0.1:9"):
        session.get_json("http://127.0.0.1:9/posts.json")


@pytest.mark.parametrize("rate", [2.0, 1.0])
def test_api_rate_limit_holds_at_the_server(booru_server, rate):
    server = booru_server(make_posts(6))
    client = client_for(server, rate=rate)
    for _ in range(5):
        client.posts_by_md5([server.posts[0].md5])
    assert server.max_api_requests_in_any_second() <= rate
    assert "503" not in server.faults_served
    times = [r.time for r in server.api_requests()]
    assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.98


def test_rate_above_site_limit_is_refused():
    with pytest.raises(DatasetError, match="at most 2 requests per second"):
        HttpSession("e621", policy=fast_policy(rate=3))


def test_download_larger_than_announced_is_refused(booru_server):
    posts = make_posts(1)
    server = booru_server(posts)
    client = client_for(server)
    post = next(client.search("red_ball"))
    with pytest.raises(DatasetError, match="larger than"):
        client.http.download(post.file_url, io.BytesIO(), max_bytes=10)


def test_parse_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize("fault, sentence", [("deepjson", "e621 sent JSON nested too deeply to read"),
                                             ("deep422", "e621 rejected the request (HTTP 422).")])
def test_json_nested_past_the_recursion_limit_is_one_sentence(booru_server, fault, sentence):
    server = booru_server(make_posts(1), credentials=("alice", "k"))
    server.script("/posts.json", [fault])
    client = client_for(server, username="alice", api_key="k")
    with pytest.raises(DatasetError) as err:  # not a RecursionError
        list(client.search("red_ball"))
    assert str(err.value).startswith(sentence)
    assert len(server.api_requests()) == 1  # no retry can mend it


# -- hopeless requests fail at once, in one sentence ---------------------------------------------------------

@pytest.mark.parametrize("url, sentence", [
    ("e621.net/posts.json", "The API address has no http:// or https:// in front"),
    ("ftp://127.0.0.1/posts.json", "The API address starts with ftp://, but only http:// and https://"),
    ("http://127.0.0.1:99999/posts.json", "The API address is not a valid address (Port out of range"),
])
def test_an_address_no_retry_can_reach_fails_at_once(url, sentence):
    session = HttpSession("e621", policy=fast_policy())
    with pytest.raises(DatasetError, match=re.escape(sentence)):
        session.get_json(url)
    assert session.stats.requests == 0 and session.stats.retries == 0


@pytest.mark.parametrize("target", ["file:///etc", "ftp://127.0.0.1"])
def test_a_redirect_to_another_scheme_fails_at_once(booru_server, target):
    server = booru_server(make_posts(1))
    server.redirect_to = target
    server.script("/posts.json", ["redirect"] * 5)
    client = client_for(server)
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball"))
    assert str(err.value) == (f"e621 at {server.url} redirected the request to an address that is not http(s) or "
                              "not valid (InvalidSchema); refusing it.")
    assert len(server.api_requests()) == 1 and client.http.stats.retries == 0


@pytest.mark.parametrize("username, api_key, sentence", [
    ("ali\nce", "k", "The user name has a control character (a newline, tab or the like) in it"),
    ("ali\x1bce", "k", "The user name has a control character"),
    ("alice", "k\r\ney", "The API key has a control character"),
])
def test_a_login_no_server_can_take_fails_before_any_request(booru_server, username, api_key, sentence):
    server = booru_server(make_posts(1))
    with pytest.raises(DatasetError, match=re.escape(sentence)):
        client_for(server, username=username, api_key=api_key)
    assert server.requests == []


@pytest.mark.parametrize("name", ["zoë", "zoë✓"])
def test_a_name_beyond_latin1_logs_in_as_utf8_and_the_user_agent_carries_it_encoded(booru_server, monkeypatch, name):
    server = booru_server(make_posts(1, hidden=True), credentials=(name, "k"))
    own_site(monkeypatch, "e621", server.url)
    client = client_for(server, username=name, api_key="k")
    assert len(list(client.search("red_ball"))) == 1 and client.search_end == ""
    assert next(client.search("red_ball")).file_url  # the hidden post: the login was taken
    agent = server.api_requests()[0].headers["User-Agent"]
    assert agent == f"sd-webui-dataset/0.1.0 (by {quote(name, safe='')} on e621)"


@pytest.mark.parametrize("base_url, sentence", [
    ("http://127.0.0.1:99999/", "error: The site address is not a valid address (Port out of range 0-65535); "
                                "check it for a typo."),
    ("http://[::1", "error: The site address is not a valid address (Invalid IPv6 URL); check it for a typo."),
    ("127.0.0.1:8080", "error: The site address has no http:// or https:// in front; give the whole address, e.g. "
                       "https://e621.net."),
])
def test_cli_a_bad_base_url_is_one_sentence(tmp_path, base_url, sentence):
    from test_fetch import run_cli

    result = run_cli(["fetch", "red_ball", "--out", str(tmp_path / "out"), "--base-url", base_url])
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [sentence]
    assert not (tmp_path / "out").exists()
