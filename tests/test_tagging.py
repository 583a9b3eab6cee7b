"""The tag step end to end: real image files, the real local e621-shaped server, real vocabulary files."""

import hashlib
import json
import math
import os
from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for, make_posts
from sd_dataset.cli import main
from sd_dataset.errors import DatasetError
from sd_dataset.fetch import write_sidecar
from sd_dataset.postcache import PostCache
from sd_dataset.tagging import MANIFEST, TagOptions, filename_reminder, tag_folder
from sd_dataset.tags import CaptionRules, load_vocabulary
from webui_readers import encoder_text, read_plainly, training_captions

VOCAB = ('blue_sky,0,900,"sky_(blue)"\n'
         'cat,5,800,\n'
         ':3,0,700,\n'
         'red_ball,0,500,\n'
         'green_leaf,0,500,\n'
         'bow_(weapon),0,100,\n'
         '<3,0,100,\n'
         'hero_(character),4,300,\n')


def tree_digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def world(tmp_path, booru_server):
    """A folder like the issue's: md5 names with and without sidecars, variants, a renamed file, an unknown one."""
    a = ServerPost(id=1, data=image_bytes(1), rating="q",
                   tags={"general": ["red_ball", "blue_sky", ":3", "not_in_vocab", "bow_(weapon)"],
                         "artist": ["conditional_dnp", "some_artist"], "species": ["cat"],
                         "character": ["hero_(character)"]})
    b = ServerPost(id=2, data=image_bytes(2), rating="e", tags={"general": ["sky_(blue)", "<3", "green_leaf"]})
    c = ServerPost(id=3, data=image_bytes(3), rating="s", deleted=True, tags={"general": ["red_ball"]})
    d = ServerPost(id=4, data=image_bytes(4), ext="jpg", rating="s", tags={"general": ["green_leaf", "red_ball"],
                                                                         "artist": ["third-party_edit"]})
    server = booru_server([a, b, c, d])
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{a.md5}.png").write_bytes(a.data)
    (src / f"{a.md5} (1).png").write_bytes(a.data)
    (src / f"00001-0-{a.md5}.png").write_bytes(image_bytes(101))  # a preprocessed variant: other bytes
    (src / f"00002-0 {b.md5}.png").write_bytes(b.data)
    (src / "renamed picture.png").write_bytes(c.data)
    (src / f"{d.md5}.jpg").write_bytes(d.data)
    (src / "unknown.png").write_bytes(image_bytes(999))
    (src / "notes.json").write_text("{}")  # not an image: ignored
    vocab = tmp_path / "autocomplete.csv"
    vocab.write_text(VOCAB)
    return dict(server=server, src=src, posts=(a, b, c, d), vocab=vocab, out=tmp_path / "out",
                cache=tmp_path / "cache")


def run_tag(world, **kwargs):
    booru = kwargs.pop("booru", None) or client_for(world["server"])
    rules = kwargs.pop("rules", None) or CaptionRules(vocab=load_vocabulary(world["vocab"]))
    out = kwargs.pop("out", world["out"])
    with PostCache(world["cache"]) as cache:
        return tag_folder(world["src"], out, TagOptions(rules=rules, **kwargs), booru=booru, cache=cache)


EXPECTED = {
    "A": "questionable content, by some artist, blue sky, cat, :3, red ball, bow \\(weapon\\)",
    "B": "explicit content, blue sky, green leaf, <3",
    "C": "safe content, red ball",
    "D": "safe content, green leaf, red ball",
}


def expected_txt(world):
    a, b, c, d = world["posts"]
    return {f"{a.md5}.png": EXPECTED["A"], f"{a.md5} (1).png": EXPECTED["A"], f"00001-0-{a.md5}.png": EXPECTED["A"],
            f"00002-0 {b.md5}.png": EXPECTED["B"], "renamed picture.png": EXPECTED["C"], f"{d.md5}.jpg": EXPECTED["D"]}


def test_txt_captions_exact_one_request_and_rerun_makes_none(world):
    before = tree_digest(world["src"])
    report = run_tag(world)
    out = world["out"]
    expected = expected_txt(world)
    assert report.captions == expected
    for name, caption in expected.items():
        stem = name.rsplit(".", 1)[0]
        assert (out / f"{stem}.txt").read_text(encoding="utf-8") == caption
        assert (out / name).read_bytes() == (world["src"] / name).read_bytes()
    assert not (out / "unknown.png").exists()
    assert report.untagged == ["unknown.png"] and report.tagged == 6 and not report.failed
    assert len(world["server"].api_requests()) == 1  # 5 unknown hashes, one batched request
    assert "status:any" in world["server"].api_requests()[0].query["tags"][0]
    assert report.api_requests == 1
    assert tree_digest(world["src"]) == before  # the source is never written

    first = tree_digest(out)
    again = run_tag(world)
    assert len(world["server"].api_requests()) == 1  # the rerun asked nothing: the cache remembers hits and misses
    assert again.captions == expected and again.written == 0 and again.unchanged == 6
    assert tree_digest(out) == first  # nothing rewritten


def test_sidecars_mean_no_request(world):
    server = world["server"]
    booru = client_for(server)
    posts = booru.posts_by_md5([p.md5 for p in world["posts"]])
    for post in posts.values():
        write_sidecar(world["src"], post)
    server.requests.clear()
    (world["src"] / "unknown.png").unlink()
    report = run_tag(world, booru=booru)
    assert server.api_requests() == [] and report.sources["sidecar"] == 4
    assert report.captions == expected_txt(world)


def test_offline_makes_no_request_and_reports_what_it_could_not_find(world):
    report = run_tag(world, offline=True)
    assert world["server"].requests == []
    assert report.tagged == 0 and len(report.untagged) == 7 and not (world["out"] / "unknown.png").exists()
    assert report.nothing_made() == ("No post was found for any of the 7 images, so none was captioned; tag again "
                                     "without --offline to ask the site.")
    assert run_tag(world).nothing_made() is None


def test_keep_untagged_and_trigger(world):
    rules = CaptionRules(vocab=load_vocabulary(world["vocab"]), trigger="mytoken")
    report = run_tag(world, rules=rules, keep_untagged=True)
    assert (world["out"] / "unknown.txt").read_text() == "mytoken"
    assert report.captions["renamed picture.png"] == "mytoken, " + EXPECTED["C"]


def test_filename_captions(world):
    report = run_tag(world, caption="filename")
    out = world["out"]
    names = sorted(p.name for p in out.iterdir())
    assert not any(p.suffix == ".txt" for p in out.iterdir())
    # the trainer's reading of each name, to the text encoder: the .txt caption's meaning, no emphasis
    read = sorted(encoder_text(read_plainly(caption)) for caption in training_captions(out).values())
    meant = sorted(encoder_text(read_plainly(caption)) for caption in expected_txt(world).values())
    assert read == meant
    assert filename_reminder() in report.summary()
    # a rerun keeps the same names and writes nothing
    again = run_tag(world, caption="filename")
    assert again.written == 0 and sorted(p.name for p in out.iterdir()) == names


def with_companions(images) -> set:
    """The images' names with their .txt captions and .json tag sidecars."""
    return {n for image in images for n in (image, *(image.rsplit(".", 1)[0] + ext for ext in (".txt", ".json")))}

def test_switching_caption_form_removes_our_stale_outputs_only(world):
    run_tag(world, caption="filename")
    (world["out"] / "mine.txt").write_text("the user's own file")
    run_tag(world, caption="txt")
    names = {p.name for p in world["out"].iterdir()}
    assert names == with_companions(expected_txt(world)) | {MANIFEST, "tags.csv", "mine.txt"}


def test_both_writes_caption_names_and_txt(world):
    report = run_tag(world, caption="both")
    out = world["out"]
    assert (out / "safe content, red ball.txt").read_text() == EXPECTED["C"]
    assert (out / "safe content, red ball.png").exists()
    assert filename_reminder() not in report.summary()


def test_kohya_layout(world):
    rules = CaptionRules(vocab=load_vocabulary(world["vocab"]), trigger="mytoken")
    run_tag(world, rules=rules, layout="kohya", repeats=5, concept="red/ball")
    folder = world["out"] / "5_red_ball"
    assert (folder / "renamed picture.txt").read_text() == "mytoken, " + EXPECTED["C"]
    assert (world["out"] / "tags.csv").exists() and not (folder / "tags.csv").exists()
    with pytest.raises(DatasetError, match="kohya layout reads .txt captions"):
        run_tag(world, layout="kohya", caption="filename")


def test_frequency_table_common_traits_and_exclude_common(world):
    (world["src"] / "unknown.png").unlink()
    (world["src"] / f"00002-0 {world['posts'][1].md5}.png").unlink()
    report = run_tag(world)
    # 5 tagged images: red_ball on all 5, blue_sky on 3 (A variants)
    assert report.frequency["red_ball"] == 5 and report.common == ["red_ball"]
    table = (world["out"] / "tags.csv").read_text().splitlines()
    assert table[0] == "tag,caption,images,share,vocab_count,common"
    assert table[1] == "red_ball,red ball,5,1.0000,500,yes"
    assert any("likely traits of the subject: red ball" in line for line in report.summary())
    report = run_tag(world, exclude_common=0.8)
    assert report.captions["renamed picture.png"] == "safe content"
    assert report.captions[f"{world['posts'][3].md5}.jpg"] == "safe content, green leaf"


def test_batches_at_most_one_request_per_190_hashes(tmp_path, booru_server):
    posts = make_posts(450)
    server = booru_server(posts)
    src = tmp_path / "src"
    src.mkdir()
    for p in posts:
        (src / f"{p.md5}.png").write_bytes(p.data)
    for i in range(30):
        (src / f"{hashlib.md5(str(i).encode()).hexdigest()}.png").write_bytes(image_bytes(5000 + i))
    with PostCache(tmp_path / "cache") as cache:
        report = tag_folder(src, tmp_path / "out", booru=client_for(server), cache=cache)
        assert report.tagged == 450 and len(report.untagged) == 30
        assert len(server.api_requests()) <= math.ceil(480 / 190)
        assert all(r.line_length < 8000 for r in server.api_requests())
        tag_folder(src, tmp_path / "out", booru=client_for(server), cache=cache)
    assert len(server.api_requests()) <= math.ceil(480 / 190)  # the rerun added none


def test_api_failure_is_per_file_and_not_remembered(world):
    world["server"].script("/posts.json", ["503"] * 4)  # both passes of two tries
    booru = client_for(world["server"], max_tries=2)
    report = run_tag(world, booru=booru)
    assert len(report.failed) == 7 and "a rerun asks again" in report.failed[0].reason
    assert not report.ok
    # the site down is said once, with the count and a few of the images
    failed = [line for line in report.summary() if line.startswith("  failed")]
    assert len(failed) == 1 and failed[0].startswith("  failed 7, the site lookup failed (") and ", …" in failed[0]
    report = run_tag(world)
    assert report.tagged == 6 and not report.failed


def test_files_that_are_no_images_fail_before_their_hashes_are_looked_up(world):
    junk = {"page.png": b"<!DOCTYPE html><html>not found</html>", "notes.jpg": b"red ball, blue sky\n",
            "0123456789abcdef0123456789abcdef.webp": b"RIFF\x00\x00\x00\x00WAVEfmt "}
    for name, data in junk.items():
        (world["src"] / name).write_bytes(data)
    report = run_tag(world)
    assert sorted(f.name for f in report.failed) == sorted(junk) and report.tagged == 6
    assert all(f.reason.startswith("not an image (its bytes are in none of the formats") for f in report.failed)
    asked = " ".join(json.dumps(r.query) for r in world["server"].api_requests())
    for name, data in junk.items():
        assert hashlib.md5(data).hexdigest() not in asked
    assert "0123456789abcdef0123456789abcdef" not in asked  # the md5 a name carries is not asked about either


def test_tags_every_format_the_trainer_reads(world, tmp_path):
    """A TIFF or JFIF export of a post is hashed like any image and captioned from that post."""
    from io import BytesIO

    from PIL import Image

    a = world["posts"][0]
    tif = BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(tif, format="TIFF")
    world["server"].posts.append(ServerPost(id=77, data=tif.getvalue(), ext="tif", tags={"general": ["red_ball"]}))
    src = tmp_path / "formats"
    src.mkdir()
    (src / "scan.tif").write_bytes(tif.getvalue())
    (src / f"{a.md5}.jfif").write_bytes(a.data)
    report = run_tag(dict(world, src=src), out=tmp_path / "formats-out")
    assert report.images == 2 and report.tagged == 2 and not report.failed
    assert (tmp_path / "formats-out" / "scan.tif").read_bytes() == tif.getvalue()
    assert (tmp_path / "formats-out" / "scan.txt").read_text() == "safe content, red ball"
    assert "red ball" in (tmp_path / "formats-out" / f"{a.md5}.txt").read_text()


def test_retry_missing_asks_again(world):
    run_tag(world)
    run_tag(world, retry_missing=True)
    assert len(world["server"].api_requests()) == 2


def test_bad_folders(tmp_path, world):
    with pytest.raises(DatasetError, match="does not exist"):
        tag_folder(tmp_path / "nope", tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="has no images"):
        tag_folder(empty, tmp_path / "out")
    with pytest.raises(DatasetError, match="inside the source folder"):
        tag_folder(world["src"], world["src"] / "out")
    with pytest.raises(DatasetError, match="inside the source folder"):
        tag_folder(world["src"], world["src"])
    assert not (world["src"] / "out").exists()


def test_cli_end_to_end(world, capsys):
    args = ["tag", str(world["src"]), "--out", str(world["out"]), "--vocab", str(world["vocab"]),
            "--base-url", world["server"].url, "--cache", str(world["cache"])]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "7 images: tagged 6, untagged 1 (left out), failed 0" in printed
    assert "API requests: 1" in printed and "blue sky" in printed
    a = world["posts"][0]
    assert (world["out"] / f"{a.md5} (1).txt").read_text() == EXPECTED["A"]
    assert main(args + ["--offline"]) == 0
    assert "API requests: 0" in capsys.readouterr().out
    assert len(world["server"].api_requests()) == 1


def test_cli_errors_are_one_sentence(world, tmp_path, capsys):
    base = ["tag", str(world["src"]), "--out", str(tmp_path / "o"), "--offline", "--cache", str(tmp_path / "c")]
    bad = tmp_path / "bad.csv"
    bad.write_text("just words\n")
    for extra, sentence in ((["--vocab", str(bad)], "is not a vocabulary format I know"),
                            (["--vocab", str(tmp_path / "none.csv")], "does not exist"),
                            (["--include", "nope"], "Unknown tag category"),
                            (["--exclude-common", "1.5"], "share of the images")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert sentence in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_exit_1_when_a_file_failed(world, capsys):
    a = world["posts"][0]
    args = ["tag", str(world["src"]), "--out", str(world["out"]), "--base-url", world["server"].url,
            "--cache", str(world["cache"]), "--vocab", str(world["vocab"])]
    assert main(args) == 0
    capsys.readouterr()
    caption = world["out"] / f"{a.md5} (1).txt"
    caption.unlink()
    caption.mkdir()  # one of our outputs became a folder: this caption cannot be written
    (world["out"] / f"{a.md5}.txt").unlink()
    assert main(args) == 1
    printed = capsys.readouterr().out
    assert "tagged 5, untagged 1 (left out), failed 1" in printed
    assert f"failed 1, could not write {a.md5} (1).png" in printed
    assert (world["out"] / f"{a.md5}.txt").read_text() == EXPECTED["A"]  # the others were written


def test_default_cache_folder_follows_xdg(tmp_path, monkeypatch):
    from sd_dataset.postcache import cache_file, default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "sd_dataset"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "sd_dataset"
    assert cache_file(tmp_path / "c.sqlite3") == tmp_path / "c.sqlite3"
    assert cache_file(tmp_path) == tmp_path / "posts.sqlite3"


def test_cache_made_before_misses_knew_the_login_still_opens(tmp_path):
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "posts.sqlite3"))
    db.execute("CREATE TABLE posts (site TEXT NOT NULL, md5 TEXT NOT NULL, found INTEGER NOT NULL, data TEXT, "
               "checked REAL NOT NULL, PRIMARY KEY (site, md5)) WITHOUT ROWID")
    db.execute("INSERT INTO posts VALUES ('s', ?, 0, NULL, 0)", ["c" * 32])
    db.commit()
    db.close()
    with PostCache(tmp_path) as cache:
        assert cache.get_many("s", ["c" * 32]) == {"c" * 32: "missing"}
        assert cache.get_many("s", ["c" * 32], logged_in=True) == {}  # an old miss counts as anonymous
        cache.put_many("s", [], misses=["c" * 32], logged_in=True)
        assert cache.get_many("s", ["c" * 32], logged_in=True) == {"c" * 32: "missing"}


def test_cache_readers_while_a_writer_writes(tmp_path):
    from sd_dataset.boorus.base import Post

    writer, reader = PostCache(tmp_path), PostCache(tmp_path)
    post = Post(id=1, md5="a" * 32, file_url=None, ext="png", tags={"general": ["red_ball"]})
    with writer._transaction():
        writer.db.execute("INSERT INTO posts (site, md5, found, data, checked) VALUES ('s', ?, 1, ?, 0)", [post.md5, json.dumps(post.to_json())])
        assert reader.get_many("s", [post.md5]) == {}  # readers see the last commit and are not blocked
    assert reader.get_many("s", [post.md5])[post.md5].tags == {"general": ["red_ball"]}
    writer.put_many("s", [], misses=["b" * 32])
    assert reader.get_many("s", ["b" * 32]) == {"b" * 32: "missing"}
    assert reader.get_many("s", ["b" * 32], include_misses=False) == {}
    writer.close(), reader.close()


def test_unreadable_file_fails_alone(world):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    bad = world["src"] / "locked.png"
    bad.write_bytes(b"x")
    bad.chmod(0)
    report = run_tag(world)
    assert [f.name for f in report.failed] == ["locked.png"] and report.tagged == 6


def test_same_stem_different_extensions_get_their_own_captions(world):
    a, b = world["posts"][:2]
    (world["src"] / "same.png").write_bytes(a.data)
    (world["src"] / "same.jpg").write_bytes(b.data)
    report = run_tag(world)
    assert report.captions["same.jpg"] == EXPECTED["B"] and report.captions["same (2).png"] == EXPECTED["A"]
    assert (world["out"] / "same.txt").read_text() == EXPECTED["B"]
    assert (world["out"] / "same (2).txt").read_text() == EXPECTED["A"]


def test_existing_user_files_in_out_are_never_overwritten(world):
    world["out"].mkdir()
    (world["out"] / "renamed picture.txt").write_text("mine")
    report = run_tag(world)
    assert (world["out"] / "renamed picture.txt").read_text() == "mine"
    assert report.captions["renamed picture (2).png"] == EXPECTED["C"]


def test_cancel_keeps_earlier_outputs_and_a_rerun_finishes(world):
    from sd_dataset.errors import Cancelled
    from sd_dataset.progress import Progress

    run_tag(world, caption="filename")
    before = {p.name for p in world["out"].iterdir()}

    class CancelAfterOne(Progress):
        def advance(self, n=1):
            super().advance(n)
            if self.desc == "tag":
                self.cancel()

    with PostCache(world["cache"]) as cache, pytest.raises(Cancelled):
        tag_folder(world["src"], world["out"], TagOptions(rules=CaptionRules(vocab=load_vocabulary(world["vocab"]))),
                   booru=client_for(world["server"]), cache=cache, progress=CancelAfterOne())
    assert before <= {p.name for p in world["out"].iterdir()}  # nothing of the earlier run was removed
    report = run_tag(world)
    assert report.captions == expected_txt(world)
    assert {p.name for p in world["out"].iterdir()} == with_companions(expected_txt(world)) | {MANIFEST, "tags.csv"}
