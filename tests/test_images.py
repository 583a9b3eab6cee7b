"""Pixel-level checks of the pure transforms in sd_dataset.images (real images made with Pillow)."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from PIL import Image, ImageOps

from sd_dataset import images
from sd_dataset.images import ImageProblem


def noise(w: int, h: int, seed: int = 1) -> Image.Image:
    return Image.frombytes("RGB", (w, h), random.Random(seed).randbytes(w * h * 3))


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()


def load(path, **kw) -> Image.Image:
    with images.open_image(path) as img:
        orientation = images.exif_orientation(img)
        return images.load_rgb(img, orientation, **kw).copy()


# --------------------------------------------------------------------------- split geometry


def test_split_tall_matches_webui_worked_example():
    plan = images.split_plan(512, 1536, 512, 512, 0.5, 0.2)
    assert plan.resized == (512, 1536)
    assert [box[1] for box in plan.boxes] == [0, 341, 682, 1024]
    assert all(box == (0, y, 512, y + 512) for box, y in zip(plan.boxes, [0, 341, 682, 1024]))


def test_split_wide_matches_webui_worked_example():
    plan = images.split_plan(2000, 600, 512, 512, 0.5, 0.2)
    assert plan.resized == (1706, 512)
    assert [box[0] for box in plan.boxes] == [0, 398, 796, 1194]
    assert all(box == (x, 0, x + 512, 512) for box, x in zip(plan.boxes, [0, 398, 796, 1194]))


def test_split_single_tile_does_not_divide_by_zero():
    # 1000x1001 at 512: the long side scales to exactly 512, so n = 1 (the web UI raises ZeroDivisionError).
    plan = images.split_plan(1000, 1001, 512, 512, 1.0, 0.2)
    assert plan.resized == (512, 512)
    assert plan.boxes == ((0, 0, 512, 512),)


@pytest.mark.parametrize("size", [(512, 512), (600, 800), (800, 600)])
def test_no_split_for_square_or_below_threshold(size):
    assert images.split_plan(*size, 512, 512, 0.5, 0.2) is None


def test_split_threshold_and_overlap_change_the_tiles():
    assert images.split_plan(600, 800, 512, 512, 0.8, 0.2) is not None  # 0.75 <= 0.8
    no_overlap = images.split_plan(512, 1536, 512, 512, 0.5, 0.0)
    assert [b[1] for b in no_overlap.boxes] == [0, 512, 1024]


def test_split_tiles_are_crops_of_the_resized_image():
    img = noise(300, 1000)
    plan = images.split_plan(300, 1000, 256, 256, 0.5, 0.2)
    resized = img.resize(plan.resized, Image.Resampling.LANCZOS)
    tiles = images.split(img, plan)
    assert len(tiles) == len(plan.boxes) >= 2
    for tile, box in zip(tiles, plan.boxes):
        assert tile.size == (256, 256)
        assert same(tile, resized.crop(box))


# --------------------------------------------------------------------------- square, resize, flip


def banded(w: int, h: int) -> Image.Image:
    """Noise inside; left edge red on top and green below, right edge blue, top/bottom edges yellow/cyan."""
    img = noise(w, h, seed=7)
    for y in range(h):
        img.putpixel((0, y), (255, 0, 0) if y < h // 2 else (0, 255, 0))
        img.putpixel((w - 1, y), (0, 0, 255))
    return img


def test_pad_keeps_original_centred_and_fills_from_the_border():
    img = banded(100, 300)
    out = images.pad_to_square(img)
    assert out.size == (300, 300)
    assert images.pad_offset(100, 300) == (100, 0)
    assert same(out.crop((100, 0, 200, 300)), img)
    r, g, b = out.getpixel((0, 10))
    assert r > 200 and g < 60 and b < 60, "left band top continues the red edge"
    r, g, b = out.getpixel((0, 290))
    assert g > 200 and r < 60, "left band bottom continues the green edge"
    r, g, b = out.getpixel((0, 150))
    assert r > 50 and g > 50, "the fill is blurred across the colour change, not copied hard"
    r, g, b = out.getpixel((299, 150))
    assert b > 200 and r < 60 and g < 60, "right band continues the blue edge"
    # Not a flat bar: the left band holds many distinct colours.
    assert len(out.crop((0, 0, 100, 300)).getcolors(100_000)) > 20
    # Next to the seam the fill is close to the edge pixel it continues.
    seam = out.getpixel((99, 20))
    assert abs(seam[0] - 255) < 80 and seam[1] < 100


def test_pad_wide_fills_top_and_bottom():
    img = noise(300, 100, seed=3)
    for x in range(300):
        img.putpixel((x, 0), (250, 250, 0))
        img.putpixel((x, 99), (0, 250, 250))
    out = images.pad_to_square(img)
    assert out.size == (300, 300)
    assert same(out.crop((0, 100, 300, 200)), img)
    r, g, b = out.getpixel((150, 0))
    assert r > 200 and g > 200 and b < 60
    r, g, b = out.getpixel((150, 299))
    assert r < 60 and g > 200 and b > 200


def test_pad_odd_difference_and_square_input():
    img = noise(101, 300)
    out = images.pad_to_square(img)
    left, top = images.pad_offset(101, 300)
    assert (left, top) == (99, 0)
    assert same(out.crop((left, 0, left + 101, 300)), img)
    square = noise(50, 50)
    assert images.pad_to_square(square) is square


def test_crop_takes_the_centre_square():
    img = noise(400, 600)
    out = images.crop_to_square(img)
    assert same(out, img.crop((0, 100, 400, 500)))
    assert same(images.crop_to_square(noise(600, 400)), noise(600, 400).crop((100, 0, 500, 400)))


def test_fit_long_side_and_resize():
    assert images.fit_long_side(800, 400, 512) == (512, 256)
    assert images.fit_long_side(400, 800, 512) == (256, 512)
    assert images.fit_long_side(3000, 1, 512) == (512, 1)
    img = noise(64, 64)
    assert images.resize(img, (64, 64)) is img
    assert same(images.resize(img, (32, 16)), img.resize((32, 16), Image.Resampling.LANCZOS))


def test_mirror_is_a_left_right_mirror():
    img = noise(7, 5)
    out = images.mirror(img)
    for y in range(5):
        for x in range(7):
            assert out.getpixel((x, y)) == img.getpixel((6 - x, y))


# --------------------------------------------------------------------------- loading


def test_rgba_is_composited_over_white(tmp_path):
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((1, 1), (0, 0, 255, 255))
    img.putpixel((2, 2), (0, 0, 0, 128))
    img.save(tmp_path / "a.png")
    out = load(tmp_path / "a.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 1)) == (0, 0, 255)
    assert all(120 <= c <= 135 for c in out.getpixel((2, 2)))


def test_background_can_be_chosen(tmp_path):
    Image.new("LA", (4, 4), (0, 0)).save(tmp_path / "a.png")
    assert load(tmp_path / "a.png", background=(10, 20, 30)).getpixel((0, 0)) == (10, 20, 30)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 255, 0] + [200, 0, 0] * 255)
    img.putpixel((3, 3), 1)
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    out = load(tmp_path / "p.png")
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((3, 3)) == (200, 0, 0)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    out = load(tmp_path / "c.jpg")
    r, g, b = out.getpixel((32, 32))
    assert out.mode == "RGB" and r > 220 and g < 40 and b < 40


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    img = Image.new("I;16", (4, 1))
    for x, v in enumerate([0, 16384, 32768, 65535]):
        img.putpixel((x, 0), v)
    img.save(tmp_path / "g.png")
    out = load(tmp_path / "g.png")
    values = [out.getpixel((x, 0))[0] for x in range(4)]
    assert values[0] == 0 and values[3] == 255 and 50 < values[1] < 80 and 120 < values[2] < 135


def test_exif_orientation_is_applied(tmp_path):
    img = noise(300, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "r.jpg", quality=95, exif=exif.tobytes())
    with images.open_image(tmp_path / "r.jpg") as opened:
        assert images.exif_orientation(opened) == 6
        assert images.oriented_size(opened, 6) == (200, 300)
    out = load(tmp_path / "r.jpg")
    with Image.open(tmp_path / "r.jpg") as ref:
        expected = ImageOps.exif_transpose(ref).convert("RGB")
    assert out.size == (200, 300)
    assert same(out, expected)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(tmp_path / "a.gif") as check:
        assert check.n_frames == 3
    assert load(tmp_path / "a.gif").getpixel((5, 5)) == (255, 0, 0)


def test_truncated_jpeg_is_a_failure(tmp_path):
    noise(400, 400).save(tmp_path / "t.jpg", quality=90)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageProblem, match="truncated") as err:
        load(tmp_path / "t.jpg")
    assert err.value.failed


def test_text_file_named_png_is_not_an_image(tmp_path):
    (tmp_path / "x.png").write_text("red ball\n")
    with pytest.raises(ImageProblem, match="not an image"):
        images.open_image(tmp_path / "x.png")


def test_zero_byte_file(tmp_path):
    (tmp_path / "z.jpg").write_bytes(b"")
    with pytest.raises(ImageProblem, match="empty file"):
        images.open_image(tmp_path / "z.jpg")


def bomb_png(path, w=50000, h=50000):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_bomb_sized_header_is_refused_before_decoding(tmp_path):
    bomb_png(tmp_path / "b.png")
    with pytest.raises(ImageProblem, match="decompression bomb") as err:
        images.open_image(tmp_path / "b.png")
    assert err.value.failed


def test_own_pixel_limit_applies_below_pillows(tmp_path):
    bomb_png(tmp_path / "b.png", 3000, 3000)  # 9 MP: under Pillow's limit, over ours here
    with pytest.raises(ImageProblem, match="3000x3000"):
        images.open_image(tmp_path / "b.png", max_pixels=5_000_000)


def test_jpeg_draft_decodes_smaller_but_never_below_the_need(tmp_path):
    noise(2000, 1500).save(tmp_path / "big.jpg", quality=90)
    with images.open_image(tmp_path / "big.jpg") as img:
        assert images.draft_for(img, 1, (683, 512))
        assert img.size == (1000, 750)
    with images.open_image(tmp_path / "big.jpg") as img:
        assert not images.draft_for(img, 1, (1500, 1200))  # not much smaller: full decode
        assert img.size == (2000, 1500)
    # Rotated images ask for the swapped size: 512 wide upright is 512 tall stored.
    with images.open_image(tmp_path / "big.jpg") as img:
        images.draft_for(img, 6, (400, 520))
        assert img.size[0] >= 520 and img.size[1] >= 400
    noise(64, 64).save(tmp_path / "n.png")
    with images.open_image(tmp_path / "n.png") as img:
        assert not images.draft_for(img, 1, (8, 8))


def test_perceptual_hash_sees_resized_copies_as_near():
    base = Image.new("RGB", (400, 400), (20, 20, 20))
    for i in range(0, 400, 50):
        base.paste((200, 100 + i // 4, 50), (i, 0, i + 25, 400 - i))
    other = base.transpose(Image.Transpose.ROTATE_90)
    h1 = images.perceptual_hash(base)
    h2 = images.perceptual_hash(base.resize((150, 150), Image.Resampling.BILINEAR))
    h3 = images.perceptual_hash(other)
    assert images.hamming(h1, h2) <= 4
    assert images.hamming(h1, h3) > 10
