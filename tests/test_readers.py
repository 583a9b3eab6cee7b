"""The reader oracles hold to the behaviour their documents show (the parsers' docstring examples, webui-api.md §8,
sd-scripts' config schema), so that the caption tests that use them test against the readers, not against us."""

import random

import pytest
from PIL import Image

from sdscripts_readers import check_dataset_config, kept_in_place, parse_weighted, read_caption_file, shuffled
from webui_readers import caption_of, encoder_text, parse_prompt, read_plainly, training_captions

# parse_prompt_attention's docstring, in the web UI 1.10.1 and in sd-scripts' custom_train_functions
DOCSTRING = [
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("\\(literal\\]", [["(literal]", 1.0]]),
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55],
      [", sun, ", 1.1], ["sky", 1.4641000000000006], [".", 1.1]]),
]


@pytest.mark.parametrize("text,expected", DOCSTRING)
def test_both_parsers_read_the_docstring_examples(text, expected):
    assert parse_prompt(text) == expected
    assert parse_weighted(text) == expected


def test_the_web_ui_parser_reads_section_8s_examples():
    inv = parse_prompt("by [in]vader")
    assert inv[0] == ["by ", 1.0] and inv[1][0] == "in" and round(inv[1][1], 3) == 0.909 and inv[2] == ["vader", 1.0]
    assert parse_prompt("\\(^o^)/") == [["(^o^)/", 1.0]]
    assert parse_prompt("\\\\\\(^o^\\)/") == [["\\(^o^)/", 1.0]]
    assert parse_prompt("back\\slash") == [["backslash", 1.0]]
    assert parse_prompt(":3, <3") == [[":3, <3", 1.0]]
    assert parse_prompt("red ball BREAK blue sky") == [["red ball", 1.0], ["BREAK", -1], ["blue sky", 1.0]]
    assert parse_prompt("a break b") == [["a break b", 1.0]]  # only the uppercase keyword
    assert parse_prompt("(x:0.5") == [["x:0.5", 1.1]]  # an unclosed weight is text
    assert parse_prompt("bow (weapon)") == [["bow ", 1.0], ["weapon", 1.1]]
    assert read_plainly("bow \\(weapon\\)") == "bow (weapon)" and read_plainly("bow (weapon)") is None


def test_sd_scripts_weighted_parser_has_no_break_and_tight_weights():
    assert parse_weighted("a BREAK b") == [["a BREAK b", 1.0]]
    assert parse_weighted("(a:1.5)") == [["a", 1.5]]
    assert parse_weighted("(a: 1.5 )") == [["a: 1.5 ", 1.1]]  # the spaced form is not a weight there


def test_the_dataset_reader_follows_section_8(tmp_path):
    for name in ["0 4 toes.png", "4 toes.png", "caption (2).png", "red ball-flip.png", "00001-0-red ball.png",
                 "with text.png", ".hidden, red ball.png", "notes.txt"]:
        if name.endswith(".png"):
            Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "with text.txt").write_text("the (text) wins\n")
    (tmp_path / "tags.csv").write_text("tag,count\n")
    assert caption_of(tmp_path / "0 4 toes.png") == "4 toes"
    assert caption_of(tmp_path / "4 toes.png") == "toes"
    assert training_captions(tmp_path) == {
        ".hidden, red ball.png": ".hidden, red ball", "0 4 toes.png": "4 toes", "00001-0-red ball.png": "red ball",
        "4 toes.png": "toes", "caption (2).png": "caption (2)", "red ball-flip.png": "red ball-flip",
        "with text.png": "the (text) wins\n"}


def test_the_encoder_reads_fullwidth_forms_as_ascii():
    assert encoder_text("ＬＯＵＤ\u3000ＮＯＩＳＥＳ") == "loud noises"  # ftfy's fix_character_width example
    assert encoder_text("bow （weapon）, ：3, ＜3") == "bow (weapon), :3, <3"
    assert encoder_text("  Red   Ball ") == "red ball"


def test_sd_scripts_caption_files_and_shuffling(tmp_path):
    (tmp_path / "a.txt").write_text("ohwx, red panda, safe content, b, c\nsecond line ignored\n")
    (tmp_path / "empty.txt").write_text("")
    assert read_caption_file(tmp_path / "a.png") == "ohwx, red panda, safe content, b, c"
    assert read_caption_file(tmp_path / "none.png") is None
    with pytest.raises(AssertionError, match="empty"):
        read_caption_file(tmp_path / "empty.png")
    caption = read_caption_file(tmp_path / "a.png")
    assert kept_in_place(caption, 3) == ["ohwx", "red panda", "safe content"]
    rng = random.Random(1)
    assert all(shuffled(caption, 3, rng).startswith("ohwx, red panda, safe content, ") for _ in range(20))


def test_the_config_schema_takes_the_documented_example_and_refuses_what_it_does_not_know():
    example = {"general": {"shuffle_caption": True, "caption_extension": ".txt", "keep_tokens": 1},
               "datasets": [{"resolution": 512, "batch_size": 4, "keep_tokens": 2,
                             "subsets": [{"image_dir": "C:\\hoge", "class_tokens": "hoge girl"},
                                         {"image_dir": "C:\\fuga", "class_tokens": "fuga boy", "keep_tokens": 3},
                                         {"is_reg": True, "image_dir": "C:\\reg", "class_tokens": "human",
                                          "keep_tokens": 1}]}]}
    subsets = check_dataset_config(example)
    assert [s["keep_tokens"] for s in subsets] == [2, 3, 1] and subsets[0]["shuffle_caption"] is True
    for bad in ({"datasets": [{"subsets": [{"class_tokens": "x"}]}]},  # no image_dir
                {"datasets": [{"subsets": [{"image_dir": "x", "keep_token": 1}]}]},  # misspelt
                {"datasets": [{"subsets": [{"image_dir": "x", "num_repeats": "10"}]}]},  # a string
                {"datasets": [{"subsets": [{"image_dir": "x", "keep_tokens": True}]}]},
                {"datasets": [{"subsets": [{"image_dir": "x"}]}], "dataset": []}):
        with pytest.raises(AssertionError):
            check_dataset_config(bad)
