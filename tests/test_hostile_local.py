"""Hostile local input: links out of a source folder, odd names users type, manifests, decompression bombs."""

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from sd_dataset.augment import SETTINGS_FILE, AugmentOptions, augment
from sd_dataset.errors import DatasetError
from sd_dataset.files import LINK_OUTSIDE
from sd_dataset.names import safe_user_name
from sd_dataset.tagging import MANIFEST, TagOptions, tag_folder
from sd_dataset.tags import CaptionRules
from sd_dataset.templates import make_template
from sd_dataset.training import TrainRequest, check_readiness
from test_images import bomb_png

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def picture(path: Path, colour=(200, 10, 10)) -> Path:
    Image.new("RGB", (64, 64), colour).save(path)
    return path


@pytest.fixture
def linked(tmp_path):
    """A source folder with a real image, a link inside it, and links (image, caption) leading out of it."""
    secret = tmp_path / "private"
    secret.mkdir()
    picture(secret / "holiday.png", (1, 2, 3))
    (secret / "diary.txt").write_text("my secret diary")
    src = tmp_path / "src"
    src.mkdir()
    picture(src / "a.png")
    (src / "a.txt").write_text("red square")
    (src / "b.png").symlink_to(secret / "holiday.png")
    (src / "c.png").symlink_to(src / "a.png")  # stays inside: followed like a file
    picture(src / "d.png", (0, 200, 0))
    (src / "d.txt").symlink_to(secret / "diary.txt")
    (src / "e.png").symlink_to(tmp_path / "gone.png")  # dangling
    return src, secret


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_augment_skips_links_leading_out_of_the_source(linked, tmp_path):
    src, secret = linked
    out = tmp_path / "out"
    report = augment(src, out, AugmentOptions(min_size=0, size=32), workers=1)
    skipped = {s.name: s.reason for s in report.skipped}
    assert skipped["b.png"] == LINK_OUTSIDE and "e.png" not in skipped  # a dangling link is no file at all
    assert "d.txt" in skipped["d.png"] and LINK_OUTSIDE in skipped["d.png"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.png", "a.txt", "c.png"]  # c.png: no caption
    assert b"secret diary" not in all_bytes(out)
    assert "skipped b.png: it is a link" in "\n".join(report.summary())


def test_tag_skips_links_leading_out_of_the_source(linked, tmp_path):
    src, secret = linked
    out = tmp_path / "out"
    report = tag_folder(src, out, TagOptions(keep_untagged=True, rules=CaptionRules(trigger="x")))
    assert {f.name for f in report.skipped} == {"b.png"}
    assert report.ok and report.images == 3
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["a.png", "a.txt", "c.png", "c.txt", "d.png", "d.txt", "tags.csv"]
    assert (secret / "holiday.png").read_bytes() not in [p.read_bytes() for p in out.iterdir()]
    assert any("skipped b.png: it is a link to a file outside" in line for line in report.summary())


def test_tag_refuses_a_folder_of_only_outside_links(tmp_path):
    outside = picture(tmp_path / "elsewhere.png")
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.png").symlink_to(outside)
    with pytest.raises(DatasetError, match="link to a file outside it.*copy the images into the folder"):
        tag_folder(src, tmp_path / "out", TagOptions(keep_untagged=True))


def test_a_tampered_manifest_cannot_delete_outside_the_output(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    picture(src / "a.png")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"files": [str(victim), "../victim.txt", "sub/../../victim.txt",
                                                      "C:\\victim.txt"]}))
    tag_folder(src, out, TagOptions(keep_untagged=True))
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("concept", ["../../escape", "/abs/olute", "con"])
def test_kohya_concept_folder_stays_inside_the_output(tmp_path, concept):
    src = tmp_path / "src"
    src.mkdir()
    picture(src / "a.png")
    out = tmp_path / "out"
    report = tag_folder(src, out, TagOptions(layout="kohya", concept=concept, keep_untagged=True))
    assert report.folder.parent == out and report.folder.name.startswith("10_")
    assert {p.name for p in tmp_path.iterdir()} == {"src", "out"}


@pytest.mark.parametrize("concept", ["///", ".."])
def test_kohya_concept_without_usable_characters_is_one_sentence(tmp_path, concept):
    src = tmp_path / "src"
    src.mkdir()
    picture(src / "a.png")
    with pytest.raises(DatasetError, match="has no characters usable in a file name"):
        tag_folder(src, tmp_path / "out", TagOptions(layout="kohya", concept=concept, keep_untagged=True))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a/b\\c", "con", " .hidden", "x\0y", "é" * 200])
def test_typed_names_become_one_safe_component(name):
    safe = safe_user_name(name)
    assert safe and "/" not in safe and "\\" not in safe and "\0" not in safe
    assert safe not in (".", "..") and not safe.startswith(".") and len(safe.encode()) <= 240


@pytest.mark.parametrize("name", ["", "   ", "..", "...", "/", "<>|"])
def test_typed_names_with_nothing_usable_are_refused(name):
    with pytest.raises(DatasetError, match="no characters usable"):
        safe_user_name(name)


def test_template_name_cannot_leave_its_folder(tmp_path):
    folder = tmp_path / "templates"
    result = make_template(folder, "../../evil", kind="subject")
    assert result.path.parent == folder
    assert {p.name for p in tmp_path.iterdir()} == {"templates"}


@pytest.mark.parametrize("name", ["../../evil", "sub/dir", "trailing."])
def test_unsafe_embedding_names_are_training_errors(tmp_path, name):
    findings = check_readiness(TrainRequest(name=name, data_root=str(tmp_path), template_file="t.txt",
                                            learn_rate="0.005", steps="100"))
    unsafe = [f for f in findings if f.code == "unsafe-name"]
    assert unsafe and unsafe[0].level == "error" and "not a safe file name" in unsafe[0].message


def test_tag_copies_a_bomb_without_decoding_and_augment_refuses_it(tmp_path, monkeypatch):
    """Tag never decodes an image (it copies bytes), so a decompression bomb costs it nothing; augment refuses it."""
    src = tmp_path / "src"
    src.mkdir()
    bomb_png(src / "bomb.png")
    (src / "bomb.txt").write_text("boom")

    def no_decoding(*args, **kwargs):
        raise AssertionError("tag decoded an image")

    monkeypatch.setattr(Image, "open", no_decoding)
    report = tag_folder(src, tmp_path / "tagged", TagOptions(keep_untagged=True))
    assert report.ok and (tmp_path / "tagged" / "bomb.png").read_bytes() == (src / "bomb.png").read_bytes()
    monkeypatch.undo()
    result = augment(tmp_path / "tagged", tmp_path / "train", AugmentOptions(), workers=1)
    assert [f.name for f in result.failed] == ["bomb.png"] and "decompression bomb" in result.failed[0].reason
    assert [p.name for p in (tmp_path / "train").iterdir()] == [SETTINGS_FILE]
