"""The kohya layout read as sd-scripts reads it: dataset.toml through its config schema, captions literally (or
through its weighted-caption parser), the pinned parts kept in place when it shuffles."""

import random
import sys
from pathlib import Path

import pytest
import toml  # the parser sd-scripts loads --dataset_config with

from booru_server import ServerPost, image_bytes
from conftest import client_for
from sd_dataset.cli import main
from sd_dataset.errors import DatasetError
from sd_dataset.tagging import TagOptions, tag_folder
from sd_dataset.tags import CaptionRules
from sdscripts_readers import check_dataset_config, kept_in_place, parse_weighted, read_caption_file, shuffled

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TRIGGER = "ohwx, red panda"
POSTS = [
    ServerPost(id=1, data=image_bytes(1), rating="s", tags={"artist": ["some_artist", "other_artist"],
                                                            "general": ["bow_(weapon)", "looking_left", "[x]_mark",
                                                                        "back\\slash", "o_o"]}),
    ServerPost(id=2, data=image_bytes(2), rating="q", tags={"artist": ["[in]vader"], "general": ["red_ball", ":3"]}),
]
# what each caption means, part by part, in the order tag writes them (no vocabulary: tags sorted by name)
MEANT = {
    1: ["ohwx", "red panda", "safe content", "by some artist", "by other artist", "[x] mark", "back\\slash",
        "bow (weapon)", "looking left", "o_o"],
    2: ["ohwx", "red panda", "questionable content", "by [in]vader", ":3", "red ball"],
}


@pytest.fixture
def kohya(tmp_path, booru_server):
    server = booru_server(POSTS)
    src = tmp_path / "src"
    src.mkdir()
    for post in POSTS:
        (src / f"{post.md5}.png").write_bytes(post.data)
    (src / "unknown.png").write_bytes(image_bytes(99))

    def run(out="out", **options):
        rules = CaptionRules(trigger=options.pop("trigger", TRIGGER),
                             pinned=options.pop("pinned", ("rating", "artist")))
        return tag_folder(src, tmp_path / out, TagOptions(rules=rules, layout="kohya", repeats=5, **options),
                          booru=client_for(server))

    return dict(run=run, src=src, root=tmp_path, server=server)


def read_config(root: Path) -> dict:
    text = (root / "dataset.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)
    assert toml.loads(text) == config
    subsets = check_dataset_config(config)
    assert len(subsets) == 1
    return subsets[0]


def images_of(subset: dict) -> dict[int, Path]:
    by_md5 = {post.md5: post.id for post in POSTS}
    return {by_md5[p.stem]: p for p in Path(subset["image_dir"]).glob("*.png") if p.stem in by_md5}


def test_captions_are_literal_and_the_config_pins_the_trigger_rating_and_artist(kohya):
    report = kohya["run"](keep_untagged=True)
    subset = read_config(kohya["root"] / "out")
    assert subset["num_repeats"] == 5 and subset["caption_extension"] == ".txt" and subset["shuffle_caption"] is True
    assert subset["class_tokens"] == TRIGGER and Path(subset["image_dir"]) == kohya["root"] / "out" / f"5_{TRIGGER}"
    assert subset["keep_tokens"] == 4 and report.keep_tokens == 4
    images = images_of(subset)
    assert sorted(images) == [1, 2]
    rng = random.Random(7)
    for post_id, image in images.items():
        caption = read_caption_file(image, subset["caption_extension"])
        assert caption.split(", ") == MEANT[post_id]  # literal: sd-scripts reads no escapes
        for _ in range(10):
            assert kept_in_place(shuffled(caption, subset["keep_tokens"], rng), subset["keep_tokens"]) == \
                MEANT[post_id][:4]
    # the kept untagged image has no (empty) caption file, which sd-scripts refuses: it gets the class tokens
    assert read_caption_file(Path(subset["image_dir"]) / "unknown.png") == "ohwx, red panda"
    assert any("--dataset_config" in line for line in report.summary())


def test_weighted_captions_read_back_literally_through_sd_scripts_weighted_parser(kohya):
    kohya["run"](weighted_captions=True)
    subset = read_config(kohya["root"] / "out")
    rng = random.Random(3)
    for post_id, image in images_of(subset).items():
        caption = read_caption_file(image)
        assert caption.split(", ")[:2] == ["ohwx", "red panda"]
        for _ in range(10):
            seen = shuffled(caption, subset["keep_tokens"], rng)
            parsed = parse_weighted(seen)
            assert len(parsed) == 1 and parsed[0][1] == 1.0, seen
            assert sorted(parsed[0][0].split(", ")) == sorted(MEANT[post_id])


def test_keep_tokens_counts_only_what_is_pinned(kohya):
    kohya["run"](out="plain", trigger="ohwx", pinned=())
    assert read_config(kohya["root"] / "plain")["keep_tokens"] == 1
    kohya["run"](out="artist", trigger="", pinned=("artist",))
    subset = read_config(kohya["root"] / "artist")
    assert subset["keep_tokens"] == 1 and subset["class_tokens"] == "src"  # the concept folder's name
    for post_id, image in images_of(subset).items():
        caption = read_caption_file(image)
        assert kept_in_place(caption, 1) == [MEANT[post_id][3]]  # the artist first, the rating after it
        assert caption.split(", ")[1] == MEANT[post_id][2]


def test_a_users_dataset_toml_is_never_overwritten_and_ours_goes_with_the_layout(kohya):
    out = kohya["root"] / "out"
    out.mkdir()
    (out / "dataset.toml").write_text("# mine\n")
    with pytest.raises(DatasetError, match="dataset.toml is not one tag wrote"):
        kohya["run"]()
    assert (out / "dataset.toml").read_text() == "# mine\n"
    (out / "dataset.toml").unlink()
    kohya["run"]()
    kohya["run"]()  # ours: a rerun rewrites nothing and refuses nothing
    assert read_config(out)["keep_tokens"] == 4
    rules = CaptionRules()
    tag_folder(kohya["src"], out, TagOptions(rules=rules), booru=client_for(kohya["server"]))
    assert not (out / "dataset.toml").exists()  # the flat layout does not make it: a rerun removes ours


def test_weighted_captions_and_pins_need_the_kohya_layout():
    for options in (TagOptions(weighted_captions=True), TagOptions(rules=CaptionRules(pinned=("rating",)))):
        with pytest.raises(DatasetError, match="set --layout to kohya"):
            options.validate()
    with pytest.raises(DatasetError, match="Only rating and artist can be kept first"):
        CaptionRules(pinned=("trigger",))


def test_the_cli_offers_the_kohya_options(kohya, capsys):
    out = kohya["root"] / "cli"
    args = ["tag", str(kohya["src"]), "--out", str(out), "--layout", "kohya", "--trigger", TRIGGER, "--pin",
            "rating, artist", "--weighted-captions", "--base-url", kohya["server"].url, "--no-cache"]
    assert main(args) == 0
    assert "--dataset_config" in capsys.readouterr().out
    subset = read_config(out)
    assert subset["keep_tokens"] == 4 and subset["num_repeats"] == 10
    caption = read_caption_file(images_of(subset)[1])
    assert "bow \\(weapon\\)" in caption and "\\[x\\] mark" in caption  # escaped for the weighted parser
    assert main(["tag", str(kohya["src"]), "--out", str(out), "--pin", "rating", "--no-cache", "--offline"]) == 2
    assert "set --layout to kohya" in capsys.readouterr().err
