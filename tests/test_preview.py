from PIL import Image, ImageFile

from sd_dataset.images import MAX_PIXELS, list_images
from sd_dataset.preview import preview_page, read_caption, tag_stats


def make(folder, name, caption=None, size=(40, 30)):
    Image.new("RGB", size, (10, 200, 30)).save(folder / name)
    if caption is not None:
        (folder / name).with_suffix(".txt").write_text(caption, encoding="utf-8")


def test_listing_captions_traits_and_pages(tmp_path):
    for i in range(5):
        make(tmp_path, f"img{i}.png", "safe content, by some artist, red ball" + (", blue sky" if i < 2 else ""))
    make(tmp_path, "00001-0-plain.png")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / ".img9.png.1234.sdds-part").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(tmp_path)] == ["00001-0-plain.png"] + [f"img{i}.png" for i in range(5)]
    assert read_caption(tmp_path / "img0.png") == "safe content, by some artist, red ball, blue sky"
    assert read_caption(tmp_path / "00001-0-plain.png") == "plain"  # the trainer drops the leading numbers
    stats = tag_stats(tmp_path)
    assert stats.images == 6 and stats.counts["red ball"] == 5 and stats.counts["blue sky"] == 2
    assert stats.traits(0.8) == ["red ball"]  # rating and artist parts are not traits
    assert stats.table(4) == [["by some artist", 5, "83%"], ["red ball", 5, "83%"], ["safe content", 5, "83%"],
                              ["blue sky", 2, "33%"]]

    cache = tmp_path / "cache"
    first = preview_page(tmp_path, page=2, per_page=4, cache=cache)
    assert (first.page, first.pages, first.total) == (2, 2, 6) and len(first.items) == 2
    thumb, caption = first.items[0]
    assert caption == "img3.png: safe content, by some artist, red ball"
    assert Image.open(thumb).size == (40, 30)
    again = preview_page(tmp_path, page=9, per_page=4, cache=cache)  # past the end: the last page
    assert again.page == 2 and again.items[0][0] == thumb  # the cached thumbnail is reused


def test_an_image_over_the_pixel_cap_gets_no_thumbnail_and_is_never_decoded(tmp_path, monkeypatch):
    """Pillow alone decodes up to 179 MP; the preview keeps to augment's cap."""
    from test_images import bomb_png

    bomb_png(tmp_path / "big.png", 15000, 10000)  # 150 MP
    make(tmp_path, "small.png", "tiny")
    real_load = ImageFile.ImageFile.load

    def load(img):
        assert img.size[0] * img.size[1] <= MAX_PIXELS, "decoded an image over the pixel cap"
        return real_load(img)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    page = preview_page(tmp_path, cache=tmp_path / "cache")
    assert page.total == 2 and [caption for _, caption in page.items] == ["small.png: tiny"]


def test_shares_are_rounded_half_up(tmp_path):
    for i in range(8):
        make(tmp_path, f"img{i}.png", "red ball" + (", blue sky" if i < 5 else "") + (", tree" if i < 1 else ""))
    # 5 of 8 is 62.5%, 1 of 8 12.5%: Python's format rounds both down to the even number
    assert tag_stats(tmp_path).table() == [["red ball", 8, "100%"], ["blue sky", 5, "63%"], ["tree", 1, "13%"]]


def test_an_uncaptioned_folder_has_no_captions_yet_not_hashes_for_tags(tmp_path):
    md5 = "0123456789abcdef0123456789abcdef"
    for name in (f"{md5}.png", f"{md5}-flip.png", f"{md5}-split1-flip.png", f"{md5} (2).jpg"):
        make(tmp_path, name)
    stats = tag_stats(tmp_path)
    assert (stats.images, stats.captioned, stats.counts) == (4, 0, {})
    assert read_caption(tmp_path / f"{md5}.png") == ""
    labels = [caption for _, caption in preview_page(tmp_path, cache=tmp_path / "cache").items]
    assert labels[0] == f"{md5} (2).jpg: (no caption yet)" and all(label.endswith("(no caption yet)") for label in labels)
    make(tmp_path, "red ball, blue sky.png")  # a caption in the file name is one
    make(tmp_path, f"{md5}x.png", "red ball")
    stats = tag_stats(tmp_path)
    assert stats.captioned == 2 and stats.counts == {"red ball": 2, "blue sky": 1}
