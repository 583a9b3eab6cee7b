import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for, make_posts
from sd_dataset.boorus.base import Post
from sd_dataset.boorus.e621 import parse_post
from sd_dataset.errors import DatasetError


def test_search_pages_past_one_page_with_id_cursor(booru_server):
    server = booru_server(make_posts(700))
    posts = list(client_for(server).search("red_ball"))
    assert [p.id for p in posts] == sorted((p.id for p in server.posts), reverse=True)
    pages = [r.query.get("page", [None])[0] for r in server.api_requests()]
    limits = [r.query["limit"][0] for r in server.api_requests()]
    assert pages == [None, "b1380", "b1060"]
    assert limits == ["320", "320", "320"]


def test_limit_caps_results_and_page_size(booru_server):
    server = booru_server(make_posts(700))
    posts = list(client_for(server).search("red_ball", limit=650))
    assert len(posts) == 650 and len({p.md5 for p in posts}) == 650
    assert [r.query["limit"][0] for r in server.api_requests()] == ["320", "320", "10"]


def test_search_stops_on_short_page(booru_server):
    server = booru_server(make_posts(320))
    assert len(list(client_for(server).search("red_ball"))) == 320
    # a full page may be the last one: one more request sees it empty
    assert len(server.api_requests()) == 2


def test_numbered_pages_for_other_orders(booru_server):
    server = booru_server(make_posts(400))
    posts = list(client_for(server).search("red_ball order:score"))
    assert len(posts) == 400
    assert [r.query["page"][0] for r in server.api_requests()] == ["1", "2"]


def test_too_many_tags_refused_before_any_request(booru_server):
    server = booru_server(make_posts(1))
    with pytest.raises(DatasetError, match="41 tags but e621 allows at most 40"):
        list(client_for(server).search(" ".join(f"t{i}" for i in range(41))))
    assert server.requests == []


def test_posts_by_md5_batches_under_8kb_and_includes_deleted(booru_server):
    posts = make_posts(450)
    posts[7].deleted = True
    server = booru_server(posts)
    client = client_for(server)
    unknown = "f" * 32
    found = client.posts_by_md5([p.md5 for p in posts] + [unknown, "not-a-hash"])
    assert set(found) == {p.md5 for p in posts}
    assert found[posts[7].md5].deleted and found[posts[7].md5].file_url is None
    requests = server.api_requests()
    assert len(requests) == 2  # 451 well-formed hashes, about 225 a request
    assert all(r.line_length < 8000 for r in requests)
    assert all("status:any" in r.query["tags"][0] for r in requests)
    batch_sizes = [r.query["tags"][0].count(",") + 1 for r in requests]
    assert max(batch_sizes) <= 320 and sum(batch_sizes) == 451 and min(batch_sizes[:-1]) >= 190


def test_single_lookup_and_missing(booru_server):
    posts = make_posts(2)
    server = booru_server(posts)
    client = client_for(server)
    assert client.post_by_md5(posts[1].md5).id == posts[1].id
    assert client.post_by_md5("0" * 32) is None


def test_post_fields_are_normalised(booru_server):
    post = ServerPost(id=5, data=image_bytes(5, "JPEG"), ext="jpg", rating="q",
                      tags={"artist": ["some_artist"], "general": ["red_ball", "blue_sky"], "species": ["fox"]})
    server = booru_server([post])
    got = next(client_for(server).search(""))
    assert got == Post(id=5, md5=post.real_md5, file_url=server.file_url(post), ext="jpg", width=24, height=16,
                       size=len(post.data), rating="q", score=10, fav_count=3,
                       tags={"artist": ["some_artist"], "species": ["fox"], "general": ["red_ball", "blue_sky"]},
                       sources=["https://example.invalid/source"], deleted=False, site="e621")
    assert Post.from_json(got.to_json()) == got


@pytest.mark.parametrize("field,value", [("md5", "../../etc/passwd"), ("ext", "png/../../x"), ("ext", ""),
                                         ("md5", "G" * 32)])
def test_hostile_post_fields_are_refused(field, value):
    raw = {"id": 1, "file": {"md5": "a" * 32, "ext": "png", "url": "http://x/y.png"}, "tags": {}}
    raw["file"][field] = value
    with pytest.raises(ValueError):
        parse_post(raw, "e621", "http://x/")


def test_non_http_file_url_is_refused():
    raw = {"id": 1, "file": {"md5": "a" * 32, "ext": "png", "url": "file:///etc/passwd"}, "tags": {}}
    with pytest.raises(ValueError):
        parse_post(raw, "e621", "http://x/")
