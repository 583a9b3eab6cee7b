"""Danbooru, Gelbooru-style and Moebooru clients against local servers shaped like their APIs."""

import hashlib
import re
import io
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booru_server import ServerPost, image_bytes
from conftest import make_posts, own_site, site_client
from site_servers import DanbooruServer, GelbooruServer, MoebooruServer
from sd_dataset.boorus import SITES, open_booru
from sd_dataset.boorus import danbooru as danbooru_mod
from sd_dataset.boorus import gelbooru as gelbooru_mod
from sd_dataset.boorus import moebooru as moebooru_mod
from sd_dataset.boorus.base import Post
from sd_dataset.errors import DatasetError
from sd_dataset.fetch import fetch, read_sidecar

ROOT = Path(__file__).resolve().parents[1]
GEL_AUTH = ("4242", "gel-secret-key-77")


def ids_desc(posts):
    return sorted((p.id for p in posts), reverse=True)


def tags_of(request):
    return request.query.get("tags", [""])[0]


# -- Danbooru -------------------------------------------------------------------------

def test_danbooru_pages_with_b_cursor_200_a_page(site_server):
    server = site_server(DanbooruServer, make_posts(450))
    posts = list(site_client(server, "danbooru").search("red_ball"))
    assert [p.id for p in posts] == ids_desc(server.posts)
    api = server.api_requests()
    assert [r.query.get("page", [None])[0] for r in api] == [None, "b1250", "b1050"]
    assert [r.query["limit"][0] for r in api] == ["200", "200", "200"]


def test_danbooru_limit_and_numbered_pages_for_other_orders(site_server):
    server = site_server(DanbooruServer, make_posts(450))
    assert len(list(site_client(server, "danbooru").search("red_ball", limit=250))) == 250
    assert [r.query["limit"][0] for r in server.api_requests()] == ["200", "50"]
    server.requests.clear()
    assert len(list(site_client(server, "danbooru").search("red_ball order:score"))) == 450
    assert [r.query["page"][0] for r in server.api_requests()] == ["1", "2", "3"]


def test_danbooru_anonymous_tag_limit_is_one_sentence_before_any_request(site_server, tmp_path):
    server = site_server(DanbooruServer, make_posts(3))
    client = site_client(server, "danbooru")
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball blue_sky green_hat"))
    message = str(err.value)
    assert message.startswith("danbooru lets searches without a login use at most 2 tags (this one has 3)")
    assert "DANBOORU_USERNAME and DANBOORU_API_KEY" in message and message.count(".") == 1
    with pytest.raises(DatasetError, match="at most 2 tags"):
        fetch(client, "red_ball blue_sky -green_hat", tmp_path)
    assert server.requests == []
    # metatags do not count, as on the site
    assert len(list(client.search("red_ball -green_hat rating:s score:>1 status:any"))) == 3


def test_danbooru_tag_limit_answer_for_a_logged_in_member(site_server):
    server = site_server(DanbooruServer, make_posts(3), credentials=("alice", "dk"), tag_limit_logged_in=2)
    client = site_client(server, "danbooru", username="alice", api_key="dk")
    with pytest.raises(DatasetError) as err:
        list(client.search("red_ball blue_sky green_hat"))
    assert "danbooru refused the search: your account may search at most 2 tags at once (this one has 3)" in \
        str(err.value)
    assert "Member accounts may use 2 tags, Gold 6" in str(err.value)
    assert len(server.api_requests()) == 1  # a logged-in account's level is the site's to judge


def test_danbooru_tag_limit_answer_without_a_login_uses_the_sites_number(site_server):
    server = site_server(DanbooruServer, make_posts(3), tag_limit_anonymous=1)  # a stricter clone
    with pytest.raises(DatasetError) as err:
        list(site_client(server, "danbooru").search("red_ball -blue_sky"))
    assert str(err.value).startswith("danbooru lets searches without a login use at most 1 tag (this one has 2), ")
    assert "log in (Gold accounts may use 6) with --username and --api-key" in str(err.value)
    assert len(server.api_requests()) == 1


def test_danbooru_hidden_posts_have_no_md5_or_url_unless_logged_in(site_server, tmp_path):
    posts = make_posts(3)
    posts[1].hidden = True
    server = site_server(DanbooruServer, posts, credentials=("alice", "dk"))
    anonymous = {p.id: p for p in site_client(server, "danbooru").search("red_ball")}
    assert anonymous[posts[1].id].md5 == "" and anonymous[posts[1].id].file_url is None
    assert anonymous[posts[1].id].tags == {"general": ["red_ball"]}
    assert site_client(server, "danbooru").posts_by_md5([posts[1].md5]) == {}
    logged_in = {p.id: p for p in site_client(server, "danbooru", username="alice", api_key="dk").search("red_ball")}
    assert logged_in[posts[1].id].md5 == posts[1].md5 and logged_in[posts[1].id].file_url

    report = fetch(site_client(server, "danbooru"), "red_ball", tmp_path)
    assert (report.downloaded, report.hidden, report.failed) == (2, 1, [])
    hint = report.summary(SITES["danbooru"].login_hint)[-2]
    assert "DANBOORU_USERNAME and DANBOORU_API_KEY" in hint


def test_danbooru_md5_lookups_batched_with_deleted_posts(site_server):
    posts = make_posts(150)
    posts[3].deleted = True
    server = site_server(DanbooruServer, posts)
    found = site_client(server, "danbooru").posts_by_md5([p.md5 for p in posts] + ["f" * 32, "nope"])
    assert set(found) == {p.md5 for p in posts}
    assert found[posts[3].md5].deleted
    api = server.api_requests()
    assert len(api) == 2 and all("status:any" in tags_of(r) for r in api)
    assert sorted(tags_of(r).count(",") + 1 for r in api) == [51, 100]
    assert all(r.line_length < 8000 for r in api)


def test_danbooru_post_is_normalised_with_tags_by_category(site_server):
    post = ServerPost(id=7, data=image_bytes(7, "JPEG"), ext="jpg", rating="g",
                      tags={"general": ["red_ball", "blue_sky"], "artist": ["some_artist"],
                            "character": ["ball_person"], "copyright": ["ball_world"], "meta": ["highres"]})
    server = site_server(DanbooruServer, [post])
    got = next(site_client(server, "danbooru").search(""))
    assert got == Post(id=7, md5=post.real_md5, file_url=server.file_url(post), ext="jpg", width=24, height=16,
                       size=len(post.data), rating="g", score=10, fav_count=3,
                       tags={"artist": ["some_artist"], "copyright": ["ball_world"], "character": ["ball_person"],
                             "general": ["red_ball", "blue_sky"], "meta": ["highres"]},
                       sources=["https://example.invalid/source"], deleted=False, site="danbooru")
    assert list(got.tags) == ["artist", "copyright", "character", "general", "meta"]
    assert Post.from_json(got.to_json()) == got
    assert SITES["danbooru"].rating_words[got.rating] == "general"


# -- Gelbooru-style ---------------------------------------------------------------------

def test_gelbooru_pages_with_id_cursor_and_sends_the_login_as_parameters(site_server):
    server = site_server(GelbooruServer, make_posts(250), auth=GEL_AUTH)
    client = site_client(server, "gelbooru", username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    posts = list(client.search("red_ball"))
    assert [p.id for p in posts] == ids_desc(server.posts)
    api = [r for r in server.api_requests() if r.query["s"] == ["post"]]
    # a page of at least half the limit may not be the last one on gelbooru: one more request sees it empty
    assert [tags_of(r) for r in api] == ["red_ball", "red_ball id:<1150", "red_ball id:<1050", "red_ball id:<1000"]
    assert all(r.query.get("pid", ["0"]) == ["0"] for r in api)  # no deep pid
    assert all(r.query["limit"] == ["100"] for r in api)
    assert all((r.query["user_id"], r.query["api_key"]) == ([GEL_AUTH[0]], [GEL_AUTH[1]]) for r in api)


def test_gelbooru_limit_and_pid_pages_for_sort_orders(site_server):
    server = site_server(GelbooruServer, make_posts(250), auth=GEL_AUTH)
    client = site_client(server, "gelbooru", username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    assert len(list(client.search("red_ball", limit=150))) == 150
    post_requests = lambda: [r for r in server.api_requests() if r.query["s"] == ["post"]]  # noqa: E731
    assert [r.query["limit"][0] for r in post_requests()] == ["100", "50"]
    server.requests.clear()
    assert len({p.md5 for p in client.search("red_ball sort:score:desc")}) == 250
    assert [r.query["pid"][0] for r in post_requests()] == ["0", "1", "2", "3"]


def test_gelbooru_tag_categories_from_the_tag_api_cached(site_server):
    posts = make_posts(3, tags={"general": ["red_ball", "ball_artist", "cat's_cradle", "unknown_tag"]})
    server = site_server(GelbooruServer, posts, auth=GEL_AUTH,
                         tag_types={"red_ball": 0, "ball_artist": 1, "cat's_cradle": 4})
    client = site_client(server, "gelbooru", username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    got = list(client.search("red_ball"))
    assert got[0].tags == {"artist": ["ball_artist"], "character": ["cat's_cradle"],
                           "general": ["red_ball", "unknown_tag"]}
    tag_requests = [r for r in server.api_requests() if r.query["s"] == ["tag"]]
    assert len(tag_requests) == 1
    assert client.post_by_md5(posts[0].md5).tags == got[-1].tags
    assert len([r for r in server.api_requests() if r.query["s"] == ["tag"]]) == 1  # cached
    assert got[0].rating == "s" and SITES["gelbooru"].rating_words["s"] == "sensitive"


@pytest.mark.parametrize("site", ["safebooru", "rule34"])
def test_gelbooru_02_bare_array_shape_without_file_url(site_server, site, tmp_path):
    posts = make_posts(130, tags={"general": ["red_ball", "cat's_cradle"]})
    server = site_server(GelbooruServer, posts, shape="array", file_url=False, auth=GEL_AUTH)
    client = site_client(server, site, username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    got = list(client.search("red_ball"))
    assert [p.id for p in got] == ids_desc(posts)
    assert got[0].tags == {"general": ["red_ball", "cat's_cradle"]}  # flat, unescaped, no tag API
    assert got[0].file_url == server.file_url(server.posts[-1])
    assert all(r.query["s"] == ["post"] for r in server.api_requests())
    assert list(client.search("no_such_tag")) == []  # an empty body means no posts
    report = fetch(client, "red_ball", tmp_path, limit=5)
    assert report.downloaded == 5 and report.ok


def test_gelbooru_md5_lookup_is_one_request_per_hash(site_server):
    posts = make_posts(4)
    server = site_server(GelbooruServer, posts, auth=GEL_AUTH)
    client = site_client(server, "gelbooru", username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    found = client.posts_by_md5([p.md5 for p in posts[:3]] + ["0" * 32, "bad"])
    assert set(found) == {p.md5 for p in posts[:3]}
    post_requests = [r for r in server.api_requests() if r.query["s"] == ["post"]]
    assert sorted(tags_of(r) for r in post_requests) == sorted(f"md5:{m}" for m in [p.md5 for p in posts[:3]]
                                                               + ["0" * 32])


def test_gelbooru_missing_login_is_one_sentence(site_server, monkeypatch):
    for var in ("GELBOORU_USERNAME", "GELBOORU_USER_ID", "GELBOORU_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DatasetError) as err:
        open_booru("gelbooru")
    assert str(err.value) == (
        "gelbooru answers its API only with a login; give --username with your numeric user id and --api-key "
        "(or GELBOORU_USER_ID and GELBOORU_API_KEY), both from your gelbooru account's options page.")
    # another address of the family: the server says so, and the client explains in one sentence
    server = site_server(GelbooruServer, make_posts(1), auth=GEL_AUTH)
    with pytest.raises(DatasetError, match=r"wants a login for its API \(HTTP 401\); give --username with your "
                                           r"numeric user id"):
        list(site_client(server, "gelbooru").search("red_ball"))
    monkeypatch.setenv("GELBOORU_USER_ID", GEL_AUTH[0])
    monkeypatch.setenv("GELBOORU_API_KEY", GEL_AUTH[1])
    with pytest.raises(DatasetError, match=r"wants a login"):  # a login kept for gelbooru.com is not sent elsewhere
        list(site_client(server, "gelbooru").search("red_ball"))
    own_site(monkeypatch, "gelbooru", server.url)
    assert len(list(site_client(server, "gelbooru").search("red_ball"))) == 1


def test_gelbooru_login_stays_off_file_requests_and_out_of_messages(site_server, caplog):
    posts = make_posts(2)
    server = site_server(GelbooruServer, posts, auth=GEL_AUTH)
    client = site_client(server, "gelbooru", username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    post = next(client.search("red_ball"))
    client.http.download(post.file_url, io.BytesIO())
    (file_request,) = server.file_requests()
    assert file_request.query == {} and "Authorization" not in file_request.headers
    assert all(GEL_AUTH[0] not in r.headers["User-Agent"] for r in server.requests)
    caplog.set_level(logging.DEBUG)
    server.script("/index.php", ["503", "echo400"])
    with pytest.raises(DatasetError) as err:
        list(client.search("blue_sky"))
    assert "gelbooru rejected the request (HTTP 400)" in str(err.value)
    assert "api_key=***" in str(err.value) and GEL_AUTH[1] not in str(err.value)
    assert caplog.records and all(GEL_AUTH[1] not in r.getMessage() for r in caplog.records)


# -- Moebooru ---------------------------------------------------------------------------

def test_moebooru_pages_by_number(site_server):
    server = site_server(MoebooruServer, make_posts(250))
    posts = list(site_client(server, "yandere").search("red_ball"))
    assert [p.id for p in posts] == ids_desc(server.posts)
    api = server.api_requests()
    assert [(r.query["page"][0], r.query["limit"][0]) for r in api] == [("1", "100"), ("2", "100"), ("3", "100")]
    server.requests.clear()
    assert len(list(site_client(server, "yandere").search("red_ball", limit=150))) == 150
    assert [r.query["page"][0] for r in server.api_requests()] == ["1", "2"]
    server.requests.clear()
    assert len(list(site_client(server, "yandere").search("red_ball", limit=30))) == 30
    assert [r.query["limit"][0] for r in server.api_requests()] == ["30"]


def test_moebooru_md5_lookups_batched(site_server):
    posts = make_posts(150)
    server = site_server(MoebooruServer, posts)
    found = site_client(server, "konachan").posts_by_md5([p.md5 for p in posts] + ["e" * 32])
    assert set(found) == {p.md5 for p in posts}
    api = server.api_requests()
    assert sorted(tags_of(r).count(",") + 1 for r in api) == [51, 100]
    assert all(tags_of(r).startswith("md5:") and r.line_length < 8000 for r in api)


def test_moebooru_login_parameters_go_to_api_requests_only(site_server):
    posts = make_posts(2)
    posts[0].hidden = True
    server = site_server(MoebooruServer, posts, auth=("alice", "hash-123abc"))
    anonymous = {p.id: p for p in site_client(server, "yandere").search("red_ball")}
    assert anonymous[posts[0].id].file_url is None and anonymous[posts[0].id].md5 == posts[0].md5
    client = site_client(server, "yandere", username="alice", api_key="hash-123abc")
    post = {p.id: p for p in client.search("red_ball")}[posts[0].id]
    assert post.file_url
    client.http.download(post.file_url, io.BytesIO())
    api = server.api_requests()[-1]
    assert (api.query["login"], api.query["password_hash"]) == (["alice"], ["hash-123abc"])
    assert server.file_requests()[-1].query == {}
    with pytest.raises(DatasetError, match="refused access"):
        list(site_client(server, "yandere", username="alice", api_key="wrong").search("red_ball"))


# -- every family ------------------------------------------------------------------------

FAMILIES = [
    (DanbooruServer, "danbooru", {}, {}),
    (DanbooruServer, "safebooru-donmai", {}, {}),
    (GelbooruServer, "gelbooru", {"auth": GEL_AUTH}, {"username": GEL_AUTH[0], "api_key": GEL_AUTH[1]}),
    (GelbooruServer, "rule34", {"auth": GEL_AUTH, "shape": "array"}, {"username": GEL_AUTH[0],
                                                                       "api_key": GEL_AUTH[1]}),
    (GelbooruServer, "safebooru", {"shape": "array", "file_url": False}, {}),
    (MoebooruServer, "yandere", {}, {}),
    (MoebooruServer, "konachan", {"site": "konachan.com", "protocol_relative": True}, {}),
]


def mixed_posts():
    posts = make_posts(4)
    posts.append(ServerPost(id=2001, data=image_bytes(2001, "JPEG"), ext="jpg"))
    posts.append(ServerPost(id=2002, data=b"\x1aE\xdf\xa3 not really a video", ext="webm"))
    posts.append(ServerPost(id=2003, data=image_bytes(2003), md5="0123456789abcdef0123456789abcdef"))
    posts.append(ServerPost(id=2004, data=image_bytes(2004), md5="../../../etc/passwd"))
    posts.append(ServerPost(id=2005, data=image_bytes(2005), ext="png/../../x"))
    return posts


@pytest.mark.parametrize("cls,site,server_kwargs,login", FAMILIES, ids=[f[1] for f in FAMILIES])
def test_fetch_through_every_family_keeps_verified_images_with_sidecars(site_server, tmp_path, cls, site,
                                                                        server_kwargs, login):
    posts = mixed_posts()
    server = site_server(cls, posts, **server_kwargs)
    report = fetch(site_client(server, site, **login), "red_ball", tmp_path)
    good = [p for p in posts[:5]]
    assert (report.downloaded, dict(report.skipped_type)) == (5, {"webm": 1})
    assert sorted(f.name for f in report.failed) == ["0123456789abcdef0123456789abcdef.png", "post 2004", "post 2005"]
    assert "did not match the post's md5" in report.failed[0].reason
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([f"{p.md5}.{p.ext}" for p in good] + [f"{p.md5}.json" for p in good])
    for post in good:
        assert hashlib.md5((tmp_path / f"{post.md5}.{post.ext}").read_bytes()).hexdigest() == post.md5
        sidecar = read_sidecar(tmp_path, post.md5)
        assert (sidecar.id, sidecar.site, sidecar.ext) == (post.id, site, post.ext)
        assert "red_ball" in sidecar.all_tags()
    secrets = [v for v in login.values() if len(v) > 6]
    text = "".join(p.read_text(errors="replace") for p in tmp_path.iterdir() if p.suffix == ".json")
    assert not any(s in text for s in secrets)


@pytest.mark.parametrize("cls,site,server_kwargs,login", [FAMILIES[0], FAMILIES[2], FAMILIES[5]],
                         ids=["danbooru", "gelbooru", "yandere"])
def test_each_site_keeps_its_polite_rate_at_the_server(site_server, cls, site, server_kwargs, login):
    posts = make_posts(5)
    rate = SITES[site].rate
    server = site_server(cls, posts, enforce_rate=True, max_per_second=math.ceil(rate), **server_kwargs)
    client = open_booru(site, base_url=server.url, **login)  # the site's own policy
    assert client.http.policy.rate == rate
    for post in posts[: int(rate * 2) + 1]:
        assert client.post_by_md5(post.md5).id == post.id
    assert server.faults_served == [] and client.http.stats.retries == 0
    assert server.max_api_requests_in_any_second() <= math.ceil(rate)


@pytest.mark.parametrize("module,raw", [
    (danbooru_mod, {"id": 1, "md5": "a" * 32, "file_ext": "png", "file_url": "http://x/a.png"}),
    (gelbooru_mod, {"id": 1, "md5": "a" * 32, "image": "a.png", "file_url": "http://x/a.png", "tags": "a"}),
    (moebooru_mod, {"id": 1, "md5": "a" * 32, "file_ext": "png", "file_url": "http://x/a.png", "tags": "a"}),
])
@pytest.mark.parametrize("field,value", [("md5", "../../etc/passwd"), ("md5", "G" * 32), ("file_url", "file:///etc"),
                                         ("id", "12; drop"), ("id", float("inf")), ("tags", ["a"]),
                                         ("ext", "png/../../x")])
def test_hostile_fields_are_refused_by_every_family(module, raw, field, value):
    raw = dict(raw)
    if field == "ext":
        field = {"danbooru": "file_ext", "gelbooru": "image", "moebooru": "file_ext"}[module.__name__.rsplit(".", 1)[1]]
    if field == "tags" and module is danbooru_mod:
        field = "tag_string_general"
    module.parse_post(raw, "x", "http://x/")  # the untouched post is fine
    raw[field] = value
    with pytest.raises((ValueError, TypeError)):
        module.parse_post(raw, "x", "http://x/")


def test_site_table_names_every_site_with_its_data():
    assert list(SITES) == ["e621", "e926", "danbooru", "safebooru-donmai", "gelbooru", "rule34", "safebooru",
                           "yandere", "konachan"]
    for site in SITES.values():
        assert site.base_url.startswith("https://") and 0 < site.rate <= site.max_rate
        assert set(site.rating_words) >= {"q", "e"} and "general" in site.category_order
    assert SITES["danbooru"].rating_words == {"g": "general", "s": "sensitive", "q": "questionable",
                                              "e": "explicit"}
    assert SITES["e621"].rating_words == {"s": "safe", "q": "questionable", "e": "explicit"}
    assert SITES["danbooru"].tag_categories[4] == "character" and SITES["e621"].tag_categories[5] == "species"
    with pytest.raises(DatasetError, match="Unknown site 'danbooru2'; choose one of: e621, e926, danbooru"):
        open_booru("danbooru2")


def run_cli(args, env=None):
    return subprocess.run([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_cli_fetch_from_gelbooru_with_a_login_for_the_run(site_server, tmp_path):
    server = site_server(GelbooruServer, make_posts(3), auth=GEL_AUTH)
    out = tmp_path / "out"
    stored = {"GELBOORU_USER_ID": GEL_AUTH[0], "GELBOORU_API_KEY": GEL_AUTH[1]}
    command = ["fetch", "red_ball", "--booru", "gelbooru", "--base-url", server.url, "--out", str(out)]
    result = run_cli(command, env=stored)  # the environment's login is gelbooru.com's, not this address's
    assert result.returncode == 2 and "wants a login for its API" in result.stderr, result.stderr
    assert not [r for r in server.api_requests() if GEL_AUTH[1] in str(r.query)]
    result = run_cli(command + ["--username", GEL_AUTH[0], "--api-key", GEL_AUTH[1]])
    assert result.returncode == 0, result.stderr
    assert "downloaded 3" in result.stdout
    assert GEL_AUTH[1] not in result.stdout + result.stderr
    result = run_cli(["fetch", "x", "--booru", "nosuchbooru", "--out", str(out)])
    assert result.returncode == 2 and "invalid choice: 'nosuchbooru'" in result.stderr
    help_text = run_cli(["fetch", "--help"]).stdout
    assert "DANBOORU_USERNAME" in help_text and "GELBOORU_USER_ID" in help_text


def test_gelbooru_tag_types_as_numbers_or_words():
    assert [gelbooru_mod.category_of(k) for k in (0, "1", 3, 4, 5, 6, 99, "metadata", "Artist", "tag", None, [])] == \
        ["general", "artist", "copyright", "character", "meta", "deprecated", "general", "meta", "artist", "general",
         "general", "general"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["id", "md5", "hash", "file_ext", "file_url", "image", "directory", "tags", "tag_string_general",
          "rating", "score", "width", "height", "image_width", "file_size", "source", "status", "is_deleted"]


@settings(max_examples=300, deadline=None)
@given(raw=st.fixed_dictionaries({}, optional={k: JSON_VALUES | st.just("a" * 32) | st.just("png") for k in FIELDS}),
       module=st.sampled_from([danbooru_mod, gelbooru_mod, moebooru_mod]))
def test_any_server_data_gives_a_safe_post_or_a_refusal(raw, module):
    """Whatever a server sends, a post is either safe to name files after or refused with a caught error."""
    try:
        post = module.parse_post(raw, "x", "http://x/")
    except (KeyError, TypeError, ValueError):
        return
    assert re.fullmatch(r"[0-9a-f]{32}", post.md5) or (module is danbooru_mod and post.md5 == "" and not post.file_url)
    assert re.fullmatch(r"[a-z0-9]{1,5}", post.ext)
    assert post.file_url is None or post.file_url.startswith(("http://", "https://"))
    assert isinstance(post.id, int) and all(isinstance(t, str) for t in post.all_tags())
