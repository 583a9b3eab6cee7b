"""Captions per site: every site family through fetch and tag against its local server, a plain folder
tagged by md5 lookups on a Danbooru-shaped server, vocabularies read with each site's category numbers,
and the one-sentence errors of ``tag``."""

from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for, site_client
from site_servers import DanbooruServer, GelbooruServer, MoebooruServer
from sd_dataset.boorus import SITES
from sd_dataset.boorus.base import Post
from sd_dataset.cli import main
from sd_dataset.errors import DatasetError
from sd_dataset.fetch import fetch
from sd_dataset.postcache import PostCache
from sd_dataset.tagging import SIDECAR, TagOptions, tag_folder
from sd_dataset.tags import INCLUDABLE, CaptionRules, load_vocabulary

GEL_AUTH = ("12345", "gel-secret-key-987")

# a tag-autocomplete vocabulary whose name does not say whose numbers it uses: each post's site decides
VOCAB = ('highres,5,5000,\n'
         'red_ball,0,900,"round_ball"\n'
         'blue_sky,0,800,\n'
         'green_leaf,0,700,\n'
         'cat,0,600,\n'
         'ball_world,3,400,\n'
         'ball_person,4,300,\n'
         'some_artist,1,50,\n'
         'banned_artist,1,40,\n')


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "model-tags.csv"
    path.write_text(VOCAB, encoding="utf-8")
    return path


def site_posts(non_artist: str, ratings: list[str], species: bool = False) -> list[ServerPost]:
    first = {"artist": ["some_artist", non_artist], "general": ["red_ball", "blue_sky", "not_in_vocab"],
             "character": ["ball_person"], "copyright": ["ball_world"], "meta": ["highres"]}
    if species:
        first["species"] = ["cat"]
    tags = [first, {"general": ["green_leaf", "red_ball"]}, {"general": ["red_ball", "blue_sky"]},
            {"general": ["red_ball", "round_ball"]}]
    return [ServerPost(id=500 + i, data=image_bytes(500 + i), rating=r, tags=t)
            for i, (r, t) in enumerate(zip(ratings, tags))]


GEL_TYPES = {"some_artist": 1, "banned_artist": 1, "ball_person": 4, "ball_world": 3, "highres": 5, "red_ball": 0,
             "blue_sky": 0, "green_leaf": 0, "round_ball": 0, "not_in_vocab": 0}
DANBOORU_WORDS = ["general", "sensitive", "questionable", "explicit"]

# (site, server class, server options, login, the posts' ratings at the server, the caption's rating words,
#  the site's artist-category tag that names no artist, e621's species)
FAMILIES = [
    ("e621", None, {}, {}, ["s", "q", "e", "s"], ["safe", "questionable", "explicit", "safe"], "conditional_dnp",
     True),
    ("e926", None, {}, {}, ["s", "s", "s", "s"], ["safe"] * 4, "avoid_posting", True),
    ("danbooru", DanbooruServer, {}, {}, ["g", "s", "q", "e"], DANBOORU_WORDS, "banned_artist", False),
    ("safebooru-donmai", DanbooruServer, {}, {}, ["g", "s", "g", "s"], ["general", "sensitive"] * 2,
     "banned_artist", False),
    ("gelbooru", GelbooruServer, {"auth": GEL_AUTH, "tag_types": GEL_TYPES},
     {"username": GEL_AUTH[0], "api_key": GEL_AUTH[1]}, ["g", "s", "q", "e"], DANBOORU_WORDS, "banned_artist",
     False),
    ("rule34", GelbooruServer, {"auth": GEL_AUTH, "shape": "array"}, {"username": GEL_AUTH[0], "api_key": GEL_AUTH[1]},
     ["s", "q", "e", "s"], ["safe", "questionable", "explicit", "safe"], "banned_artist", False),
    ("safebooru", GelbooruServer, {"shape": "array", "file_url": False}, {}, ["s", "q", "s", "s"],
     ["safe", "questionable", "safe", "safe"], "banned_artist", False),
    ("yandere", MoebooruServer, {}, {}, ["s", "q", "e", "s"], ["safe", "questionable", "explicit", "safe"],
     "banned_artist", False),
    ("konachan", MoebooruServer, {"site": "konachan.com"}, {}, ["q", "s", "e", "q"],
     ["questionable", "safe", "explicit", "questionable"], "banned_artist", False),
]


def start_server(booru_server, site_server, cls, posts, options):
    if cls is None:
        return booru_server(posts, enforce_rate=False)
    return site_server(cls, posts, **options)


def client(server, site, login):
    if site in ("e621", "e926"):
        from conftest import fast_policy
        from sd_dataset.boorus import open_booru
        return open_booru(site, base_url=server.url, policy=fast_policy(rate=50.0, max_rate=50.0))
    return site_client(server, site, **login)


@pytest.mark.parametrize("site,cls,options,login,ratings,words,non_artist,species", FAMILIES,
                         ids=[f[0] for f in FAMILIES])
def test_fetch_then_tag_gives_each_sites_captions(booru_server, site_server, tmp_path, vocab_file, site, cls,
                                                   options, login, ratings, words, non_artist, species):
    posts = site_posts(non_artist, ratings, species)
    server = start_server(booru_server, site_server, cls, posts, options)
    booru = client(server, site, login)
    downloaded = tmp_path / "downloaded"
    assert fetch(booru, "red_ball", downloaded).downloaded == 4
    searched = len(server.api_requests())
    cat = ", cat" if species else ""  # e621 keeps species; Danbooru-style sites have none
    expected = [f"{words[0]} content, by some artist, red ball, blue sky{cat}",
                f"{words[1]} content, red ball, green leaf",
                f"{words[2]} content, red ball, blue sky",
                f"{words[3]} content, red ball"]
    with_all = (f"{words[0]} content, by some artist, highres, red ball, blue sky{cat}, ball world, ball person")
    vocab = load_vocabulary(vocab_file)
    for out, include, first in ((tmp_path / "out", (), expected[0]),
                                (tmp_path / "all", ("character", "copyright", "meta"), with_all)):
        with PostCache(tmp_path / "cache") as cache:
            report = tag_folder(downloaded, out, TagOptions(rules=CaptionRules(vocab=vocab, include=include,
                                                                               site=site)),
                                booru=booru, cache=cache)
        assert report.ok and report.tagged == 4 and dict(report.sources) == {SIDECAR: 4}
        assert report.captions == {f"{p.md5}.png": c for p, c in zip(posts, [first] + expected[1:])}
        for post, caption in zip(posts, [first] + expected[1:]):
            assert (out / f"{post.md5}.txt").read_text(encoding="utf-8") == caption
    assert len(server.api_requests()) == searched  # the sidecars were enough: no lookup
    # the sidecars name their site, so a run under another --booru still captions them by their own site's rules
    with PostCache(tmp_path / "cache") as cache:
        report = tag_folder(downloaded, tmp_path / "other", TagOptions(rules=CaptionRules(vocab=vocab,
                                                                                          site="konachan")),
                            booru=booru, cache=cache)
    assert report.captions[f"{posts[0].md5}.png"] == expected[0]


@pytest.mark.parametrize("site,cls,options,login,ratings,words,non_artist,species",
                         [FAMILIES[2], FAMILIES[4], FAMILIES[5], FAMILIES[7]],
                         ids=["danbooru", "gelbooru", "rule34", "yandere"])
def test_plain_folder_tagged_by_md5_lookups_on_each_family(booru_server, site_server, tmp_path, vocab_file, site,
                                                           cls, options, login, ratings, words, non_artist, species):
    posts = site_posts(non_artist, ratings, species)
    server = start_server(booru_server, site_server, cls, posts, options)
    src = tmp_path / "mine"
    src.mkdir()
    names = [f"{posts[0].md5}.png", "holiday picture.png", f"IMG_{posts[2].md5}.png", "scan 4.png"]
    for name, post in zip(names, posts):
        (src / name).write_bytes(post.data)
    with PostCache(tmp_path / "cache") as cache:
        report = tag_folder(src, tmp_path / "out", TagOptions(rules=CaptionRules(vocab=load_vocabulary(vocab_file),
                                                                                 site=site)),
                            booru=client(server, site, login), cache=cache)
    assert report.ok and report.tagged == 4 and report.sources["api"] == 4
    assert report.captions[names[0]] == f"{words[0]} content, by some artist, red ball, blue sky"
    assert report.captions[names[1]] == f"{words[1]} content, red ball, green leaf"
    assert report.captions[names[3]] == f"{words[3]} content, red ball"


# -- Moebooru's tag types, and gelbooru.com's old ratings ---------------------------------------------

MOE_TAGS = {"artist": ["some_artist", "banned_artist"], "circle": ["ball_circle"], "copyright": ["ball_world"],
            "character": ["ball_person"], "general": ["red_ball", "blue_sky"], "faults": ["jpeg_artifacts"]}


@pytest.mark.parametrize("site,options", [("yandere", {}), ("konachan", {"site": "konachan.com"})])
def test_moebooru_captions_follow_the_tag_types_its_answers_bring(site_server, tmp_path, site, options):
    posts = [ServerPost(id=700 + i, data=image_bytes(700 + i), rating=r, tags=MOE_TAGS) for i, r in enumerate("sqe")]
    server = site_server(MoebooruServer, posts, **options)
    booru = site_client(server, site)
    downloaded = tmp_path / "downloaded"
    assert fetch(booru, "red_ball", downloaded).downloaded == 3
    asked = server.api_requests()
    assert len(asked) == 1  # the types came in the search's own answer: no request of their own
    assert asked[0].query["api_version"] == ["2"] and asked[0].query["include_tags"] == ["1"]
    words = ["safe", "questionable", "explicit"]
    cases = [((), "by some artist, blue sky, red ball"),  # no vocabulary: kept tags sorted by name
             (("faults", "circle", "copyright"), "by some artist, ball circle, ball world, blue sky, jpeg artifacts, "
                                                  "red ball")]
    for include, caption in cases:
        out = tmp_path / f"out{len(include)}"
        with PostCache(tmp_path / "cache") as cache:
            report = tag_folder(downloaded, out, TagOptions(rules=CaptionRules(include=include, site=site)),
                                booru=booru, cache=cache)
        assert report.ok and dict(report.sources) == {SIDECAR: 3}
        for post, word in zip(posts, words):
            assert (out / f"{post.md5}.txt").read_text(encoding="utf-8") == f"{word} content, {caption}"
    # a plain folder: one batched md5 lookup brings the types too, and a rerun asks nothing
    src = tmp_path / "mine"
    src.mkdir()
    for i, post in enumerate(posts):
        (src / f"picture {i}.png").write_bytes(post.data)
    for _ in range(2):
        with PostCache(tmp_path / "cache2") as cache:
            report = tag_folder(src, tmp_path / "mine-out", TagOptions(rules=CaptionRules(site=site)),
                                booru=site_client(server, site), cache=cache)
        assert report.captions["picture 0.png"] == "safe content, by some artist, blue sky, red ball"
        assert len(server.api_requests()) == 2


def test_a_moebooru_site_without_the_types_leaves_its_tags_to_the_vocabulary(site_server, tmp_path, vocab_file):
    post = ServerPost(id=710, data=image_bytes(710), rating="s", tags={"general": ["some_artist", "highres",
                                                                                 "red_ball", "blue_sky"]})
    server = site_server(MoebooruServer, [post], api_v2=False)  # answers the bare array, whatever it is asked
    downloaded = tmp_path / "downloaded"
    booru = site_client(server, "yandere")
    assert fetch(booru, "red_ball", downloaded).downloaded == 1
    with PostCache(tmp_path / "cache") as cache:
        plain = tag_folder(downloaded, tmp_path / "a", TagOptions(rules=CaptionRules(site="yandere")), booru=booru,
                           cache=cache)
        rules = CaptionRules(vocab=load_vocabulary(vocab_file), site="yandere")
        sorted_ = tag_folder(downloaded, tmp_path / "b", TagOptions(rules=rules), booru=booru, cache=cache)
    assert plain.captions[f"{post.md5}.png"] == "safe content, blue sky, highres, red ball, some artist"
    assert sorted_.captions[f"{post.md5}.png"] == "safe content, by some artist, red ball, blue sky"


def test_gelbooru_old_safe_rating_reads_as_general(site_server, tmp_path):
    # before its 2022 change gelbooru.com answered safe/questionable/explicit, and safe is today's general
    posts = [ServerPost(id=720 + i, data=image_bytes(720 + i), rating=word, tags={"general": ["red_ball"]})
             for i, word in enumerate(["safe", "questionable", "sensitive"])]
    server = site_server(GelbooruServer, posts, auth=GEL_AUTH, tag_types={"red_ball": 0})
    booru = site_client(server, "gelbooru", username=GEL_AUTH[0], api_key=GEL_AUTH[1])
    assert fetch(booru, "red_ball", tmp_path / "downloaded").downloaded == 3
    with PostCache(tmp_path / "cache") as cache:
        report = tag_folder(tmp_path / "downloaded", tmp_path / "out",
                            TagOptions(rules=CaptionRules(site="gelbooru")), booru=booru, cache=cache)
    assert [report.captions[f"{p.md5}.png"] for p in posts] == \
        ["general content, red ball", "questionable content, red ball", "sensitive content, red ball"]


# -- a plain folder, through the command line, on a Danbooru-shaped server -----------------------------

@pytest.fixture
def danbooru_world(tmp_path, site_server, vocab_file, monkeypatch):
    for name in ("DANBOORU_USERNAME", "DANBOORU_API_KEY"):
        monkeypatch.delenv(name, raising=False)  # anonymous: Danbooru hides some posts' md5 from it
    posts = site_posts("banned_artist", ["g", "s", "q", "e"])
    posts.append(ServerPost(id=600, data=image_bytes(600), rating="s", hidden=True,
                            tags={"general": ["red_ball"]}))  # Danbooru hides its md5 from this login
    server = site_server(DanbooruServer, posts, credentials=("someone", "key123"))
    src = tmp_path / "my pictures"
    src.mkdir()
    names = {f"{posts[0].md5}.png": posts[0], "beach day.png": posts[1], f"00003-0-{posts[2].md5}.png": posts[2],
             "DSC_0004.png": posts[3], "hidden one.png": posts[4]}
    for name, post in names.items():
        (src / name).write_bytes(post.data)
    (src / "never posted.png").write_bytes(image_bytes(999))
    return dict(server=server, src=src, posts=posts, names=names, vocab=vocab_file, out=tmp_path / "out",
                cache=tmp_path / "cache")


def test_cli_tags_a_plain_folder_by_md5_on_danbooru(danbooru_world, capsys):
    w = danbooru_world
    args = ["tag", str(w["src"]), "--out", str(w["out"]), "--booru", "danbooru", "--base-url", w["server"].url,
            "--cache", str(w["cache"]), "--vocab", str(w["vocab"])]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "6 images: tagged 4, untagged 2 (left out), failed 0" in printed
    assert "API requests: 1" in printed
    api = w["server"].api_requests()
    assert len(api) == 1  # one batched md5: lookup for the named and the hashed files alike
    asked = api[0].query["tags"][0]
    assert all(p.md5 in asked for p in w["posts"][:4]) and "status:any" in asked
    assert "Authorization" not in api[0].headers
    out = w["out"]
    assert (out / f"{w['posts'][0].md5}.txt").read_text() == "general content, by some artist, red ball, blue sky"
    assert (out / "beach day.txt").read_text() == "sensitive content, red ball, green leaf"
    assert (out / f"00003-0-{w['posts'][2].md5}.txt").read_text() == "questionable content, red ball, blue sky"
    assert (out / "DSC_0004.txt").read_text() == "explicit content, red ball"
    assert not (out / "hidden one.png").exists() and not (out / "never posted.png").exists()
    assert not list(w["src"].glob("*.json"))  # the source folder is never written

    assert main(args) == 0  # a rerun asks nothing: the cache remembers the posts and the misses
    assert "API requests: 0" in capsys.readouterr().out
    assert len(w["server"].api_requests()) == 1
    assert main(args + ["--include", "meta,copyright", "--no-artist", "--out", str(out.parent / "meta")]) == 0
    assert (out.parent / "meta" / f"{w['posts'][0].md5}.txt").read_text() == \
        "general content, highres, red ball, blue sky, ball world"


def test_a_login_asks_again_about_misses_remembered_without_one(danbooru_world, capsys):
    w = danbooru_world
    args = ["tag", str(w["src"]), "--out", str(w["out"]), "--booru", "danbooru", "--base-url", w["server"].url,
            "--cache", str(w["cache"])]
    assert main(args) == 0 and not (w["out"] / "hidden one.png").exists()
    login = ["--username", "someone", "--api-key", "key123"]
    assert main(args + login) == 0
    printed = capsys.readouterr().out
    assert "API requests: 1" in printed
    asked = w["server"].api_requests()[-1]
    assert w["posts"][4].md5 in asked.query["tags"][0] and w["posts"][0].md5 not in asked.query["tags"][0]
    assert (w["out"] / "hidden one.txt").read_text() == "sensitive content, red ball"
    assert main(args + login) == 0  # what the login did not find either is remembered for it
    assert main(args) == 0  # and the anonymous run trusts a miss a login saw
    assert len(w["server"].api_requests()) == 2


def test_cache_of_one_site_is_not_used_for_another(tmp_path, booru_server, site_server):
    """The cache is keyed by the site's address: a post or a miss remembered from e621 says nothing of Danbooru."""
    known = ServerPost(id=1, data=image_bytes(1), rating="s", tags={"general": ["red_ball"]})
    unknown_to_e621 = ServerPost(id=2, data=image_bytes(2), rating="q", tags={"general": ["blue_sky"]})
    e621 = booru_server([known], enforce_rate=False)
    dan = site_server(DanbooruServer, [known, unknown_to_e621])
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.png").write_bytes(known.data)
    (src / "two.png").write_bytes(unknown_to_e621.data)
    with PostCache(tmp_path / "cache") as cache:
        first = tag_folder(src, tmp_path / "a", booru=client_for(e621), cache=cache)
        second = tag_folder(src, tmp_path / "b", booru=site_client(dan, "danbooru"), cache=cache)
        again = tag_folder(src, tmp_path / "c", booru=client_for(e621), cache=cache)
    assert first.captions == {"one.png": "safe content, red ball"} and first.untagged == ["two.png"]
    assert second.captions == {"one.png": "sensitive content, red ball", "two.png": "questionable content, blue sky"}
    assert len(dan.api_requests()) == 1 and second.sources["api"] == 2 and not second.sources["cache"]
    assert again.captions == first.captions and again.sources["cache"] == 1 and len(e621.api_requests()) == 1


# -- the rules and the vocabulary numbering per site ------------------------------------------------------

def post(site, rating="s", **tags):
    return Post(id=1, md5="0" * 32, file_url=None, ext="png", rating=rating, tags=tags, site=site)


@pytest.mark.parametrize("site,rating,word", [
    ("e621", "s", "safe"), ("e926", "s", "safe"), ("e621-export", "q", "questionable"),
    ("danbooru", "g", "general"), ("danbooru", "s", "sensitive"), ("safebooru-donmai", "e", "explicit"),
    ("gelbooru", "s", "sensitive"), ("rule34", "s", "safe"), ("safebooru", "s", "safe"), ("yandere", "s", "safe"),
    ("konachan", "e", "explicit"),
])
def test_rating_words_follow_the_posts_site(site, rating, word):
    assert CaptionRules().caption(post(site, rating, general=["red_ball"])) == f"{word} content, red ball"
    # the run's site does not override a post's own
    assert CaptionRules(site="e621" if word != "safe" else "danbooru").caption(
        post(site, rating, general=["red_ball"])) == f"{word} content, red ball"


def test_a_post_of_no_known_site_follows_the_runs_site_else_e621():
    p = post("", "s", general=["red_ball"])
    assert CaptionRules(site="danbooru").caption(p) == "sensitive content, red ball"
    assert CaptionRules(site="yandere").caption(p) == "safe content, red ball"
    assert CaptionRules().caption(p) == "safe content, red ball"
    assert CaptionRules(site="danbooru").caption(post("a-site-of-my-own", "g", general=["x"])) == "general content, x"
    assert CaptionRules().caption(post("", "g", general=["x"])) == "x"  # e621 has no g rating


def test_non_artist_tags_are_each_sites_own():
    assert CaptionRules().caption(post("danbooru", "g", artist=["banned_artist", "some_artist"])) == \
        "general content, by some artist"
    assert CaptionRules().caption(post("e621", "s", artist=["conditional_dnp", "some_artist"])) == \
        "safe content, by some artist"
    for site in SITES.values():
        assert "unknown_artist" in site.not_artists


def test_kept_categories_per_site():
    tags = dict(general=["red_ball"], species=["cat"], meta=["highres"])
    assert CaptionRules().caption(post("e621", **tags)) == "safe content, cat, red ball"
    assert CaptionRules().caption(post("danbooru", **tags)) == "sensitive content, red ball"
    assert CaptionRules(include=("meta",)).caption(post("danbooru", **tags)) == "sensitive content, highres, red ball"
    assert SITES["e621"].caption_categories == ("general", "species")
    assert all(SITES[s].caption_categories == ("general",) for s in SITES if s not in ("e621", "e926"))
    for site in SITES.values():  # --include takes every site's own categories
        assert set(site.includable) <= set(INCLUDABLE) and "artist" not in site.includable
        assert {"character", "copyright", "meta"} <= set(site.includable)
    with pytest.raises(DatasetError, match=r"Unknown tag category 'circles' for --include; choose from "
                                           r"danbooru's: copyright, character, meta \(other sites' posts also "
                                           r"have: lore, contributor, invalid, deprecated, circle, faults\)\.$"):
        CaptionRules(include=("circles",), site="danbooru")


def test_autocomplete_numbers_read_with_the_posts_site(vocab_file):
    vocab = load_vocabulary(vocab_file)
    assert vocab.numbering is None  # neither the name nor the numbers say whose file it is
    assert vocab.category("highres", "danbooru") == "meta" and vocab.category("highres", "e621") == "species"
    rules = CaptionRules(vocab=vocab)
    flat = post("rule34", "s", general=["highres", "red_ball", "some_artist", "ball_person"])
    assert rules.caption(flat) == "safe content, by some artist, red ball"  # 5 is Danbooru's meta
    assert CaptionRules(vocab=vocab, include=("character", "meta")).caption(flat) == \
        "safe content, by some artist, highres, red ball, ball person"
    # a Moebooru post whose answer gave no tag types: the same
    assert rules.caption(post("yandere", "s", unknown=flat.tags["general"])) == "safe content, by some artist, red ball"
    # the offline index's e621 posts of unknown category: 5 is e621's species, which a caption keeps
    unknown = post("e621-export", "s", unknown=["highres", "red_ball", "some_artist"])
    assert rules.caption(unknown) == "safe content, by some artist, highres, red ball"


@pytest.mark.parametrize("name,text,numbering", [
    ("danbooru.csv", "highres,5,10,\n", "danbooru"),
    ("tagcomplete-danbooru.csv.gz.csv", "highres,5,10,\n", "danbooru"),
    ("e621.csv", "cat,5,10,\n", "e621"),
    ("danbooru.csv", "cat,5,10,\nhi_res,7,10,\n", "e621"),  # 7 is a number only e621 uses
    ("mine.csv", "cat,5,10,\nsome_lore,8,1,\n", "e621"),
    ("mine.csv", "highres,5,10,\n", None),
    ("danbooru_e621_merged.csv", "highres,5,10,\n", "merged"),  # tag-autocomplete's merged list, by its name
    ("mine.csv", "highres,5,10,\nmammal,12,10,\n", "merged"),  # 12 is past e621's numbers: only the merged list
])
def test_vocabulary_numbering_from_the_file(tmp_path, name, text, numbering):
    path = tmp_path / name
    path.write_text(text)
    vocab = load_vocabulary(path)
    assert vocab.numbering == numbering
    first = text.split(",", 1)[0]
    expected = {"danbooru": "meta", "merged": "meta", "e621": "species", None: "species"}[numbering]  # e621's by default
    assert vocab.categories[first] == expected
    assert load_vocabulary(path, "danbooru").category(first, "e621") == "meta"  # an explicit numbering wins
    with pytest.raises(DatasetError, match="Unknown vocabulary numbering 'x'; choose e621, danbooru or merged."):
        load_vocabulary(path, "x")


def test_danbooru_csv_on_e621_posts_keeps_danbooru_numbers(tmp_path):
    path = tmp_path / "danbooru.csv"
    path.write_text("highres,5,10,\nred_ball,0,5,\n")
    rules = CaptionRules(vocab=load_vocabulary(path))
    assert rules.caption(post("e621-export", "s", unknown=["highres", "red_ball"])) == "safe content, red ball"


# tag-autocomplete's danbooru_e621_merged.csv, numbered as the README of its lists says (DraconicDragon's
# dbr-e621-lists-archive, tag-lists/danbooru_e621_merged, which tag-autocomplete's colour map for the file follows):
# Danbooru's categories as Danbooru numbers them, e621's from 7 up; 2, 6 and 13 carry no tags
MERGED_README = {0: "general", 1: "artist", 3: "copyright", 4: "character", 5: "meta", 7: "general", 8: "artist",
                 9: "contributor", 10: "copyright", 11: "character", 12: "species", 14: "meta", 15: "lore"}
MERGED_LIST = ('red_ball,0,6000,"round_ball"\n'
               'some_artist,1,500,\n'
               'ball_world,3,400,\n'
               'ball_person,4,300,\n'
               'highres,5,5000,"high_res,high_resolution"\n'
               'anthro,7,3000,"anthromorph"\n'
               'e6_artist,8,200,\n'
               'e6_helper,9,20,\n'
               'e6_world,10,100,\n'
               'e6_person,11,90,\n'
               'mammal,12,2500,"mammals"\n'
               'hi_res,14,2800,\n'
               'e6_lore,15,10,\n')


@pytest.mark.parametrize("name", ["danbooru_e621_merged.csv", "model-tags.csv"])
def test_the_merged_list_reads_with_its_own_numbers(tmp_path, name):
    path = tmp_path / name
    path.write_text(MERGED_LIST, encoding="utf-8")
    vocab = load_vocabulary(path)  # by its name, or by numbers only it uses (9 to 15)
    assert vocab.numbering == "merged"
    for line in MERGED_LIST.splitlines():
        tag, number = line.split(",")[:2]
        assert vocab.category(tag) == MERGED_README[int(number)], tag
    assert vocab.category("highres") == "meta" and vocab.category("anthro") == "general"
    assert vocab.resolve("mammals") == "mammal"
    # a flat-tag site's post sorted by it: the artists of both halves named, meta of both left out, species kept
    flat = post("rule34", "s", general=["highres", "anthro", "hi_res", "mammal", "e6_artist", "some_artist",
                                        "e6_lore", "red_ball"])
    assert CaptionRules(vocab=vocab).caption(flat) == \
        "safe content, by e6 artist, by some artist, red ball, anthro, mammal"


def test_the_merged_numbering_named_on_the_command_line(tmp_path, capsys):
    import hashlib

    from sd_dataset.fetch import write_sidecar

    path = tmp_path / "model-tags.csv"  # a name that says nothing, and numbers e621's list also uses
    path.write_text("highres,5,5000,\nanthro,7,3000,\ne6_artist,8,200,\nred_ball,0,100,\n", encoding="utf-8")
    assert load_vocabulary(path).numbering == "e621"  # so it reads wrong without the option
    src = tmp_path / "src"
    src.mkdir()
    data = image_bytes(7)
    flat = Post(id=7, md5=hashlib.md5(data).hexdigest(), file_url=None, ext="png", rating="s",
                tags={"general": ["highres", "anthro", "e6_artist", "red_ball"]}, site="rule34")
    (src / flat.filename).write_bytes(data)
    write_sidecar(src, flat)
    out = tmp_path / "out"
    args = ["tag", str(src), "--out", str(out), "--cache", str(tmp_path / "cache"), "--booru", "rule34", "--offline",
            "--vocab", str(path), "--vocab-numbering", "merged"]
    assert main(args) == 0, capsys.readouterr().err
    assert (out / f"{flat.md5}.txt").read_text(encoding="utf-8") == "safe content, by e6 artist, anthro, red ball"
    with pytest.raises(SystemExit):
        main(["tag", "--help"])
    assert "merged (danbooru_e621_merged.csv" in " ".join(capsys.readouterr().out.split())


# -- tag's one-sentence errors ------------------------------------------------------------------------

def test_tag_errors_are_one_sentence(tmp_path, capsys, monkeypatch, vocab_file):
    for name in ("GELBOORU_USER_ID", "GELBOORU_USERNAME", "GELBOORU_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(image_bytes(1))
    out = tmp_path / "out"
    base = ["tag", str(src), "--out", str(out), "--cache", str(tmp_path / "cache")]
    cases = [
        (["--booru", "gelbooru"], "gelbooru answers its API only with a login; give --username with your numeric "
                                  "user id and --api-key (or GELBOORU_USER_ID and GELBOORU_API_KEY), both from your "
                                  "gelbooru account's options page."),
        (["--booru", "rule34"], "rule34 answers its API only with a login"),
        (["--booru", "danbooru", "--include", "species,character,nope"], "Unknown tag category 'nope' for --include; "
                                                                "choose from danbooru's: copyright, "),
        (["--vocab-numbering", "danbooru"], "The vocabulary numbering says how a vocabulary file numbers its "
                                            "categories; give the vocabulary file too (--vocab)."),
        (["--aliases", "aliases.csv"], "Aliases map tags to a vocabulary's names; give the vocabulary file too "
                                       "(--vocab)."),
    ]
    for extra, sentence in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert sentence in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # refused before any work
    with pytest.raises(SystemExit) as exc:
        main(base + ["--booru", "gelbooru2"])
    assert exc.value.code == 2 and "invalid choice: 'gelbooru2'" in capsys.readouterr().err


def test_tag_offline_needs_no_login(tmp_path, capsys, monkeypatch):
    for name in ("GELBOORU_USER_ID", "GELBOORU_USERNAME", "GELBOORU_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(image_bytes(1))
    args = ["tag", str(src), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--booru",
            "gelbooru", "--offline"]
    assert main(args) == 1  # refused for nothing captioned, not for the missing login
    printed = capsys.readouterr()
    assert "1 images: tagged 0, untagged 1" in printed.out
    errors = [line for line in printed.err.splitlines() if line.startswith("error: ")]
    assert errors == ["error: No post was found for any of the 1 images, so none was captioned; tag again without "
                      "--offline to ask the site."]


def test_wrong_login_fails_each_file_in_one_sentence_without_the_key(tmp_path, site_server, capsys, vocab_file):
    posts = site_posts("banned_artist", ["g", "s", "q", "e"])
    server = site_server(GelbooruServer, posts, auth=GEL_AUTH, tag_types=GEL_TYPES)
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(posts[0].data)
    args = ["tag", str(src), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--booru",
            "gelbooru", "--base-url", server.url, "--vocab", str(vocab_file), "--username", GEL_AUTH[0],
            "--api-key", "wrong-key-123456"]
    assert main(args) == 1
    printed = capsys.readouterr()
    assert "failed 1, the site lookup failed (gelbooru refused the login (HTTP 401); check your gelbooru " \
           "username and API key.); a rerun asks again: a.png" in printed.out
    assert "wrong-key-123456" not in printed.out + printed.err
    args[-1] = GEL_AUTH[1]
    assert main(args) == 0  # the failure was not remembered as a miss
    assert (tmp_path / "out" / "a.txt").read_text() == "general content, by some artist, red ball, blue sky"


def test_python_m_sd_dataset_tag_on_a_plain_folder_with_booru_danbooru(danbooru_world):
    import os
    import subprocess
    import sys

    w = danbooru_world
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "sd_dataset", "tag", str(w["src"]), "--out", str(w["out"]),
                             "--booru", "danbooru", "--base-url", w["server"].url, "--cache", str(w["cache"]),
                             "--vocab", str(w["vocab"])], cwd=root, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DANBOORU_USERNAME": "", "DANBOORU_API_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert "6 images: tagged 4, untagged 2 (left out), failed 0" in result.stdout
    assert (w["out"] / "beach day.txt").read_text() == "sensitive content, red ball, green leaf"
