"""Posts with real tricky tags, served by the e621-shaped server, tagged in every caption mode and augmented (flip
and split), then read by the readers' oracles: the web UI's dataset reader and prompt parser, sd-scripts' caption
reader, weighted-caption parser and dataset config.  Each must read exactly what was meant."""

import re
from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from conftest import client_for
from sd_dataset.augment import AugmentOptions, augment
from sd_dataset.names import name_budget, utf8_len
from sd_dataset.tagging import TagOptions, tag_folder
from sd_dataset.tags import CaptionRules
from sdscripts_readers import check_dataset_config, kept_in_place, parse_weighted, read_caption_file
from webui_readers import encoder_text, read_plainly, training_captions

LONG = [f"tag_number_{i:02d}" for i in range(70)]
POSTS = {  # post id → (artists, general tags)
    1: (["[in]vader"], [":3", "<3", "o_o", "x_x", "male/female", "\\(^o^)/", "bow_(weapon)", "looking_left", "\\m/"]),
    2: ([], ["4_toes", ":3", "looking_left"]),
    3: ([], ["red_ball", "blue_sky"]),
    4: ([], ["blue_sky", "red_ball"]),  # the same caption as post 3
    5: ([], LONG + ["looking_left"]),
    6: ([], ["x_x", "._.", ">:("]),
}
# what each caption means, written out by hand: artists first, then tags by name (no vocabulary, no rating)
MEANT = {
    1: ["by [in]vader", ":3", "<3", "\\(^o^)/", "\\m/", "bow (weapon)", "looking left", "male/female", "o_o", "x_x"],
    2: ["4 toes", ":3", "looking left"],
    3: ["blue sky", "red ball"],
    4: ["blue sky", "red ball"],
    5: ["looking left"] + [f"tag number {i:02d}" for i in range(70)],
    6: ["._.", ">:(", "x_x"],
}
TRIGGER = ["ohwx", "red panda"]


def mirrored(caption: str) -> str:
    """What a mirrored copy's caption means: the one directional tag these posts carry, turned."""
    return caption.replace("looking left", "looking right")


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    from booru_server import BooruServer

    root = tmp_path_factory.mktemp("e2e")
    posts = [ServerPost(id=i, data=image_bytes(i, size=(192, 64)), rating="s",
                        tags={"artist": artists, "general": general}) for i, (artists, general) in POSTS.items()]
    server = BooruServer(posts).start()
    src = root / "src"
    src.mkdir()
    for post in posts:
        (src / f"{post.md5}.png").write_bytes(post.data)
    ids = {post.md5: post.id for post in posts}
    runs = {"txt": {}, "filename": {"caption": "filename"}, "both": {"caption": "both"},
            "kohya": {"layout": "kohya"}, "weighted": {"layout": "kohya", "weighted_captions": True}}
    folders = {}
    try:
        for mode, options in runs.items():
            trigger = ", ".join(TRIGGER) if options.get("layout") == "kohya" else ""
            rules = CaptionRules(rating=False, trigger=trigger)
            report = tag_folder(src, root / mode, TagOptions(rules=rules, **options), booru=client_for(server))
            assert report.ok and report.tagged == len(POSTS), report.summary()
            folders[mode] = report.folder
    finally:
        server.stop()
    augmented = {}
    for mode, folder in folders.items():
        report = augment(folder, root / f"{mode}-augmented", AugmentOptions(flip=True, split=True, size=64,
                                                                             min_size=16), workers=1)
        assert report.ok and report.images == len(POSTS) * 8, report.summary()
        augmented[mode] = root / f"{mode}-augmented"
    return dict(folders=folders, augmented=augmented, ids=ids, root=root)


def post_of(name: str, tagged: dict) -> int:
    """The post an output of the txt/kohya modes shows (their names keep the md5)."""
    return tagged["ids"][re.match(r"[0-9a-f]{32}", name).group(0)]


def source_of(name: str) -> str:
    """The tagged image an augmented output was made from, and whether it is a mirror."""
    stem = name.rsplit(".", 1)[0]
    return re.sub(r"(-split\d+)?(-flip)?$", "", stem) + ".png", stem.endswith("-flip")


@pytest.mark.parametrize("mode", ["txt", "both"])
def test_txt_captions_are_read_by_the_prompt_parser_as_meant(tagged, mode):
    read = training_captions(tagged["folders"][mode])
    assert len(read) == len(POSTS)
    meant = sorted(", ".join(parts) for parts in MEANT.values())
    assert sorted(read_plainly(caption) for caption in read.values()) == meant


def test_file_names_are_read_as_meant_cut_at_whole_tags(tagged):
    folder = tagged["folders"]["filename"]
    read = training_captions(folder)
    assert len(read) == len(POSTS) and not list(folder.glob("*.txt"))
    budget = name_budget(folder)
    got = []
    for name, caption in read.items():
        assert utf8_len(name) <= budget and not name.startswith(".")
        plain = read_plainly(caption)
        assert plain is not None, name  # no emphasis
        got.append(encoder_text(plain))
    # each post's caption to the text encoder, as the .txt would give it; the 70-tag one cut after a whole tag
    cut = {encoder_text(", ".join(MEANT[5][:k])) for k in range(10, len(MEANT[5]))}
    long = [g for g in got if g in cut]
    assert len(long) == 1
    got.remove(long[0])
    assert sorted(got) == sorted(encoder_text(", ".join(parts)) for post, parts in MEANT.items() if post != 5)


@pytest.mark.parametrize("mode", ["kohya", "weighted"])
def test_kohya_captions_are_read_by_sd_scripts_as_meant(tagged, mode):
    import tomli

    config = tomli.loads((tagged["root"] / mode / "dataset.toml").read_text(encoding="utf-8"))
    subset = check_dataset_config(config)[0]
    assert Path(subset["image_dir"]) == tagged["folders"][mode] and subset["keep_tokens"] == 2
    images = sorted(Path(subset["image_dir"]).glob("*.png"))
    assert len(images) == len(POSTS)
    for image in images:
        caption = read_caption_file(image, subset["caption_extension"])
        meant = ", ".join(TRIGGER + MEANT[post_of(image.name, tagged)])
        assert kept_in_place(caption, subset["keep_tokens"]) == TRIGGER
        if mode == "kohya":
            assert caption == meant
        else:
            assert parse_weighted(caption) == [[meant, 1.0]]


@pytest.mark.parametrize("mode", ["txt", "filename", "both"])
def test_augmented_copies_read_as_their_source_with_mirrors_turned(tagged, mode):
    sources = training_captions(tagged["folders"][mode])
    outputs = training_captions(tagged["augmented"][mode])
    assert len(outputs) == len(POSTS) * 8
    for name, caption in outputs.items():
        source, mirror = source_of(name)
        assert caption == (mirrored(sources[source]) if mirror else sources[source]), name
        assert read_plainly(caption) is not None
    turned = [c for n, c in outputs.items() if source_of(n)[1] and "looking" in c]
    assert turned and all("looking right" in c and "looking left" not in c for c in turned)


@pytest.mark.parametrize("mode", ["kohya", "weighted"])
def test_augmented_kohya_copies_read_by_sd_scripts_as_their_source(tagged, mode):
    for image in sorted(tagged["augmented"][mode].glob("*.png")):
        source, mirror = source_of(image.name)
        meant = ", ".join(TRIGGER + MEANT[post_of(source, tagged)])
        caption = read_caption_file(image)
        wanted = mirrored(meant) if mirror else meant
        assert (caption if mode == "kohya" else parse_weighted(caption)[0][0]) == wanted, image.name
