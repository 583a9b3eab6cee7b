"""The augment step on real folders: names, captions, tiles, pads, flips, reruns, bad files, CLI."""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from sd_dataset.augment import SETTINGS_FILE, AugmentOptions, _Runner, augment, plan_for
from sd_dataset.cli import main
from sd_dataset.errors import Cancelled, DatasetError
from sd_dataset.files import TEMP_SUFFIX
from sd_dataset.progress import Progress
from webui_readers import training_captions

LANCZOS = Image.Resampling.LANCZOS


def noise(w: int, h: int, seed: int = 1) -> Image.Image:
    return Image.frombytes("RGB", (w, h), random.Random(seed).randbytes(w * h * 3))


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.tobytes() == b.tobytes()


def opened(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def snapshot(folder: Path) -> dict:
    """Name → (content hash, mtime, inode) of every file, to prove nothing changed."""
    return {p.name: (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(folder.iterdir())}


def make(folder: Path, name: str, img: Image.Image, caption: str | None = None, **save) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    img.save(path, **save)
    if caption is not None:
        path.with_suffix(".txt").write_text(caption)
    return path


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A folder with every kind of file the issue lists."""
    src = tmp_path / "src"
    make(src, "tall.png", noise(512, 1536, 1), "red ball")
    make(src, "wide.png", noise(2000, 600, 2), "blue cube")
    make(src, "square.png", noise(600, 600, 3), "green ring")
    make(src, "tiny.png", noise(100, 80, 4), "small dot")
    rgba = Image.new("RGBA", (300, 400), (0, 0, 255, 0))
    rgba.paste((0, 0, 255, 255), (50, 50, 250, 350))
    make(src, "rgba.png", rgba, "blue box")
    make(src, "palette.gif", noise(300, 300, 5).convert("P"))
    make(src, "cmyk.jpg", Image.new("CMYK", (300, 300), (0, 255, 255, 0)), quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6
    make(src, "rotated.jpg", noise(400, 300, 6), "rotated thing", quality=95, exif=exif.tobytes())
    frames = [Image.new("RGB", (300, 300), c) for c in [(255, 0, 0), (0, 255, 0)]]
    make(src, "anim.gif", frames[0], save_all=True, append_images=frames[1:], duration=50, loop=0)
    make(src, "trunc.jpg", noise(400, 400, 7), quality=90)
    data = (src / "trunc.jpg").read_bytes()
    (src / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (src / "text.png").write_text("red ball\n")
    (src / "zero.jpg").write_bytes(b"")
    from test_images import bomb_png
    bomb_png(src / "bomb.png")
    (src / "notes.json").write_text("{}")
    return src


def run(src, out, workers=1, **opts):
    return augment(src, out, AugmentOptions(**opts), workers=workers)


def test_everything_in_one_folder(mixed, tmp_path):
    out = tmp_path / "out"
    before = snapshot(mixed)
    report = run(mixed, out, workers=2, flip=True, split=True)
    assert snapshot(mixed) == before, "the source folder is never written"

    failed = {f.name: f.reason for f in report.failed}
    assert set(failed) == {"trunc.jpg", "text.png", "zero.jpg", "bomb.png"}
    assert "truncated" in failed["trunc.jpg"] and "not an image" in failed["text.png"]
    assert "empty" in failed["zero.jpg"] and "decompression bomb" in failed["bomb.png"]
    assert [s.name for s in report.skipped] == ["tiny.png"] and "too small" in report.skipped[0].reason
    assert report.ignored == 1 and report.sources == 13 and not report.ok

    names = {p.name for p in out.iterdir()}
    tiles = lambda stem, n: {f"{stem}-split{i}{flip}.png" for i in range(n) for flip in ("", "-flip")}
    expected_images = (tiles("tall", 4) | tiles("wide", 4)
                       | {f"{s}{f}.png" for s in ["square", "rgba", "palette", "cmyk", "rotated", "anim"]
                          for f in ("", "-flip")})
    assert {n for n in names if n.endswith(".png")} == expected_images
    # Every output carries its source's caption: its .txt, else what the trainer read from its name ("palette").
    captioned = {"tall": "red ball", "wide": "blue cube", "square": "green ring", "rgba": "blue box",
                 "rotated": "rotated thing"}
    read = training_captions(out)
    for name in expected_images:
        source = name[:-4].split("-")[0]
        assert read[name] == captioned.get(source, source), name
    assert report.named == 3  # palette, cmyk, anim
    for name in expected_images:
        assert opened(out / name).size == (512, 512), name
    assert report.images == len(expected_images) and report.split == 2 and report.tiles == 8


def test_outputs_add_nothing_to_what_the_trainer_reads_and_mirrors_swap_sides(tmp_path):
    src = tmp_path / "src"
    make(src, "a.png", noise(600, 200, 1), "looking left, by left artist, red ball")  # captioned by its .txt
    named = "0 4 toes, looking left, by left artist, bow （weapon）"  # captioned by its name, as tag writes it
    make(src, f"{named}.png", noise(600, 200, 2))
    make(src, "2 red ball, facing_right.png", noise(200, 200, 3))  # a clash's number in front
    out = tmp_path / "out"
    report = run(src, out, flip=True, split=True, size=200, min_size=16)
    meant = {"a": ("looking left, by left artist, red ball", "looking right, by left artist, red ball"),
             named: ("4 toes, looking left, by left artist, bow （weapon）",
                     "4 toes, looking right, by left artist, bow （weapon）"),
             "2 red ball, facing_right": ("red ball, facing_right", "red ball, facing_left")}
    read = training_captions(out)
    assert len(read) == 4 * 2 + 4 * 2 + 2 and report.named == 2
    for name, caption in read.items():
        stem = name[:-len(".png")]
        source = re.sub(r"(-split\d+)?(-flip)?$", "", stem)
        assert caption == meant[source][stem.endswith("-flip")], name


def test_split_tiles_are_crops_of_the_resized_source_at_webui_offsets(tmp_path):
    src = make(tmp_path / "src", "tall.png", noise(512, 1536), "red ball").parent
    make(src, "wide.png", noise(2000, 600, 9))
    out = tmp_path / "out"
    run(src, out, split=True, flip=True)
    tall, wide = opened(src / "tall.png"), opened(src / "wide.png").resize((1706, 512), LANCZOS)
    for i, y in enumerate([0, 341, 682, 1024]):
        tile = opened(out / f"tall-split{i}.png")
        assert same(tile, tall.crop((0, y, 512, y + 512)))
        assert same(opened(out / f"tall-split{i}-flip.png"), tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        assert (out / f"tall-split{i}.txt").read_text() == "red ball"
    for i, x in enumerate([0, 398, 796, 1194]):
        assert same(opened(out / f"wide-split{i}.png"), wide.crop((x, 0, x + 512, 512)))


def test_keep_size_split_tiles_are_crops_of_the_original(tmp_path):
    src = make(tmp_path / "src", "t.png", noise(300, 900)).parent
    out = tmp_path / "out"
    run(src, out, split=True, keep_size=True)
    original = opened(src / "t.png")
    for i, y in enumerate([0, 200, 400, 600]):  # n = ceil((900-60)/240) = 4, step 200
        assert same(opened(out / f"t-split{i}.png"), original.crop((0, y, 300, y + 300)))
    assert not (out / "t-split4.png").exists()


def test_pad_keeps_pixels_centred_and_blends(tmp_path):
    img = noise(300, 600, 11)
    for y in range(600):
        img.putpixel((0, y), (250, 20, 20))
        img.putpixel((299, y), (20, 20, 250))
    src = make(tmp_path / "src", "p.png", img).parent
    out = tmp_path / "out"
    run(src, out, keep_size=True, flip=True)
    padded = opened(out / "p.png")
    assert padded.size == (600, 600)
    assert same(padded.crop((150, 0, 450, 600)), img)
    assert all(abs(a - b) < 40 for a, b in zip(padded.getpixel((0, 300)), (250, 20, 20)))
    assert all(abs(a - b) < 40 for a, b in zip(padded.getpixel((599, 300)), (20, 20, 250)))
    assert same(opened(out / "p-flip.png"), padded.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def test_pad_at_size_scales_long_side_then_pads(tmp_path):
    src = make(tmp_path / "src", "w.png", noise(800, 400)).parent
    out = tmp_path / "out"
    run(src, out, size=256)
    result = opened(out / "w.png")
    scaled = opened(src / "w.png").resize((256, 128), LANCZOS)
    assert result.size == (256, 256)
    assert same(result.crop((0, 64, 256, 192)), scaled)


def test_crop_and_none(tmp_path):
    src = make(tmp_path / "src", "c.png", noise(400, 600)).parent
    run(src, tmp_path / "crop", size=256, square="crop")
    expected = opened(src / "c.png").crop((0, 100, 400, 500)).resize((256, 256), LANCZOS)
    assert same(opened(tmp_path / "crop" / "c.png"), expected)
    run(src, tmp_path / "none", size=300, square="none")
    assert opened(tmp_path / "none" / "c.png").size == (200, 300)


def test_transparent_and_rotated_sources_come_out_right(tmp_path):
    rgba = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (100, 100, 200, 200))
    src = make(tmp_path / "src", "a.png", rgba).parent
    exif = Image.Exif()
    exif[0x0112] = 8
    left_red = Image.new("RGB", (600, 300), (0, 0, 255))
    left_red.paste((255, 0, 0), (0, 0, 300, 300))
    make(src, "r.png", left_red, exif=exif.tobytes())
    out = tmp_path / "out"
    run(src, out, square="none", keep_size=True)
    a = opened(out / "a.png")
    assert a.getpixel((10, 10)) == (255, 255, 255) and a.getpixel((150, 150)) == (0, 0, 255)
    r = opened(out / "r.png")
    # Orientation 8 = rotate 90 counter-clockwise for display: the red left half ends up at the bottom.
    assert r.size == (300, 600)
    assert r.getpixel((150, 550)) == (255, 0, 0) and r.getpixel((150, 50)) == (0, 0, 255)


def test_rerun_writes_nothing_and_finishes_what_is_missing(tmp_path):
    src = make(tmp_path / "src", "a.png", noise(512, 1536), "red ball").parent
    make(src, "b.jpg", noise(700, 500, 2), "green ring", quality=90)
    out = tmp_path / "out"
    first = run(src, out, flip=True, split=True)
    assert first.written == 2 and first.images == 10
    state = snapshot(out)

    again = run(src, out, flip=True, split=True, workers=2)
    assert snapshot(out) == state, "a rerun writes nothing"
    assert again.done == 2 and again.written == 0 and again.images == 0 and again.captions == 0

    # As if killed mid-source: one output missing and a temp file left behind.
    (out / "a-split2-flip.png").unlink()
    (out / f".a-split3.png.1234abcd{TEMP_SUFFIX}").write_bytes(b"partial")
    third = run(src, out, flip=True, split=True)
    assert third.written == 1 and third.done == 1
    assert (out / "a-split2-flip.png").exists()
    assert not list(out.glob(f"*{TEMP_SUFFIX}"))
    assert snapshot(out)["b.png"] == state["b.png"], "the complete source was not redone"

    # An edited caption is picked up without redoing the images.
    (src / "b.txt").write_text("green ring, grass")
    fourth = run(src, out, flip=True, split=True)
    assert fourth.images == 0 and fourth.captions == 2
    assert (out / "b-flip.txt").read_text() == "green ring, grass"
    assert snapshot(out)["b.png"] == state["b.png"]


def test_new_option_on_rerun_adds_the_missing_outputs(tmp_path):
    src = make(tmp_path / "src", "a.png", noise(600, 600)).parent
    out = tmp_path / "out"
    run(src, out)
    report = run(src, out, flip=True)
    assert report.written == 1 and (out / "a-flip.png").exists()


@pytest.mark.parametrize("first, second, named", [
    ({"size": 512}, {"size": 768}, "size 512, and this run asks for size 768"),
    ({"square": "pad"}, {"square": "crop"}, "square pad, and this run asks for square crop"),
    ({"format": "png"}, {"format": "jpg"}, "format png, and this run asks for format jpg"),
    ({"split": True}, {"split": True, "overlap": 0.3}, "overlap 0.2, and this run asks for overlap 0.3"),
    ({"flip": True}, {}, "flip yes, and this run asks for flip no"),
    ({}, {"keep_size": True}, "size 512, and this run asks for size kept"),
])
def test_rerun_with_other_settings_is_refused_and_changes_nothing(tmp_path, first, second, named):
    src = make(tmp_path / "src", "a.png", noise(600, 1400), "red ball").parent
    out = tmp_path / "out"
    run(src, out, **first)
    make(src, "b.png", noise(600, 600, 2))  # new work the refused run must not do either
    state = snapshot(out)
    with pytest.raises(DatasetError) as refused:
        run(src, out, **second)
    message = str(refused.value)
    assert named in message and "choose a new output folder" in message and message.count(".") <= 3
    assert snapshot(out) == state
    assert run(src, tmp_path / "fresh", **second).ok  # the same settings are fine in another folder


def test_settings_record_is_kept_by_a_same_settings_rerun_and_does_not_bind_an_empty_folder(tmp_path):
    src = make(tmp_path / "src", "a.png", noise(600, 600)).parent
    out = tmp_path / "out"
    run(src, out, size=256)
    record = json.loads((out / SETTINGS_FILE).read_text())
    assert record["settings"]["size"] == "256" and record["settings"]["flip"] == "no"
    run(src, out, size=256, flip=True)  # more outputs of the same kind: allowed, and remembered
    assert json.loads((out / SETTINGS_FILE).read_text())["settings"]["flip"] == "yes"
    for image in out.glob("*.png"):
        image.unlink()
    assert run(src, out, size=300).written == 1  # no images left to mix with
    (out / SETTINGS_FILE).write_text("{not json")
    assert run(src, out, size=400).ok  # an unreadable record binds nothing, and is written anew
    assert json.loads((out / SETTINGS_FILE).read_text())["settings"]["size"] == "400"


def test_pool_and_single_process_give_identical_files(tmp_path):
    src = tmp_path / "src"
    for i in range(6):
        make(src, f"i{i}.png", noise(300 + 40 * i, 700 - 30 * i, i), f"tag {i}")
    run(src, tmp_path / "one", workers=1, flip=True, split=True)
    run(src, tmp_path / "two", workers=2, flip=True, split=True)
    one, two = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert {k: v[0] for k, v in one.items()} == {k: v[0] for k, v in two.items()}
    assert len(one) > 12


def test_unchanged_source_is_copied_not_reencoded(tmp_path):
    src = make(tmp_path / "src", "s.png", noise(512, 512)).parent
    out = tmp_path / "out"
    report = run(src, out, flip=True)
    assert report.copied == 1 and report.images == 2
    assert (out / "s.png").read_bytes() == (src / "s.png").read_bytes()
    # A JPEG of the right size going to PNG must be encoded.
    make(src, "j.jpg", noise(512, 512), quality=90)
    assert run(src, out, flip=True).copied == 0


@pytest.mark.parametrize("fmt, pil", [("jpg", "JPEG"), ("webp", "WEBP")])
def test_other_formats(tmp_path, fmt, pil):
    src = make(tmp_path / "src", "a.png", noise(600, 400), "red ball").parent
    out = tmp_path / "out"
    run(src, out, format=fmt, flip=True)
    with Image.open(out / f"a.{fmt}") as img:
        assert img.format == pil and img.size == (512, 512)
    assert (out / f"a-flip.{fmt}").exists() and (out / "a-flip.txt").read_text() == "red ball"
    assert not (out / "a.png").exists()


def test_big_jpeg_is_draft_decoded_and_still_close(tmp_path):
    smooth = Image.linear_gradient("L").resize((2000, 1500)).convert("RGB")
    src = make(tmp_path / "src", "photo.jpg", smooth, quality=95).parent
    out = tmp_path / "out"
    run(src, out, square="none")
    result = opened(out / "photo.png")
    reference = opened(src / "photo.jpg").resize((512, 384), LANCZOS)
    diff = sum(abs(a - b) for a, b in zip(result.tobytes(), reference.tobytes())) / len(result.tobytes())
    assert result.size == (512, 384) and diff < 2.0


def structured(seed: int) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", (800, 800), (30, 30, 30))
    for _ in range(12):
        x, y = rng.randrange(0, 700), rng.randrange(0, 700)
        img.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + rng.randrange(50, 300), y + rng.randrange(50, 300)))
    return img


def test_dedupe_keeps_the_largest(tmp_path):
    src = make(tmp_path / "src", "big.png", structured(1), "red ball").parent
    make(src, "small.jpg", structured(1).resize((500, 500), LANCZOS), quality=85)
    make(src, "other.png", structured(2))
    out = tmp_path / "out"
    report = run(src, out, dedupe=True, workers=2)
    assert [s.name for s in report.skipped] == ["small.jpg"]
    assert "near-duplicates" in report.skipped[0].reason and "of big.png" in report.skipped[0].detail
    assert {p.name for p in out.iterdir()} == {"big.png", "big.txt", "other.png", "other.txt", SETTINGS_FILE}
    # Without --dedupe all three are written.
    assert run(src, tmp_path / "all").written == 3


def test_name_clashes_fail_instead_of_overwriting(tmp_path):
    src = make(tmp_path / "src", "a.png", noise(300, 300, 1)).parent
    make(src, "a.jpg", noise(300, 300, 2))
    make(src, "a-flip.png", noise(300, 300, 3))
    out = tmp_path / "out"
    report = run(src, out, flip=True)
    assert {f.name for f in report.failed} == {"a.png", "a-flip.png"}
    assert same(opened(out / "a-flip.png"), opened(out / "a.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    # Without --flip, a-flip.png is an ordinary name.
    assert {f.name for f in run(src, tmp_path / "o2").failed} == {"a.png"}


@pytest.mark.parametrize("make_bad, message", [
    (lambda t: (t / "missing", t / "out"), "does not exist"),
    (lambda t: ((t / "src").mkdir() or t / "src", t / "out"), "holds no images"),
    (lambda t: (make(t / "src", "a.png", noise(300, 300)).parent, t / "src"), "inside the source folder"),
    (lambda t: (make(t / "src", "a.png", noise(300, 300)).parent, t / "src" / "sub"), "inside the source folder"),
])
def test_bad_folders_raise_one_sentence(tmp_path, make_bad, message):
    src, out = make_bad(tmp_path)
    with pytest.raises(DatasetError, match=message):
        run(src, out)
    assert not (tmp_path / "src" / "sub").exists()


@pytest.mark.parametrize("opts", [dict(overlap=0.95), dict(split_threshold=1.5), dict(size=0), dict(min_size=-1),
                                  dict(square="round"), dict(format="gif")])
def test_bad_options_raise_before_work(tmp_path, opts):
    src = make(tmp_path / "src", "a.png", noise(300, 300)).parent
    with pytest.raises(DatasetError):
        run(src, tmp_path / "out", **opts)
    assert not (tmp_path / "out").exists()


def test_runner_keeps_a_bounded_window():
    pulled, finished, worst = [0], [0], [0]
    lock = threading.Lock()

    def tasks():
        for i in range(50):
            with lock:
                pulled[0] += 1
                worst[0] = max(worst[0], pulled[0] - finished[0])
            yield i

    with _Runner(3, lambda n: ThreadPoolExecutor(n), Progress()) as runner:
        results = []
        for r in runner.map(lambda x: x * 2, tasks(), lambda t: None):
            with lock:
                finished[0] += 1
            results.append(r)
    assert sorted(results) == [i * 2 for i in range(50)]
    assert worst[0] <= runner.window == 6


def test_cancel_stops_between_images(tmp_path):
    src = tmp_path / "src"
    for i in range(5):
        make(src, f"i{i}.png", noise(300, 300, i))

    class CancelAfterOne(Progress):
        def advance(self, n=1):
            super().advance(n)
            self.cancel()

    with pytest.raises(Cancelled):
        augment(src, tmp_path / "out", AugmentOptions(), workers=1, progress=CancelAfterOne())
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


def test_plan_names():
    opts = AugmentOptions(flip=True, split=True)
    assert plan_for("a", 512, 1536, opts).stems == ("a-split0", "a-split0-flip", "a-split1", "a-split1-flip",
                                                     "a-split2", "a-split2-flip", "a-split3", "a-split3-flip")
    assert plan_for("a", 600, 600, opts).stems == ("a", "a-flip")
    assert plan_for("a", 600, 600, AugmentOptions()).stems == ("a",)


# --------------------------------------------------------------------------- CLI


def test_cli_writes_and_summarises(tmp_path, capsys):
    src = make(tmp_path / "src", "a.png", noise(512, 1536), "red ball").parent
    code = main(["augment", str(src), "--out", str(tmp_path / "out"), "--flip", "--split", "--size", "256",
                 "--workers", "1"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "1 augmented" in printed and "split 1 into 4 tiles" in printed
    assert opened(tmp_path / "out" / "a-split3-flip.png").size == (256, 256)


def test_cli_exit_1_when_a_file_fails(tmp_path, capsys):
    src = make(tmp_path / "src", "a.png", noise(300, 300)).parent
    (src / "b.png").write_text("red ball")
    make(src, "c.png", noise(50, 50))
    code = main(["augment", str(src), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 1
    assert "  failed 1, not an image (Pillow cannot identify its contents): b.png\n" in printed
    assert "  skipped 1, too small (the short side is under 256 pixels): c.png (50x50)\n" in printed
    assert (tmp_path / "out" / "a.png").exists()


def test_cli_too_small_alone_is_not_a_failure(tmp_path, capsys):
    src = make(tmp_path / "src", "a.png", noise(300, 300)).parent
    make(src, "c.png", noise(50, 50))
    assert main(["augment", str(src), "--out", str(tmp_path / "out")]) == 0


def test_skips_are_one_line_per_reason_with_a_count_and_examples(tmp_path):
    src = tmp_path / "src"
    for i in range(5):
        make(src, f"s{i}.png", noise(40 + i, 50))
    make(src, "big.png", noise(300, 300))
    (src / "x.png").write_text("red ball")
    (src / "y.png").write_text("blue ball")
    report = run(src, tmp_path / "out")
    lines = report.summary()
    assert "  skipped 5, too small (the short side is under 256 pixels): s0.png (40x50), s1.png (41x50), s2.png (42x50), …" \
        in lines
    assert "  failed 2, not an image (Pillow cannot identify its contents): x.png, y.png" in lines
    assert len([line for line in lines if line.startswith("  skipped") or line.startswith("  failed")]) == 2
    assert report.nothing_made() is None  # big.png made its output


def test_nothing_made_says_why_and_what_to_change(tmp_path):
    src = tmp_path / "src"
    for i in range(4):
        make(src, f"s{i}.png", noise(100, 120))
    report = run(src, tmp_path / "out")
    assert report.nothing_made() == ("All 4 images are under the 256-pixel minimum, so nothing was written; lower "
                                     "--min-size (0 keeps every image).")
    (src / "x.png").write_text("red ball")
    report = run(src, tmp_path / "out")
    assert report.nothing_made() == ("None of the 5 images made an output (4 too small, 1 failed), so nothing was "
                                     "written; lower --min-size for the small ones and fix what the lines above say.")
    assert run(src, tmp_path / "out", min_size=64).nothing_made() is None


def test_cli_exits_1_when_nothing_was_written(tmp_path, capsys):
    src = make(tmp_path / "src", "a.png", noise(100, 100)).parent
    assert main(["augment", str(src), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "0 augmented" in captured.out
    assert captured.err.strip().splitlines()[-1] == ("error: The one image is under the 256-pixel minimum, so nothing "
                                                     "was written; lower --min-size (0 keeps every image).")
    assert main(["augment", str(src), "--out", str(tmp_path / "out"), "--min-size", "0"]) == 0


@pytest.mark.parametrize("args, message", [
    (["{t}/missing", "--out", "{t}/out"], "does not exist"),
    (["{t}/src", "--out", "{t}/src"], "inside the source folder"),
    (["{t}/src", "--out", "{t}/out", "--overlap", "0.95"], "--overlap must be between 0 and 0.9"),
    (["{t}/src", "--out", "{t}/out", "--workers", "0"], "--workers must be at least 1"),
    (["{t}/src", "--out", "{t}/made", "--size", "300"], "holds outputs made with size 256"),
])
def test_cli_exit_2_with_one_sentence(tmp_path, capsys, args, message):
    make(tmp_path / "src", "a.png", noise(300, 300))
    run(tmp_path / "src", tmp_path / "made", size=256)
    code = main(["augment"] + [a.format(t=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
