"""Hostile local input: links out of a source folder, odd names users type, manifests, decompression bombs."""

import contextlib
import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from PIL import Image

from sd_dataset.augment import SETTINGS_FILE, AugmentOptions, augment
from sd_dataset.errors import DatasetError
from sd_dataset import files
from sd_dataset.files import LINK_OUTSIDE, MAX_TEXT_BYTES, NOT_REGULAR, REPLACED, Refused
from sd_dataset.names import safe_user_name
from sd_dataset.preview import preview_page, read_caption, tag_stats
from sd_dataset.tagging import MANIFEST, TagOptions, tag_folder
from sd_dataset.tags import CaptionRules
from sd_dataset.templates import make_template
from sd_dataset.checks import check_readiness
from sd_dataset.training import TrainRequest, scan_dataset
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
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.png", "a.txt", "c.png", "c.txt"]
    assert (out / "c.txt").read_text() == "c"  # c.png has no .txt: its caption is its name
    assert b"secret diary" not in all_bytes(out)
    assert f"  skipped 1, {LINK_OUTSIDE}: b.png" in report.summary()


def test_tag_skips_links_leading_out_of_the_source(linked, tmp_path):
    src, secret = linked
    out = tmp_path / "out"
    report = tag_folder(src, out, TagOptions(keep_untagged=True, rules=CaptionRules(trigger="x")))
    assert {f.name for f in report.skipped} == {"b.png"}
    assert report.ok and report.images == 3
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["a.json", "a.png", "a.txt", "c.json", "c.png", "c.txt", "d.json", "d.png", "d.txt", "tags.csv"]
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


def test_stale_cleanup_never_follows_a_linked_folder_out_of_the_output(tmp_path):
    """A manifest naming ``linkdir/precious.png``, where linkdir links out of the output, once made tag delete
    the file it reached; names inside real subfolders and links that are themselves in the output still go."""
    src = tmp_path / "src"
    src.mkdir()
    picture(src / "a.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = picture(outside / "precious.png")
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "linkdir").symlink_to(outside, target_is_directory=True)
    (out / "deeper").symlink_to(out / "linkdir", target_is_directory=True)  # a link to the link: still outside
    picture(out / "old" / "stale.png")
    (out / "stale-link.png").symlink_to(precious)  # the link is in the output: it goes, its target stays
    (out / MANIFEST).write_text(json.dumps({"files": ["linkdir/precious.png", "deeper/precious.png",
                                                      "old/stale.png", "stale-link.png"]}))
    report = tag_folder(src, out, TagOptions(keep_untagged=True))
    assert report.ok and report.removed == 2
    assert precious.is_file() and not (out / "old" / "stale.png").exists()
    assert not os.path.lexists(out / "stale-link.png")
    assert json.loads((out / MANIFEST).read_text())["files"] == ["a.json", "a.png", "a.txt"]


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


# --- links out, FIFOs, devices and oversized files: every read stays inside the folder, bounded ---------------

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
MD5_A, MD5_B = "a" * 32, "b" * 32


def finishes(work, *fifos, seconds=20):
    """``work()`` run in a thread; one that hangs fails the test instead of hanging the suite.

    A reader stuck opening one of ``fifos`` is let go by opening it for writing, so no
    thread is left blocked behind the failure.
    """
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"still running after {seconds}s: it waited on a FIFO or read without end")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def one_image(folder: Path) -> Path:
    folder.mkdir()
    picture(folder / "a.png")
    return folder


def with_fifos(folder: Path) -> Path:
    """``folder`` holding a.png whose caption a.txt is a FIFO, and a FIFO named pipe.png."""
    one_image(folder)
    os.mkfifo(folder / "a.txt")
    os.mkfifo(folder / "pipe.png")
    return folder


def kinds(folder: Path) -> dict[str, tuple[int, int]]:
    """Each entry's type and size, not following links: what "nothing was touched" compares."""
    return {p.name: (stat.S_IFMT(p.lstat().st_mode), p.lstat().st_size) for p in folder.iterdir()}


def test_preview_shows_nothing_from_outside_the_folder(linked, tmp_path):
    src, secret = linked
    page = preview_page(src, cache=tmp_path / "cache")
    labels = dict((caption.split(":")[0], caption) for _, caption in page.items)
    assert sorted(labels) == ["a.png", "c.png", "d.png"] and page.total == 3  # b.png (out) and e.png (dangling) left out
    assert labels["a.png"] == "a.png: red square"
    assert "caption not shown: d.txt: " + LINK_OUTSIDE in labels["d.png"]
    assert not any("secret diary" in caption for _, caption in page.items)
    for thumb, _ in page.items:  # holiday.png is (1, 2, 3) all over; every picture here is bright
        assert max(Image.open(thumb).convert("RGB").getpixel((0, 0))) > 100
    assert read_caption(src / "d.png") == ""
    assert not any("secret" in tag for tag in tag_stats(src).counts)


@needs_fifo
def test_preview_leaves_out_fifos_and_shows_why_a_caption_is_not_shown(tmp_path):
    src = with_fifos(tmp_path / "src")
    page = finishes(lambda: preview_page(src, cache=tmp_path / "cache"), src / "a.txt", src / "pipe.png")
    assert page.total == 1 and [c for _, c in page.items] == [f"a.png: (caption not shown: a.txt: {NOT_REGULAR})"]
    assert finishes(lambda: tag_stats(src).images, src / "a.txt") == 1


@needs_fifo
def test_tag_survives_sidecars_that_are_a_fifo_or_a_link_to_dev_zero(tmp_path):
    """A sidecar link to /dev/zero once read 1.3 GB until MemoryError; a FIFO sidecar hung the step."""
    src = tmp_path / "src"
    src.mkdir()
    picture(src / f"{MD5_A}.png")
    picture(src / f"{MD5_B}.png", (0, 0, 200))
    (src / f"{MD5_A}.json").symlink_to("/dev/zero")
    os.mkfifo(src / f"{MD5_B}.json")
    os.mkfifo(src / "pipe.png")
    before = kinds(src)
    report = finishes(lambda: tag_folder(src, tmp_path / "out", TagOptions(keep_untagged=True)),
                      src / f"{MD5_B}.json", src / "pipe.png")
    skipped = {f.name: f.reason for f in report.skipped}
    assert set(skipped) == {f"{MD5_A}.json", f"{MD5_B}.json", "pipe.png"}
    assert skipped[f"{MD5_A}.json"].startswith(LINK_OUTSIDE) and skipped[f"{MD5_B}.json"].startswith(NOT_REGULAR)
    lines = [line for line in report.summary() if line.startswith("  skipped ")]
    assert len(lines) == 3 and f"  skipped {MD5_B}.json: {NOT_REGULAR}; its post is looked up elsewhere" in lines
    assert report.ok and report.images == 2 and (tmp_path / "out" / f"{MD5_B}.png").is_file()
    assert kinds(src) == before


@needs_fifo
def test_augment_skips_a_source_whose_caption_is_a_fifo(tmp_path):
    src = with_fifos(tmp_path / "src")
    picture(src / "b.png")
    (src / "b.txt").write_text("blue")
    before = kinds(src)
    out = tmp_path / "out"
    report = finishes(lambda: augment(src, out, AugmentOptions(min_size=0, size=32), workers=1),
                      src / "a.txt", src / "pipe.png")
    assert {s.name: s.reason for s in report.skipped} == {"a.png": f"its caption a.txt: {NOT_REGULAR}",
                                                          "pipe.png": NOT_REGULAR}
    assert report.ok and report.sources == 3 and (out / "b.txt").read_text() == "blue"
    assert not (out / "a.png").exists()  # never written without the caption it was meant to have
    assert kinds(src) == before


@needs_fifo
def test_a_fifo_swapped_in_after_the_check_is_refused_without_waiting(tmp_path, monkeypatch):
    """Between the check and the open a caption can become a FIFO; opening it must not wait for a writer."""
    honest = tmp_path / "honest.txt"
    honest.write_text("red")
    os.mkfifo(tmp_path / "a.txt")
    monkeypatch.setattr(files, "check_file", lambda path, real_root=None: os.stat(honest))  # what the check saw

    def read():
        with pytest.raises(Refused, match=REPLACED):
            files.read_inside(tmp_path / "a.txt", tmp_path.resolve())

    finishes(read, tmp_path / "a.txt")


def test_an_oversized_caption_is_refused_not_read(tmp_path):
    src = one_image(tmp_path / "src")
    (src / "a.txt").write_bytes(b"x" * (MAX_TEXT_BYTES + 1))
    report = augment(src, tmp_path / "out", AugmentOptions(min_size=0, size=32), workers=1)
    assert [s.name for s in report.skipped] == ["a.png"] and "larger than" in report.skipped[0].reason
    assert read_caption(src / "a.png") == ""


@needs_fifo
def test_fifos_in_the_output_folder_do_not_hang_a_rerun(tmp_path):
    """The manifest and the settings record are read from the output folder too."""
    src = one_image(tmp_path / "src")
    tagged, train = tmp_path / "tagged", tmp_path / "train"
    tagged.mkdir()
    train.mkdir()
    os.mkfifo(tagged / MANIFEST)
    os.mkfifo(train / SETTINGS_FILE)
    assert finishes(lambda: tag_folder(src, tagged, TagOptions(keep_untagged=True)).ok, tagged / MANIFEST)
    assert finishes(lambda: augment(src, train, AugmentOptions(min_size=0, size=32), workers=1).ok,
                    train / SETTINGS_FILE)


@needs_fifo
def test_the_readiness_check_never_opens_a_fifo(tmp_path):
    root = with_fifos(tmp_path / "train")
    scan = finishes(lambda: scan_dataset(root), root / "pipe.png")
    assert scan.images == ["a.png"] and scan.unreadable == ["pipe.png"]
    findings = finishes(lambda: check_readiness(TrainRequest(name="x", data_root=str(root), template_file="t.txt",
                                                              learn_rate="0.005", steps="100")), root / "a.txt")
    assert not any(f.code == "empty-caption" for f in findings)  # a refused caption is there, just not judged


@needs_fifo
@pytest.mark.parametrize("reader", ["vocabulary", "aliases", "exclude", "template"])
def test_files_a_user_names_are_refused_when_a_fifo_or_a_device(tmp_path, reader):
    """A vocabulary, aliases, exclude list or template path that names a FIFO or /dev/zero: one sentence, no
    wait for a writer, no read without end."""
    from sd_dataset.tags import load_vocabulary, read_aliases, read_tag_list
    from sd_dataset.templates import read_template

    read = {"vocabulary": load_vocabulary, "aliases": read_aliases, "exclude": read_tag_list,
            "template": read_template}[reader]
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        def attempt():
            with pytest.raises(DatasetError, match=f"^Cannot read the .*{re.escape(f'{path} ({NOT_REGULAR})')}"):
                read(path)
        finishes(attempt, fifo)
