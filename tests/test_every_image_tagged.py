"""Issue 17's "done when", end to end through the command line: one folder of the user's own images, where no file
is named by or keeps its post's md5, gets every image tagged.  Re-encoded and resized copies of posts find their
posts through the e621-shaped loopback server's image search (IQDB); a picture no site knows gets its tags from a
tiny real ONNX tagger; a rerun asks nothing; augment's split tiles of a post drop the tags the tagger does not see in
them; and a missing model, an unreadable image and a site that throttles the searches are one sentence each."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("onnxruntime")

from booru_server import ServerPost, picture_bytes, resaved_copy  # noqa: E402
from sd_dataset.cli import main  # noqa: E402
from tiny_tagger import write_wd14  # noqa: E402

USER, KEY = "own-folder-user", "own-folder-key-7310"
RED, BLUE = (255, 0, 0), (0, 0, 255)


def wide_halves() -> Image.Image:
    """1024×512, red on the left and blue on the right: split at 512, its tiles show red, both, blue."""
    img = Image.new("RGB", (1024, 512), RED)
    img.paste(BLUE, (512, 0, 1024, 512))
    return img


def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, quality=90)
    return buf.getvalue()


@pytest.fixture
def own_folder(tmp_path, booru_server):
    halves = ServerPost(id=41, data=encoded(wide_halves(), "PNG"), rating="s",
                        tags={"general": ["red_background", "blue_background", "blue_fox", "looking_left",
                                          "not_a_tagger_tag"], "artist": ["some_artist"]})
    other = ServerPost(id=42, data=picture_bytes(42), rating="s", tags={"general": ["red_ball", "grass"]})
    server = booru_server([halves, other], credentials=(USER, KEY))
    src = tmp_path / "my pictures"
    src.mkdir()
    (src / "holiday.jpg").write_bytes(resaved_copy(halves.data, (1024, 512)))
    (src / "ball, smaller.jpg").write_bytes(resaved_copy(other.data, (200, 150)))
    (src / "my own drawing.png").write_bytes(encoded(Image.new("RGB", (96, 96), BLUE), "PNG"))
    (src / "cut short.png").write_bytes(encoded(Image.new("RGB", (96, 96), RED), "PNG")[:90])
    return dict(server=server, src=src, tagged=tmp_path / "tagged", train=tmp_path / "train",
                cache=tmp_path / "cache", model=write_wd14(tmp_path / "wd-tiny-tagger"))


def tag_command(world, *extra) -> list[str]:
    return ["tag", str(world["src"]), "--out", str(world["tagged"]), "--base-url", world["server"].url,
            "--username", USER, "--api-key", KEY, "--cache", str(world["cache"]), "--iqdb",
            "--tagger", str(world["model"]), *extra]


def found_by(folder: Path, stem: str) -> str:
    return json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))["found"]["by"]


def test_every_image_of_an_own_folder_is_tagged_and_a_rerun_asks_nothing(own_folder, capsys):
    world = own_folder
    assert main(tag_command(world)) == 1  # one image could not be read: it is listed, the others are done
    printed = capsys.readouterr()
    tagged = world["tagged"]
    assert (tagged / "holiday.txt").read_text() == ("safe content, by some artist, blue background, blue fox, "
                                                    "looking left, not a tagger tag, red background")
    assert (tagged / "ball, smaller.txt").read_text() == "safe content, grass, red ball"
    assert (tagged / "my own drawing.txt").read_text() == "questionable content, blue background, blue fox"
    assert [found_by(tagged, s) for s in ("holiday", "ball, smaller", "my own drawing")] == [
        "iqdb", "iqdb", "tagger"]
    assert "4 images: tagged 3" in printed.out
    assert "image look-up (IQDB, score at least 80) 2" in printed.out and "tagger 1" in printed.out
    [failure] = [line for line in printed.out.splitlines() if "cut short.png" in line]
    assert "could not be read" in failure
    assert "4 image look-ups at 6 per 10 s take under a minute." in printed.err
    asked = len(world["server"].requests)

    assert main(tag_command(world)) == 1
    again = capsys.readouterr().out
    assert len(world["server"].requests) == asked  # md5 misses, image matches and the tagger's answer: all kept
    assert "API requests: 0" in again and "1 from an earlier run's tag sidecars" in again
    assert (tagged / "holiday.txt").read_text().endswith("not a tagger tag, red background")

    assert main(["augment", str(tagged), "--out", str(world["train"]), "--split", "--tile-captions",
                 "--tagger", str(world["model"])]) == 0
    tiles = {p.stem: p.read_text() for p in world["train"].glob("holiday-split*.txt")}
    red, both, blue = (tiles[f"holiday-split{i}"] for i in range(3))
    assert "red background" in red and "blue background" not in red and "blue fox" not in red
    assert "blue background" in blue and "blue fox" in blue and "red background" not in blue
    assert not {"red background", "blue background"} & set(both.split(", "))
    assert all("not a tagger tag" in text and "by some artist" in text for text in tiles.values())
    assert "dropped" in capsys.readouterr().out


def test_a_missing_model_is_one_sentence_before_any_request(own_folder, tmp_path, capsys):
    world = dict(own_folder, model=tmp_path / "no such model")
    assert main(tag_command(world)) == 2
    [said] = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "no such model" in said and said.endswith(".")
    assert world["server"].requests == [] and not world["tagged"].exists()


def test_a_throttled_site_is_one_sentence_and_a_rerun_finishes(own_folder, capsys):
    world = own_folder
    world["server"].script("/iqdb_queries", ["429"] * 5)  # every try of the first search: "slow down", Retry-After 1 s
    assert main(tag_command(world)) == 1
    printed = capsys.readouterr().out
    stopped = [line for line in printed.splitlines() if "the image search stopped" in line]
    assert len(stopped) == 1 and "HTTP 429" in stopped[0] and "a rerun asks again" in stopped[0]
    assert not (world["tagged"] / "holiday.txt").exists()  # an image the search may yet find is not guessed at

    assert main(tag_command(world)) == 1  # the site answers again; only the unreadable image is left
    assert [found_by(world["tagged"], s) for s in ("holiday", "ball, smaller", "my own drawing")] == [
        "iqdb", "iqdb", "tagger"]
