"""Property tests: any text becomes a legal, bounded file name; captions become unique names; md5s are found."""

import hashlib
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sd_dataset.names import ILLEGAL_CHARS, is_safe_filename, safe_filename
from sd_dataset.tagging import MAX_NAME_BYTES, caption_filename, md5_from_name, unique_name

RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])$", re.IGNORECASE)
any_text = st.text(alphabet=st.characters(), max_size=400)
tag_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
md5s = st.binary(max_size=64).map(lambda b: hashlib.md5(b).hexdigest())


def assert_legal(name: str, max_bytes: int = 240):
    assert name and name not in (".", "..")
    assert not any(ch in ILLEGAL_CHARS or ord(ch) < 32 for ch in name), name
    assert not name.endswith((".", " "))
    assert len(name.encode("utf-8")) <= max_bytes
    assert not RESERVED.match(name.split(".", 1)[0].rstrip(" "))


@given(any_text, st.integers(min_value=8, max_value=300))
def test_safe_filename_is_legal_and_bounded(text, max_bytes):
    name = safe_filename(text, max_bytes)
    assert_legal(name, max_bytes)
    assert safe_filename(name, max_bytes) == name  # stable: a safe name stays as it is


@given(st.text(alphabet="abcxyz _-,()0123456789é", min_size=1, max_size=100).filter(
    lambda s: s.strip(". ") == s and s.strip()))
def test_safe_names_are_left_alone(text):
    assert safe_filename(text) == text
    assert is_safe_filename(text)


def test_safe_filename_examples():
    assert safe_filename("male/female, :3, <3") == "male_female, _3, _3"
    assert safe_filename("CON") == "_CON"
    assert safe_filename("aux.png") == "_aux.png"
    assert safe_filename("...") == "_"
    assert safe_filename("name. . ") == "name"
    long = "é" * 200 + ".png"
    cut = safe_filename(long)
    assert cut.endswith(".png") and len(cut.encode()) <= 240


@settings(max_examples=200)
@given(st.lists(st.lists(tag_text, min_size=1, max_size=30), min_size=1, max_size=12),
       st.sampled_from([".png", ".jpg", ".webp"]))
def test_caption_filenames_are_legal_bounded_and_unique(captions, ext):
    taken: set[str] = set()
    names = []
    for tags in captions:
        name = caption_filename(tags, ext, taken, MAX_NAME_BYTES - len(ext))
        assert_legal(name, MAX_NAME_BYTES)
        assert name.endswith(ext) and not name.startswith(".")
        names.append(name)
    assert len({n.casefold() for n in names}) == len(names)


def test_caption_filename_numbers_clashes_in_front_and_cuts_at_a_tag_boundary():
    tags = [f"tag number {i:03d}" for i in range(40)]
    taken: set[str] = set()
    # 14 tags of 14 bytes with 13 ", " make 222 bytes; a 15th would make 238
    assert caption_filename(tags, ".png", taken, 222) == ", ".join(tags[:14]) + ".png"
    assert caption_filename(tags, ".png", taken, 222) == "2 " + ", ".join(tags[:13]) + ".png"  # "2 " costs a tag
    assert caption_filename(["red ball"], ".png", taken, 222) == "red ball.png"
    assert caption_filename(["RED BALL"], ".png", taken, 222) == "2 RED BALL.png"  # case-blind, as on Windows
    assert caption_filename(["3d", "red ball"], ".png", taken, 222) == "0 3d, red ball.png"


def test_unique_name_numbers():
    taken: set[str] = set()
    assert [unique_name("a", ".png", taken) for _ in range(3)] == ["a.png", "a (2).png", "a (3).png"]


# -- md5 extraction -----------------------------------------------------------------------------

@given(md5s, st.sampled_from(["{}", "{} (1)", "00001-0-{}", "00001-0 {}", "{}_flipped", "x{}y", "00001-0{}"]),
       st.booleans())
def test_md5_found_anywhere_in_the_stem(md5, pattern, upper):
    text = md5.upper() if upper else md5
    assert md5_from_name(pattern.format(text)) == md5


@given(st.text(alphabet="0123456789abcdef", min_size=33, max_size=40))
def test_longer_hex_runs_are_not_md5s(run):
    assume(not re.match(r"^\d+-\d", run))
    assert md5_from_name(run) is None


@given(st.text(alphabet=st.characters(blacklist_characters="0123456789abcdefABCDEF"), max_size=50))
def test_names_without_hex_runs_have_no_md5(text):
    assert md5_from_name(text) is None
