"""The offline index from e621's posts export, and tag using it with no request."""

import gzip

from booru_server import image_bytes
from sd_dataset.cli import main
from sd_dataset.postcache import PostCache
from sd_dataset.postindex import lookup

import hashlib

POSTS_HEAD = ("id,uploader_id,created_at,md5,source,rating,image_width,image_height,tag_string,locked_tags,"
              "fav_count,file_ext,parent_id,change_seq,approver_id,file_size,comment_count,description,duration,"
              "updated_at,is_deleted,is_pending,is_flagged,score,up_score,down_score,is_rating_locked,"
              "is_status_locked,is_note_locked\n")


def export_row(post_id, md5, rating, tags, deleted="f", ext="png"):
    return (f'{post_id},1,2024-01-01,{md5},"",{rating},24,16,{tags},,3,{ext},,1,,100,0,"a ""quoted"", long\n'
            f'description",,2024-01-01,{deleted},f,f,10,10,0,f,f,f\n')


def write_exports(tmp_path, md5s):
    posts = tmp_path / "posts-2026-01-01.csv.gz"
    posts.write_bytes(gzip.compress((
        POSTS_HEAD
        + export_row(1, md5s[0], "q", "red_ball some_artist blue_sky conditional_dnp cat")
        + export_row(2, md5s[1], "s", "green_leaf", deleted="t")
        + export_row(3, "not-an-md5", "s", "red_ball")
    ).encode()))
    tags = tmp_path / "tags-2026-01-01.csv"
    tags.write_text("id,name,category,post_count\n1,red_ball,0,500\n2,some_artist,1,40\n3,blue_sky,0,900\n"
                    "4,conditional_dnp,1,9\n5,cat,5,800\n6,green_leaf,0,300\n")
    return posts, tags


def test_index_with_categories_then_tag_offline(tmp_path, booru_server, capsys):
    data = [image_bytes(1), image_bytes(2)]
    md5s = [hashlib.md5(d).hexdigest() for d in data]
    posts, tags = write_exports(tmp_path, md5s)
    cache = tmp_path / "cache"
    assert main(["index", str(posts), "--tags", str(tags), "--cache", str(cache)]) == 0
    assert "indexed 2 posts and 6 tag categories" in capsys.readouterr().out
    with PostCache(cache) as db:
        found = lookup(db, md5s + ["f" * 32])
    assert set(found) == set(md5s)
    assert found[md5s[0]].tags == {"general": ["red_ball", "blue_sky"], "artist": ["some_artist", "conditional_dnp"],
                                   "species": ["cat"]}
    assert found[md5s[1]].deleted

    src = tmp_path / "src"
    src.mkdir()
    (src / f"{md5s[0]}.png").write_bytes(data[0])
    (src / "renamed.png").write_bytes(data[1])
    vocab = tmp_path / "tags.csv"
    vocab.write_text("tag,count\nred_ball,500\nblue_sky,900\ncat,800\ngreen_leaf,300\n")
    server = booru_server([])
    args = ["tag", str(src), "--out", str(tmp_path / "out"), "--vocab", str(vocab), "--cache", str(cache),
            "--base-url", server.url]
    assert main(args) == 0
    assert (tmp_path / "out" / f"{md5s[0]}.txt").read_text() == \
        "questionable content, by some artist, blue sky, cat, red ball"
    assert (tmp_path / "out" / "renamed.txt").read_text() == "safe content, green leaf"
    assert server.requests == []


def test_index_without_categories_uses_the_vocabulary_categories(tmp_path):
    from sd_dataset.tagging import TagOptions, tag_folder
    from sd_dataset.tags import CaptionRules, load_vocabulary

    data = image_bytes(1)
    md5 = hashlib.md5(data).hexdigest()
    posts, _ = write_exports(tmp_path, [md5, "e" * 32])
    cache = tmp_path / "cache"
    assert main(["index", str(posts), "--cache", str(cache)]) == 0
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(data)
    vocab = tmp_path / "ac.csv"
    vocab.write_text("red_ball,0,500,\nblue_sky,0,900,\nsome_artist,1,40,\ncat,5,800,\n")
    with PostCache(cache) as db:
        report = tag_folder(src, tmp_path / "out", TagOptions(CaptionRules(vocab=load_vocabulary(vocab)),
                                                               offline=True), cache=db)
    assert report.captions == {"a.png": "questionable content, by some artist, blue sky, cat, red ball"}


def test_index_refuses_other_files(tmp_path, capsys):
    other = tmp_path / "x.csv"
    other.write_text("a,b\n1,2\n")
    assert main(["index", str(other), "--cache", str(tmp_path / "c")]) == 2
    assert "is not e621's posts export" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "missing.csv.gz"), "--cache", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err
