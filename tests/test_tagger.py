"""The local tagger: a real tiny ONNX model (tests/tiny_tagger.py) run by real onnxruntime, in both folder layouts,
alone and as the tag step's last source against the loopback e621-shaped server that knows none of the images."""

import hashlib
import io
import json
import sys
from pathlib import Path

import onnx
import pytest
from PIL import Image

from booru_server import ServerPost, image_bytes
from conftest import client_for
from sd_dataset.boorus import SITES
from sd_dataset.cli import main
from sd_dataset.errors import DatasetError
from sd_dataset.images import ImageProblem
from sd_dataset.tagger import (DEFAULT_SIDE, DEFAULT_THRESHOLDS, OnnxTagger, TaggerResult, load_tagger,
                               parse_thresholds, preprocess, rating_letter)
from sd_dataset.tagging import MANIFEST, TAGGER, TagOptions, tag_folder
from sd_dataset.tags import CaptionRules, load_vocabulary
from tiny_tagger import LABELS, expected_score, labels_for, write_model, write_tag_list, write_wd14, write_z3d

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
LABEL = {label.name: label for label in LABELS}


def picture(colour, size=(40, 40)) -> Image.Image:
    return Image.new("RGB", size, colour)


def png(colour, size=(40, 40), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def one_sentence(text: str) -> bool:
    return "\n" not in text and text.endswith(".") and text[0].isupper()


@pytest.fixture
def wd14(tmp_path) -> Path:
    return write_wd14(tmp_path / "wd-tiny-tagger")


@pytest.fixture
def z3d(tmp_path) -> Path:
    return write_z3d(tmp_path / "z3d-tiny")


# -- what the model is fed, proven by its answers ----------------------------------------------

def test_the_model_sees_bgr_values_0_to_255(wd14):
    tagger = load_tagger(wd14)
    for colour, tag in ((RED, "red_background"), (GREEN, "green_background"), (BLUE, "blue_background")):
        scores = tagger.scores(picture(colour))
        for name, label in LABEL.items():
            assert scores[name] == pytest.approx(expected_score(label, colour), abs=1e-5), (colour, name)
        assert tagger.tag(picture(colour)).tags["general"][0] == tag
    # fed RGB, a red picture would read blue: the model's blue weights would answer
    assert "blue_background" not in tagger.tag(picture(RED)).all_tags()


def test_a_non_square_picture_is_padded_white_and_centred(wd14):
    tagger = load_tagger(wd14)
    for size in ((8, 64), (64, 8)):
        strip = tagger.tag(picture(RED, size))
        assert "white_background" in strip.tags["general"] and "black_background" not in strip.all_tags()
    batch = preprocess(picture(BLACK, (10, 30)), 30)
    assert batch.shape == (1, 30, 30, 3)
    assert batch[0, 15, 0].tolist() == [255, 255, 255]  # padding left and right
    assert batch[0, 15, 15].tolist() == [0, 0, 0]  # the picture in the middle
    assert batch[0, 0, 15].tolist() == [0, 0, 0]  # its full height kept


def test_transparency_is_white_as_the_padding(tmp_path, wd14):
    clear = tmp_path / "clear.png"
    clear.write_bytes(png((255, 0, 0, 0), mode="RGBA"))
    assert load_tagger(wd14).tag_file(clear).tags["general"] == ["white_background"]


@pytest.mark.parametrize("side", [40, 64, None])
def test_the_side_comes_from_the_model(tmp_path, side):
    """A model of a fixed side refuses any other (onnxruntime checks), so its answering proves the side was read."""
    folder = write_wd14(tmp_path / f"m{side}", side=side, fixed_batch=True)
    tagger = load_tagger(folder)
    assert tagger.side == (side or DEFAULT_SIDE)
    red = tagger.scores(picture(RED, (50, 50)))
    assert red["red_background"] == pytest.approx(expected_score(LABEL["red_background"], RED), abs=1e-5)


# -- thresholds -------------------------------------------------------------------------------

def test_default_thresholds_per_category(wd14):
    assert DEFAULT_THRESHOLDS == {"general": 0.35, "species": 0.35, "meta": 0.35, "lore": 0.35, "character": 0.85,
                                  "copyright": 0.85, "artist": 0.85}
    result = load_tagger(wd14).tag(picture(RED))
    # red_hero scores 0.73: a general tag that sure is kept, a character that unsure is not
    assert expected_score(LABEL["red_hero"], RED) == pytest.approx(0.731, abs=1e-3)
    assert result.tags == {"general": ["red_background"]}
    assert result.scores == {"red_background": pytest.approx(0.9933, abs=1e-4)}
    assert result.thresholds == DEFAULT_THRESHOLDS


def test_thresholds_given_move_each_category_alone(wd14):
    low = load_tagger(wd14, {"character": 0.7}).tag(picture(RED))
    assert low.tags == {"general": ["red_background"], "character": ["red_hero"]}
    assert low.thresholds["character"] == 0.7 and low.thresholds["general"] == 0.35
    high = load_tagger(wd14, parse_thresholds(["general=0.995"])).tag(picture(RED))
    assert high.tags == {}
    # a score equal to the threshold is kept
    exact = expected_score(LABEL["red_hero"], RED)
    assert load_tagger(wd14, {"character": round(exact, 6) - 1e-6}).tag(picture(RED)).tags["character"] == \
        ["red_hero"]


def test_parse_thresholds():
    assert parse_thresholds(["character=0.9", " general = 0.3 , meta=1", ""]) == \
        {"character": 0.9, "general": 0.3, "meta": 1.0}
    for bad, words in (("character", "is no category=value pair"), ("color=0.5", "no threshold for a category 'color'"),
                       ("general=2", "above 0 and at most 1"), ("general=0", "above 0 and at most 1"),
                       ("general=nan", "above 0 and at most 1"), ("general=lots", "needs a number")):
        with pytest.raises(DatasetError) as err:
            parse_thresholds([bad])
        assert words in str(err.value) and one_sentence(str(err.value)), bad


# -- the two layouts --------------------------------------------------------------------------

def test_wd14_layout_rates_and_files_tags_by_danbooru_numbers(wd14):
    tagger = load_tagger(wd14)
    assert tagger.layout == "wd14" and tagger.side == 64
    blue = tagger.tag(picture(BLUE))
    assert blue.tags == {"general": ["blue_background", "blue_fox"]}
    assert blue.rating == "questionable" and set(blue.rating_scores) == {"general", "sensitive", "questionable",
                                                                          "explicit"}
    assert tagger.tag(picture(WHITE)).rating == "general" and tagger.tag(picture(RED)).rating == "explicit"


def test_z3d_layout_uses_e621_categories_and_rates_nothing(z3d):
    tagger = load_tagger(z3d)
    assert tagger.layout == "z3d" and tagger.side == 448
    blue = tagger.tag(picture(BLUE))
    assert blue.tags == {"general": ["blue_background"], "species": ["blue_fox"]}
    assert blue.rating == "" and blue.rating_scores == {}
    assert blue.to_post("0" * 32, "png", SITES["e621"].rating_words).rating == ""


def test_ratings_read_in_the_words_of_the_site_whose_rules_apply():
    e621, danbooru = SITES["e621"].rating_words, SITES["danbooru"].rating_words
    assert rating_letter("general", e621) == "s" and rating_letter("sensitive", e621) == "s"
    assert rating_letter("general", danbooru) == "g" and rating_letter("sensitive", danbooru) == "s"
    assert rating_letter("general", SITES["safebooru"].rating_words) == "g"  # its word for g is "safe"
    assert rating_letter("explicit", SITES["yandere"].rating_words) == "e"
    assert rating_letter("", e621) == ""
    rules = CaptionRules(site="e621")
    post = TaggerResult(tags={"general": ["white_background"]}, rating="general").to_post("0" * 32, "png", e621)
    assert rules.rating_part(post) == "safe content"


# -- errors: one sentence each -----------------------------------------------------------------

def broken_folders(tmp_path: Path) -> list[tuple[Path, str]]:
    cases = []
    missing = tmp_path / "nowhere"
    cases.append((missing, "does not exist"))
    a_file = tmp_path / "model.onnx"
    a_file.write_bytes(b"x")
    cases.append((a_file, "is a file"))
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    write_tag_list(no_model / "selected_tags.csv", "wd14", labels_for("wd14"))
    cases.append((no_model, "has no model.onnx"))
    no_list = tmp_path / "no-list"
    write_model(no_list / "model.onnx", labels_for("wd14"), 64)
    cases.append((no_list, "has no tag list"))
    no_columns = write_wd14(tmp_path / "no-columns")
    (no_columns / "selected_tags.csv").write_text("a,b\nc,d\n")
    cases.append((no_columns, "has no name and category columns"))
    bad_row = write_wd14(tmp_path / "bad-row")
    with open(bad_row / "selected_tags.csv", "a") as fh:
        fh.write("7,oops,general,1\n")
    cases.append((bad_row, "Line 13 of the tagger's tag list"))
    empty = write_z3d(tmp_path / "empty-list")
    (empty / "tags-selected.csv").write_text("name,category\n")
    cases.append((empty, "has no tags"))
    not_text = write_z3d(tmp_path / "not-text")
    (not_text / "tags-selected.csv").write_bytes(b"name,category\n\xff\xfe,0\n")
    cases.append((not_text, "it is not UTF-8 text"))
    mismatch = write_wd14(tmp_path / "mismatch", outputs=len(labels_for("wd14")) + 1)
    cases.append((mismatch, "scores 12 tags but selected_tags.csv lists 11"))
    nchw = write_wd14(tmp_path / "nchw")
    write_model(nchw / "model.onnx", labels_for("wd14"), 64, dims=[1, 3, 64, 64], axes=(2, 3))
    cases.append((nchw, "does not take one image of height, width and 3 colours (its input is [1, 3, 64, 64])"))
    oblong = write_wd14(tmp_path / "oblong")
    write_model(oblong / "model.onnx", labels_for("wd14"), 64, dims=[1, 64, 32, 3])
    cases.append((oblong, "takes 32x64 images, not square ones"))
    garbage = write_wd14(tmp_path / "garbage")
    (garbage / "model.onnx").write_bytes(b"not a model at all")
    cases.append((garbage, "Cannot load the tagger model"))
    return cases


def test_bad_model_folders_are_refused_in_one_sentence(tmp_path):
    for folder, words in broken_folders(tmp_path):
        with pytest.raises(DatasetError) as err:
            load_tagger(folder)
        assert words in str(err.value) and one_sentence(str(err.value)), (folder, str(err.value))


def test_an_output_size_left_open_is_checked_on_the_first_image(tmp_path):
    """A model whose output size follows its input's height (open, 448 then) loads, and its first answer is
    refused."""
    from onnx import TensorProto, helper

    folder = write_wd14(tmp_path / "open")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["rows"], axes=[2], keepdims=0),
         helper.make_node("Flatten", ["rows"], ["predictions_sigmoid"], axis=1)],
        "open", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "height", "width", 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["batch", "tags"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    tagger = load_tagger(folder)
    with pytest.raises(DatasetError) as err:
        tagger.tag(picture(RED))
    assert f"scores {DEFAULT_SIDE * 3} tags but selected_tags.csv lists 11" in str(err.value)
    assert one_sentence(str(err.value))


def test_a_model_that_fails_on_an_image_is_one_sentence(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    folder = write_wd14(tmp_path / "failing")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["means"], axes=[1, 2], keepdims=0),
         helper.make_node("Reshape", ["means", "shape"], ["predictions_sigmoid"])],  # 3 means into rows of 11: fails
        "failing", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64, 64, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["batch", "tags"])],
        initializer=[numpy_helper.from_array(np.array([-1, 11], dtype=np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    with pytest.raises(DatasetError) as err:
        load_tagger(folder).tag(picture(RED))
    assert "failed on an image" in str(err.value) and one_sentence(str(err.value)), str(err.value)


def test_without_onnxruntime_one_sentence_says_how_to_install_it(wd14, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an import of an uninstalled package meets
    with pytest.raises(DatasetError) as err:
        load_tagger(wd14)
    assert "needs onnxruntime, which is not installed" in str(err.value)
    assert 'pip install "sd-webui-dataset[tagger]"' in str(err.value) and one_sentence(str(err.value))


def test_an_unreadable_image_is_an_image_problem(tmp_path, wd14):
    broken = tmp_path / "broken.png"
    broken.write_bytes(png(RED)[:60])
    with pytest.raises(ImageProblem):
        load_tagger(wd14).tag_file(broken)


# -- the tag step: the last source --------------------------------------------------------------

@pytest.fixture
def unknown(tmp_path, booru_server):
    """Images no site knows (the server has one unrelated post), named as the user named them."""
    server = booru_server([ServerPost(id=1, data=image_bytes(1))])
    src = tmp_path / "own"
    src.mkdir()
    for name, colour in (("red.png", RED), ("blue.png", BLUE), ("white.png", WHITE)):
        (src / name).write_bytes(png(colour))
    return dict(server=server, src=src, out=tmp_path / "out", cache=tmp_path / "cache",
                model=write_wd14(tmp_path / "wd-tiny-tagger"))


def cli_args(world, *extra):
    return ["tag", str(world["src"]), "--out", str(world["out"]), "--base-url", world["server"].url,
            "--cache", str(world["cache"]), "--tagger", str(world["model"]), *extra]


def tree(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_tag_cli_captions_unknown_images_with_the_tagger_and_marks_them(unknown, capsys):
    assert main(cli_args(unknown)) == 0
    printed = capsys.readouterr().out
    out = unknown["out"]
    assert (out / "red.txt").read_text() == "explicit content, red background"
    assert (out / "blue.txt").read_text() == "questionable content, blue background, blue fox"
    assert (out / "white.txt").read_text() == "safe content, white background"  # WD14's general on e621: safe
    assert "3 images: tagged 3, untagged 0" in printed and "posts from: tagger 3" in printed
    assert "tagged by the local tagger wd-tiny-tagger 3 (machine tags" in printed
    assert "blue.png, red.png, white.png" in printed
    assert "API requests: 1" in printed  # the site was asked first, and knew none
    sidecar = json.loads((out / "red.json").read_text())
    assert sidecar["found"]["by"] == "tagger" and sidecar["found"]["model"] == "wd-tiny-tagger"
    assert sidecar["found"]["scores"] == {"red_background": pytest.approx(0.9933, abs=1e-4)}
    assert sidecar["found"]["thresholds"] == DEFAULT_THRESHOLDS and sidecar["found"]["rating"] == "explicit"
    assert sidecar["md5"] == hashlib.md5((unknown["src"] / "red.png").read_bytes()).hexdigest()
    assert sidecar["image"] == "red.png" and sidecar["tags"] == {"general": ["red_background"]}
    assert "red.json" in json.loads((out / MANIFEST).read_text())["files"]


def test_rerun_asks_nothing_runs_no_model_and_changes_nothing(unknown, capsys, monkeypatch):
    assert main(cli_args(unknown)) == 0
    capsys.readouterr()
    before = tree(unknown["out"])
    ran = []
    real = OnnxTagger.scores
    monkeypatch.setattr(OnnxTagger, "scores", lambda self, image: ran.append(1) or real(self, image))
    assert main(cli_args(unknown)) == 0
    printed = capsys.readouterr().out
    assert ran == [] and "3 from an earlier run's tag sidecars" in printed and "API requests: 0" in printed
    assert tree(unknown["out"]) == before
    assert len(unknown["server"].api_requests()) == 1
    # other thresholds: the model answers again, and the captions follow
    assert main(cli_args(unknown, "--tagger-threshold", "character=0.7", "--include", "character")) == 0
    assert len(ran) == 3
    assert (unknown["out"] / "red.txt").read_text() == "explicit content, red background, red hero"
    assert json.loads((unknown["out"] / "red.json").read_text())["found"]["thresholds"]["character"] == 0.7


def test_a_rerun_without_the_tagger_leaves_them_out_and_removes_their_files(unknown, capsys):
    assert main(cli_args(unknown)) == 0
    args = cli_args(unknown)[:-2]
    capsys.readouterr()
    assert main(args) == 1
    printed, err = capsys.readouterr()
    assert "untagged 3" in printed and "--tagger tags them with a local tagger model" in printed
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: No post was found for any of the 3 images, so none")
    assert sorted(p.name for p in unknown["out"].iterdir()) == [MANIFEST, "tags.csv"]


def test_tagger_tags_go_through_the_vocabulary_and_the_site_rules(unknown, tmp_path):
    vocab = tmp_path / "vocab.csv"
    vocab.write_text("blue_background,100\nred_background,50\n")
    rules = CaptionRules(vocab=load_vocabulary(vocab), site="danbooru")
    report = tag_folder(unknown["src"], unknown["out"], TagOptions(rules=rules, keep_untagged=False),
                        tagger=load_tagger(unknown["model"]))
    assert report.sources[TAGGER] == 3 and report.tagged == 3
    out = unknown["out"]
    assert (out / "blue.txt").read_text() == "questionable content, blue background"  # blue_fox: not in the vocab
    assert (out / "white.txt").read_text() == "general content"  # danbooru's own word for it
    assert report.frequency == {"blue_background": 1, "red_background": 1}


def test_sources_before_the_tagger_win(unknown, tmp_path):
    known = ServerPost(id=7, data=png(RED), rating="s", tags={"general": ["crimson"]})
    unknown["server"].posts.append(known)
    report = tag_folder(unknown["src"], unknown["out"], TagOptions(), booru=client_for(unknown["server"]),
                        tagger=load_tagger(unknown["model"]))
    assert report.sources["api"] == 1 and report.sources[TAGGER] == 2
    assert (unknown["out"] / "red.txt").read_text() == "safe content, crimson"
    # every output's tag sidecar names its caption's parts; only the tagger's says how it found them
    assert "found" not in json.loads((unknown["out"] / "red.json").read_text())
    assert json.loads((unknown["out"] / "blue.json").read_text())["found"]["by"] == "tagger"
    assert sorted(report.tagger_images) == ["blue.png", "white.png"]


def test_an_image_the_tagger_cannot_read_fails_alone(unknown, capsys):
    (unknown["src"] / "broken.png").write_bytes(png(RED)[:60])  # a PNG signature, then nothing
    assert main(cli_args(unknown)) == 1
    printed = capsys.readouterr().out
    assert "failed 1" in printed and "broken.png" in printed and "the tagger could not read it" in printed
    assert (unknown["out"] / "blue.txt").exists() and not (unknown["out"] / "broken.png").exists()


def test_a_picture_the_tagger_sees_no_tag_in_stays_untagged_and_says_why(unknown, capsys):
    # mid grey: every tag of the tiny model scores near 0, and only WD14's rating words would be left
    (unknown["src"] / "grey.png").write_bytes(png((128, 128, 128)))
    assert main(cli_args(unknown)) == 0
    printed = capsys.readouterr().out
    assert "4 images: tagged 3, untagged 1 (left out)" in printed
    assert ("untagged 1, no post found for their md5, and the local tagger saw no tag above its thresholds: "
            "grey.png") in printed
    assert "a lower --tagger-threshold lets the tagger tag more" in printed
    assert not any(p.name.startswith("grey") for p in unknown["out"].iterdir())
    assert main(cli_args(unknown, "--keep-untagged")) == 0
    assert (unknown["out"] / "grey.txt").read_text() == ""  # kept as asked, not captioned with a rating alone


def test_nothing_the_tagger_sees_is_one_sentence(unknown):
    for path in unknown["src"].iterdir():
        path.write_bytes(png((128, 128, 128), size=(40, 41 + len(path.name))))  # distinct greys: distinct md5s
    report = tag_folder(unknown["src"], unknown["out"], TagOptions(), booru=client_for(unknown["server"]),
                        tagger=load_tagger(unknown["model"]))
    assert report.tagged == 0 and sorted(report.tagger_blank) == ["blue.png", "red.png", "white.png"]
    assert report.nothing_made() == (
        "No post was found for any of the 3 images and the local tagger saw no tag above its thresholds in 3, so "
        "none was captioned; keep them with empty captions with --keep-untagged, or caption them yourself.")


def test_z3d_folder_through_the_cli(unknown, tmp_path, capsys):
    unknown["model"] = write_z3d(tmp_path / "z3d")
    assert main(cli_args(unknown, "--offline")) == 0
    assert (unknown["out"] / "blue.txt").read_text() == "blue background, blue fox"  # e621 keeps species; no rating
    assert (unknown["out"] / "red.txt").read_text() == "red background"


def test_cli_errors_for_the_tagger_are_one_sentence(unknown, tmp_path, capsys):
    for extra, words in ((["--tagger", str(tmp_path / "nowhere")], "does not exist"),
                         (["--tagger-threshold", "character=2"], "above 0 and at most 1"),
                         (["--tagger-threshold", "general=0.5"], "give its model folder in --tagger too")):
        args = cli_args(unknown)[:-2] + extra
        assert main(args) == 2
        err = capsys.readouterr().err
        assert words in err and err.startswith("error: ") and err.count("\n") == 1, err
    assert not unknown["server"].api_requests()  # refused before any request


def test_the_sidecar_follows_the_image_in_file_name_captions_and_the_kohya_layout(unknown):
    tagger = load_tagger(unknown["model"])
    out = unknown["out"]
    tag_folder(unknown["src"], out / "names", TagOptions(caption="filename"), tagger=tagger)
    assert {p.name for p in (out / "names").iterdir() if not p.name.startswith(".")} == {
        "explicit content, red background.png", "explicit content, red background.json",
        "questionable content, blue background, blue fox.png", "questionable content, blue background, blue fox.json",
        "safe content, white background.png", "safe content, white background.json", "tags.csv"}
    report = tag_folder(unknown["src"], out / "kohya", TagOptions(layout="kohya", concept="own"), tagger=tagger)
    sidecar = json.loads((out / "kohya" / "10_own" / "red.json").read_text())
    assert sidecar["found"]["by"] == "tagger" and report.sources[TAGGER] == 3
    again = tag_folder(unknown["src"], out / "kohya", TagOptions(layout="kohya", concept="own"), tagger=tagger)
    assert again.tagger_reused == 3 and again.written == 0
