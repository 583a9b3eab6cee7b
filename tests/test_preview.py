from PIL import Image

from sd_dataset.images import list_images
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
