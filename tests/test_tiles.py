"""Tile captions end to end: tag (real e621-shaped server) writes captions and sidecars, augment splits and crops
real Pillow images and a real tiny ONNX tagger (tests/tiny_tagger.py, run by onnxruntime) judges each tile.

The pictures are half red and half blue: the tiny tagger scores ``red_background`` high on a red tile,
``blue_background`` and ``blue_fox`` on a blue one, and none of them on a tile showing both halves equally.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

pytest.importorskip("onnxruntime")

from booru_server import ServerPost  # noqa: E402
from conftest import client_for  # noqa: E402
from sd_dataset.augment import AugmentOptions, augment  # noqa: E402
from sd_dataset.cli import main  # noqa: E402
from sd_dataset.errors import DatasetError  # noqa: E402
from sd_dataset.postcache import PostCache  # noqa: E402
from sd_dataset.preview import tag_stats  # noqa: E402
from sd_dataset.sidecars import read_parts  # noqa: E402
from sd_dataset.tagger import Tagger, load_tagger  # noqa: E402
from sd_dataset.tagging import MANIFEST, TagOptions, tag_folder  # noqa: E402
from sd_dataset.tags import CaptionRules, Part  # noqa: E402
from sd_dataset.tiles import RECORD, tile_caption  # noqa: E402
from sd_dataset.training import scan_dataset  # noqa: E402
from sdscripts_readers import subset_images  # noqa: E402
from tiny_tagger import write_wd14  # noqa: E402
from webui_readers import training_captions  # noqa: E402

RED, BLUE = (255, 0, 0), (0, 0, 255)
TRIGGER = "white background"  # a tag the tagger knows (and sees in no tile): as the trigger it must stay
WHOLE = ("white background, safe content, by some artist, blue background, blue fox, looking left, "
         "not a tagger tag, red background, red hero")
# what the tagger sees in each of the three tiles of a 1024x512 picture cut at 512: red, both halves, blue
TILES = {
    "split0": "white background, safe content, by some artist, looking left, not a tagger tag, red background, "
              "red hero",
    "split1": "white background, safe content, by some artist, looking left, not a tagger tag, red hero",
    "split2": "white background, safe content, by some artist, blue background, blue fox, looking left, "
              "not a tagger tag, red hero",
}
DROPPED = {"split0": 2, "split1": 3, "split2": 1}


def halves(size=(1024, 512), left=RED, right=BLUE) -> Image.Image:
    img = Image.new("RGB", size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def world(tmp_path, booru_server):
    """A post of a half red, half blue picture, tagged through the server into ``tagged/``, and a tiny tagger."""
    post = ServerPost(id=1, data=png(halves()), rating="s",
                      tags={"general": ["red_background", "blue_background", "blue_fox", "looking_left",
                                        "not_a_tagger_tag"],
                            "character": ["red_hero"], "artist": ["some_artist"]})
    server = booru_server([post])
    src = tmp_path / "downloads"
    src.mkdir()
    (src / f"{post.md5}.png").write_bytes(post.data)
    tagged = tmp_path / "tagged"
    rules = CaptionRules(include=("character",), trigger=TRIGGER)
    with PostCache(tmp_path / "cache") as cache:
        report = tag_folder(src, tagged, TagOptions(rules=rules), booru=client_for(server), cache=cache)
    assert report.tagged == 1
    model = write_wd14(tmp_path / "model")
    return dict(tagged=tagged, md5=post.md5, model=model, tagger=load_tagger(model), train=tmp_path / "train",
                tmp=tmp_path)


def run_augment(world, src=None, out=None, tile_captions=True, **options):
    options = {"split": True, "flip": True, **options}
    return augment(src or world["tagged"], out or world["train"], AugmentOptions(tile_captions=tile_captions,
                                                                                 **options),
                   workers=1, tagger=world["tagger"] if tile_captions else None)


def captions(world, folder=None) -> dict[str, str]:
    """The captions the web UI's trainer reads, by output name less the md5 and extension."""
    read = training_captions(folder or world["train"])
    return {name[len(world["md5"]) + 1:].rsplit(".", 1)[0]: text for name, text in read.items()}


def test_tag_writes_a_sidecar_naming_what_each_caption_part_is(world):
    tagged, md5 = world["tagged"], world["md5"]
    assert (tagged / f"{md5}.txt").read_text() == WHOLE
    parts = read_parts(tagged / f"{md5}.png")
    assert [p.text for p in parts] == WHOLE.split(", ")
    assert parts[:3] == [Part(TRIGGER, "trigger"), Part("safe content", "rating"),
                         Part("by some artist", "artist", "some_artist")]
    assert Part("red hero", "character", "red_hero") in parts and Part("blue fox", "general", "blue_fox") in parts
    manifest = json.loads((tagged / MANIFEST).read_text())["files"]
    assert f"{md5}.json" in manifest  # so tag's stale-file cleanup removes it with its image
    data = json.loads((tagged / f"{md5}.json").read_text())
    assert data["md5"] == md5 and data["tags"]["character"] == ["red_hero"]  # the post, as fetch's sidecars hold it


def test_the_readers_of_a_training_folder_pass_the_sidecars_by(world):
    tagged = world["tagged"]
    image = f"{world['md5']}.png"
    assert (tagged / f"{world['md5']}.json").is_file()
    assert list(training_captions(tagged)) == [image]  # the web UI tries every file and skips the .json
    assert [p.name for p in subset_images(tagged)] == [image]  # sd-scripts lists image extensions
    scan = scan_dataset(tagged)
    assert scan.images == [image] and scan.unreadable == []  # the check names no unreadable image
    stats = tag_stats(tagged)
    assert stats.images == 1 and stats.captioned == 1


def test_split_tiles_keep_only_the_general_tags_the_tagger_sees_in_them(world):
    report = run_augment(world)
    assert report.ok, report.summary()
    read = captions(world)
    for tile, caption in TILES.items():
        assert read[tile] == caption, tile
        assert read[f"{tile}-flip"] == caption.replace("looking left", "looking right"), tile
    dropped = {t.name[len(world["md5"]) + 1:].rsplit(".", 1)[0]: len(t.dropped) for t in report.tile_captions.tiles}
    assert dropped == DROPPED
    summary = "\n".join(report.summary())
    assert "tile captions by the tagger model: 3 tiles, 3 of them dropped tags they do not show (6 in all)" in summary
    assert f"{world['md5']}-split1.png: dropped 3 (blue background, blue fox, red background)" in summary


def test_a_source_without_its_sidecar_has_its_parts_told_by_the_taggers_list(world):
    (world["tagged"] / f"{world['md5']}.json").unlink()
    report = run_augment(world)
    read = captions(world)
    # the trigger reads as the general tag white_background, which no tile shows; the character stays
    assert read["split0"] == TILES["split0"].replace(f"{TRIGGER}, ", "")
    assert "red hero" in read["split2"] and report.tile_captions.without_sidecar == 3


def test_without_tile_captions_every_output_keeps_the_whole_caption(world):
    run_augment(world, tile_captions=False)
    assert set(captions(world).values()) == {WHOLE, WHOLE.replace("left", "right")}
    assert not (world["train"] / RECORD).exists()
    # tile captions on, then off again: the whole captions come back
    run_augment(world)
    assert captions(world)["split1"] == TILES["split1"]
    again = run_augment(world, tile_captions=False)
    assert captions(world)["split1"] == WHOLE and again.captions == 6


def test_a_crop_drops_what_it_cut_away_and_a_whole_picture_is_not_judged(world, tmp_path):
    src = tmp_path / "own"
    src.mkdir()
    img = Image.new("RGB", (1024, 512), RED)
    img.paste(BLUE, (256, 0, 768, 512))  # the centre square is all blue
    img.save(src / "a.png")
    Image.new("RGB", (512, 512), RED).save(src / "b.png")  # already square: a crop cuts nothing
    for name in ("a", "b"):
        (src / f"{name}.txt").write_text("red background, blue background, looking left")
    report = run_augment(world, src=src, out=tmp_path / "crops", split=False, flip=False, square="crop")
    assert training_captions(tmp_path / "crops") == {"a.png": "blue background, looking left",
                                                     "b.png": "red background, blue background, looking left"}
    assert [t.name for t in report.tile_captions.tiles] == ["a.png"]
    padded = run_augment(world, src=src, out=tmp_path / "padded", split=False, flip=False, square="pad")
    assert set(training_captions(tmp_path / "padded").values()) == {"red background, blue background, looking left"}
    assert "no output is a split tile or a crop" in "\n".join(padded.summary())


def test_a_rerun_asks_the_tagger_only_about_tiles_written_again(world):
    run_augment(world)
    texts = {p.name: p.stat().st_mtime_ns for p in world["train"].glob("*.txt")}
    again = run_augment(world)
    assert [t.reused for t in again.tile_captions.tiles] == [True] * 3 and again.captions == 0
    assert {p.name: p.stat().st_mtime_ns for p in world["train"].glob("*.txt")} == texts
    # a tile written anew (here: all red) is looked at again
    tile = world["train"] / f"{world['md5']}-split2.png"
    Image.new("RGB", (512, 512), RED).save(tile)
    third = run_augment(world)
    assert [t.reused for t in third.tile_captions.tiles] == [True, True, False]
    assert captions(world)["split2"] == TILES["split0"]


def test_a_tile_the_tagger_cannot_read_keeps_its_whole_caption_and_fails_alone(world):
    run_augment(world)
    tile = world["train"] / f"{world['md5']}-split1.png"
    tile.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    report = run_augment(world)
    assert not report.ok
    assert (world["train"] / f"{world['md5']}-split1.txt").read_text() == WHOLE
    assert captions(world)["split0"] == TILES["split0"]
    [line] = report.failure_lines()
    assert line.startswith(f"  tile caption of {tile.name} failed: the tagger could not read it (")
    assert line.endswith("); it keeps the whole caption, and a rerun tries again")


def test_one_sentence_for_tile_captions_without_a_tagger_and_a_tagger_without_them(world, capsys):
    with pytest.raises(DatasetError, match=r"^Tile captions need a local tagger to look at each tile; give its "
                                           r"model folder in --tagger, or turn --tile-captions off\.$"):
        augment(world["tagged"], world["train"], AugmentOptions(split=True, tile_captions=True))
    with pytest.raises(DatasetError, match=r"^Augment uses a local tagger only for tile captions"):
        augment(world["tagged"], world["train"], AugmentOptions(split=True), tagger=world["tagger"])
    listless = Tagger()  # as the web UI's DeepDanbooru: it tags, but lists no tags it knows
    listless.name = "DeepDanbooru"
    with pytest.raises(DatasetError, match=r"^Tile captions need a tagger that lists the tags it knows, and "
                                           r"DeepDanbooru does not; give a WD14 or Z3D model folder in --tagger\.$"):
        augment(world["tagged"], world["train"], AugmentOptions(split=True, tile_captions=True), tagger=listless)
    missing = world["tmp"] / "no model"
    assert main(["augment", str(world["tagged"]), "--out", str(world["train"]), "--split", "--tile-captions",
                 "--tagger", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: The tagger model folder {missing} does not exist;") and err.count("\n") == 0
    assert not world["train"].exists()


def test_the_command_line_writes_tile_captions_and_says_what_each_tile_dropped(world, capsys):
    code = main(["augment", str(world["tagged"]), "--out", str(world["train"]), "--split", "--tile-captions",
                 "--tagger", str(world["model"]), "--tagger-threshold", "general=0.5", "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert captions(world)["split2"] == TILES["split2"]
    assert f"{world['md5']}-split0.png: dropped 2 (blue background, blue fox)" in out


@pytest.mark.parametrize("caption, parts, seen, expected", [
    # an escaped part is matched to its sidecar part; a tag the tagger knows but did not see goes
    ("bow \\(weapon\\), red background", [Part("bow (weapon)", "general", "bow_(weapon)"),
                                          Part("red background", "general", "red_background")],
     ["bow_(weapon)"], "bow \\(weapon\\)"),
    # a trigger of several comma-separated words is the trigger in each of its pieces
    ("red background, mytoken, blue fox", [Part("red background, mytoken", "trigger")], [], "red background, mytoken"),
    # a caption that loses nothing is kept byte for byte, its spacing too
    ("red background ,blue fox", None, ["red_background", "blue_fox"], "red background ,blue fox"),
])
def test_tile_caption_reads_each_part_as_the_sidecar_names_it(caption, parts, seen, expected):
    knows = frozenset({"red_background", "blue_fox", "bow_(weapon)"})
    assert tile_caption(caption, parts, knows, seen).text == expected


def test_sidecar_parts_of_another_kind_are_not_read(tmp_path):
    image = tmp_path / "0123456789abcdef0123456789abcdef.png"
    image.write_bytes(png(halves((8, 8))))
    (tmp_path / f"{image.stem}.json").write_text(json.dumps({"sidecar_version": 1, "md5": image.stem}))  # fetch's
    assert read_parts(image) is None
    (tmp_path / f"{image.stem}.json").write_text(json.dumps({"caption_parts": [{"text": 3}]}))
    assert read_parts(image) is None
