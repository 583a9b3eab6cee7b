"""Captions read by their readers' oracles: any tag survives the web UI's prompt parser and its file-name rule."""

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sd_dataset.captions import name_form, prompt_text, swap_sides
from sd_dataset.files import TEMP_NAME_EXTRA
from sd_dataset.names import ILLEGAL_CHARS, is_device_name, name_budget, utf8_len
from sd_dataset.tagging import caption_filename
from sd_dataset.tags import format_tag
from webui_readers import caption_of, encoder_text, read_plainly

# webui-api.md §8: the kaomoji that keep their underscores; every other tag's underscores are spaces
KAOMOJI_DOC = "0_0 (o)_(o) +_+ +_- ._. <o>_<o> <|>_<|> =_= >_< 3_3 6_9 >_o @_@ ^_^ o_o u_u x_x |_| ||_||".split()
NOWHERE = Path("/nonexistent-folder-of-no-captions")  # an image here has no .txt: the trainer reads its name

tag_char = st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp"))
tricky = st.sampled_from(list("()[]\\:_<>|/*?\".,-0123456789") + ["BREAK", "_BREAK_", "\\\\", ":1.2)", "(:", "con"])
tags = st.one_of(
    st.lists(st.one_of(tag_char, tricky), min_size=1, max_size=12).map("".join),
    st.sampled_from(KAOMOJI_DOC + [":3", "<3", "\\(^o^)/", "bow_(weapon)", "[in]vader", "4_toes", "\\m/", ">:(",
                                   "male/female", "looking_left", "._.", "-_-", "BREAK"]),
)


def meant(tag: str, keep_underscores: bool = False) -> str:
    return tag if keep_underscores or tag in KAOMOJI_DOC else tag.replace("_", " ")


def trainer_reads(name: str) -> str:
    return caption_of(NOWHERE / name)


@settings(max_examples=400)
@given(tags, st.booleans())
def test_a_txt_caption_parses_back_to_the_tag_at_weight_one(tag, keep_underscores):
    assert read_plainly(format_tag(tag, keep_underscores)) == meant(tag, keep_underscores)


@settings(max_examples=200)
@given(st.lists(tags, min_size=1, max_size=8))
def test_a_whole_txt_caption_is_one_chunk_of_the_meant_text(tag_list):
    parts = [meant(t) for t in tag_list]
    assert read_plainly(prompt_text(parts)) == ", ".join(parts)


@settings(max_examples=300)
@given(st.lists(tags, min_size=1, max_size=8), st.sampled_from([".png", ".jpg", ".webp"]))
def test_a_file_name_reads_as_the_caption_with_every_word_and_no_emphasis(tag_list, ext):
    parts = [meant(t) for t in tag_list]
    taken: set[str] = set()
    for _ in range(3):  # a clash is numbered in front, where the trainer strips it
        name = caption_filename(parts, ext, taken, 200)
        read = trainer_reads(name)
        plain = read_plainly(read)
        assert plain is not None, (name, read)  # no emphasis, no BREAK
        whole = [", ".join(parts[:k]) for k in range(1, len(parts) + 1)]
        assert encoder_text(plain) in {encoder_text(w) for w in whole}, (name, parts)
        assert not name.startswith(".") and name.endswith(ext)
        assert not any(ch in ILLEGAL_CHARS or ord(ch) < 32 for ch in name) and not is_device_name(name)
        assert utf8_len(name) - len(ext) <= 200


def test_tags_that_differ_read_differently_from_names():
    for a, b in [(":3", "<3"), ("(o)_(o)", "o_o"), ("male/female", "male female"), ("bow_(weapon)", "bow_weapon"),
                 ("\\m/", "m"), ("back\\slash", "backslash")]:
        names = [caption_filename([meant(t)], ".png", set(), 200) for t in (a, b)]
        read = [encoder_text(read_plainly(trainer_reads(n))) for n in names]
        assert read[0] != read[1], (a, b, names)
        assert read == [encoder_text(meant(a)), encoder_text(meant(b))]


def test_clashes_leading_digits_dots_and_empty_captions_read_as_meant():
    taken: set[str] = set()
    names = [caption_filename(parts, ".png", taken, 200)
             for parts in (["4 toes", "red ball"], ["4 toes", "red ball"], ["._.", "x_x"], ["con"], [], [],
                           ["red ball"], ["Red Ball"])]
    assert len({n.casefold() for n in names}) == len(names)
    assert [trainer_reads(n) for n in names] == ["4 toes, red ball", "4 toes, red ball", "._., x_x", "con", "", "",
                                                 "red ball", "Red Ball"]
    assert not any(n.startswith(".") or is_device_name(n) for n in names)


def test_a_long_caption_is_cut_at_the_last_whole_tag_that_fits():
    parts = [f"tag number {i:02d}" for i in range(70)]
    name = caption_filename(parts, ".png", set(), 200)
    read = trainer_reads(name).split(", ")
    assert read == parts[:len(read)] and utf8_len(", ".join(parts[:len(read) + 1])) > 200 >= utf8_len(name) - 4


def test_names_and_their_temporary_names_fit_the_name_and_path_caps(tmp_path):
    deep = tmp_path
    while len(os.fsencode(deep)) < 3900:
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    for folder in (tmp_path, deep):
        budget = name_budget(folder)
        assert budget + TEMP_NAME_EXTRA <= 255
        assert len(os.fsencode(folder)) + 1 + budget + TEMP_NAME_EXTRA < os.pathconf(folder, "PC_PATH_MAX")
    name = caption_filename([f"tag number {i:02d}" for i in range(70)], ".png", set(), name_budget(tmp_path) - 4)
    (tmp_path / f".{name}.0123abcd.sdds-part").write_bytes(b"")  # the temporary name fits too
    (tmp_path / name).write_bytes(b"")


@given(tags)
def test_name_forms_hold_no_character_a_reader_would_misread(tag):
    form = name_form(meant(tag))
    assert not any(ch in ILLEGAL_CHARS or ch in "()[]" for ch in form)
    assert encoder_text(form) == encoder_text(meant(tag))  # BREAK is lower-cased, which the encoder does anyway


def test_mirrors_swap_left_and_right_words_but_not_artists():
    assert swap_sides("by left hand, looking left, facing_right, upper-left, Left, copyright, alright, leftover") == \
        "by left hand, looking right, facing_left, upper-right, Right, copyright, alright, leftover"
    assert swap_sides("0 looking left, \\(left\\)") == "0 looking right, \\(right\\)"
