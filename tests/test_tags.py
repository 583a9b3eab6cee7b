"""Vocabulary formats, aliases and the caption rules, on real files the tests write."""

import gzip

import pytest

from sd_dataset.boorus.base import Post
from sd_dataset.errors import DatasetError
from sd_dataset.tags import (AUTOCOMPLETE, E621_TAGS, E621_TAGS_HEADERLESS, GUIDE, CaptionRules, format_tag,
                             load_vocabulary, normalize_tag, read_aliases, read_tag_list)


def post(**tags):
    rating = tags.pop("rating", "s")
    return Post(id=1, md5="0" * 32, file_url=None, ext="png", rating=rating, tags=tags)


@pytest.fixture
def autocomplete(tmp_path):
    path = tmp_path / "e621.csv"
    path.write_text(
        'blue_sky,0,900,\n'
        'red_ball,0,500,"round_ball,ball_(red)"\n'
        ':3,0,700,\n'
        'cat,5,800,"kitty"\n'
        'bow_(weapon),0,100,\n'
        '^_^,0,100,\n'
        'green_leaf,0,500,\n'
        'some_artist,1,50,\n', encoding="utf-8")
    return path


# -- formats --------------------------------------------------------------------------------

def test_autocomplete_format_with_aliases(autocomplete):
    vocab = load_vocabulary(autocomplete)
    assert vocab.format == AUTOCOMPLETE
    assert vocab.count("blue_sky") == 900 and vocab.categories["cat"] == "species"
    assert vocab.resolve("round_ball") == "red_ball"
    assert vocab.resolve("ball_(red)") == "red_ball"
    assert vocab.resolve("kitty") == "cat"
    assert vocab.resolve("unknown_tag") is None


@pytest.mark.parametrize("text", ["tag,count\nred_ball,12\nblue_sky,30\n", "red_ball,12\nblue_sky,30\n",
                                  "\ufeffred_ball,12\r\nblue_sky,30\r\n"])
def test_guide_format_with_or_without_header(tmp_path, text):
    path = tmp_path / "tags.csv"
    path.write_text(text, encoding="utf-8")
    vocab = load_vocabulary(path)
    assert vocab.format == GUIDE
    assert vocab.counts == {"red_ball": 12, "blue_sky": 30}


def test_e621_tags_export_plain_and_gz(tmp_path):
    text = ("id,name,category,post_count,created_at,updated_at,is_locked\n"
            "1,red_ball,0,120,2020-01-01,2020-01-01,f\n"
            "2,\"tag,with,commas\",0,5,2020-01-01,2020-01-01,f\n"
            "3,some_artist,1,40,2020-01-01,2020-01-01,f\n")
    plain = tmp_path / "tags-2026-01-01.csv"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "tags-2026-01-01.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        vocab = load_vocabulary(path)
        assert vocab.format == E621_TAGS
        assert vocab.counts == {"red_ball": 120, "tag,with,commas": 5, "some_artist": 40}
        assert vocab.categories["some_artist"] == "artist"


def test_e621_tags_export_without_header(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("1,red_ball,0,120\n2,blue_sky,0,7\n")
    vocab = load_vocabulary(path)
    assert vocab.format == E621_TAGS_HEADERLESS and vocab.counts == {"red_ball": 120, "blue_sky": 7}


def test_unknown_format_is_one_sentence(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("red ball\nblue sky\n")
    with pytest.raises(DatasetError, match="not a vocabulary format I know"):
        load_vocabulary(path)


def test_missing_and_unreadable_vocab(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_vocabulary(tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="is a folder"):
        load_vocabulary(tmp_path)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    with pytest.raises(DatasetError, match="Cannot read the vocabulary file"):
        load_vocabulary(bad)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("caf\xe9,3\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_vocabulary(latin)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match="not a vocabulary format"):
        load_vocabulary(empty)


def test_alias_export_only_active_and_maps_renamed_tags_back(tmp_path, autocomplete):
    aliases = tmp_path / "tag_aliases.csv.gz"
    aliases.write_bytes(gzip.compress(
        b"id,antecedent_name,consequent_name,created_at,status\n"
        b"1,green_leaf,leaf_(green),2024-01-01,active\n"       # renamed after training: post has leaf_(green)
        b"2,old_sky,blue_sky,2024-01-01,active\n"              # post still carries an old name
        b"3,blue_sky,sky_(blue),2024-01-01,deleted\n"         # not active: ignored
        b"4,cat,feline,2024-01-01,pending\n"))
    pairs = read_aliases(aliases)
    assert pairs == [("green_leaf", "leaf_(green)"), ("old_sky", "blue_sky")]
    vocab = load_vocabulary(autocomplete)
    vocab.add_aliases(pairs)
    assert vocab.resolve("leaf_(green)") == "green_leaf"
    assert vocab.resolve("old_sky") == "blue_sky"
    assert vocab.resolve("sky_(blue)") is None
    assert vocab.resolve("feline") is None


def test_alias_file_of_wrong_shape(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n")
    with pytest.raises(DatasetError, match="not e621's tag_aliases export"):
        read_aliases(path)


def test_exclude_file(tmp_path):
    path = tmp_path / "exclude.txt"
    path.write_text("# the subject's traits\nRed Ball, blue_sky\nbow \\(weapon\\)  # escaped as in a prompt\n")
    assert read_tag_list(path) == ["red_ball", "blue_sky", "bow_(weapon)"]


# -- formatting -------------------------------------------------------------------------------

@pytest.mark.parametrize("tag,expected", [
    ("red_ball", "red ball"), ("^_^", "^_^"), (">_<", ">_<"), (":3", ":3"), ("<3", "<3"),
    ("bow_(weapon)", "bow \\(weapon\\)"), ("male/female", "male/female"), ("o_o", "o_o"), ("(_)", "\\( \\)"),
    ("[in]vader", "\\[in\\]vader"), ("back\\slash", "back\\\\slash"), ("-_-", "- -"),
])
def test_format_tag(tag, expected):
    assert format_tag(tag) == expected


def test_format_switches():
    assert format_tag("bow_(weapon)", keep_underscores=True) == "bow_\\(weapon\\)"
    assert format_tag("bow_(weapon)", escape=False) == "bow (weapon)"
    assert normalize_tag(" Bow \\(Weapon\\) ") == "bow_(weapon)"


# -- the caption ---------------------------------------------------------------------------------

def full_post():
    return post(rating="q",
                artist=["conditional_dnp", "some_artist", "sound_warning", "other_artist", "unknown_artist"],
                general=["red_ball", "round_ball", "blue_sky", "not_in_vocab", ":3", "bow_(weapon)", "^_^",
                         "green_leaf"],
                species=["cat"], character=["hero_(character)"], copyright=["a_game"], meta=["hi_res"])


def test_caption_with_vocabulary(autocomplete):
    rules = CaptionRules(vocab=load_vocabulary(autocomplete))
    # counts: blue_sky 900, cat 800, :3 700, green_leaf 500 = red_ball 500 (name breaks the tie),
    # ^_^ 100 = bow_(weapon) 100 ("^" sorts before "b"); round_ball is red_ball again; not_in_vocab dropped
    assert rules.caption(full_post()) == (
        "questionable content, by some artist, by other artist, blue sky, cat, :3, green leaf, red ball, ^_^, "
        "bow \\(weapon\\)")


def test_caption_without_vocabulary_keeps_all_sorted_by_name():
    rules = CaptionRules()
    assert rules.caption(full_post()) == (
        "questionable content, by some artist, by other artist, :3, ^_^, blue sky, bow \\(weapon\\), cat, "
        "green leaf, not in vocab, red ball, round ball")


def test_caption_switches(autocomplete):
    vocab = load_vocabulary(autocomplete)
    rules = CaptionRules(vocab=vocab, rating=False, artist=False, keep_underscores=True, escape=False,
                         exclude=frozenset({"blue sky", "CAT"}), trigger="mytoken")
    assert rules.caption(full_post()) == "mytoken, :3, green_leaf, red_ball, ^_^, bow_(weapon)"


def test_include_categories_still_filtered_by_vocabulary(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_text("red_ball,10\nhero_(character),20\nhi_res,5\n")
    rules = CaptionRules(vocab=load_vocabulary(path), include=("character", "meta"))
    assert rules.caption(full_post()) == (
        "questionable content, by some artist, by other artist, hero \\(character\\), red ball, hi res")
    with pytest.raises(DatasetError, match="Unknown tag category 'artists'"):
        CaptionRules(include=("artists",))


@pytest.mark.parametrize("rating,word", [("s", "safe"), ("q", "questionable"), ("e", "explicit")])
def test_rating_words(rating, word):
    assert CaptionRules().caption(post(rating=rating, general=["red_ball"])) == f"{word} content, red ball"


def test_no_tag_twice_and_excluded_artist():
    rules = CaptionRules(exclude=frozenset({"other_artist"}))
    p = post(artist=["some_artist", "some_artist", "other_artist"], general=["red_ball", "red_ball"],
             species=["red_ball"])
    assert rules.caption(p) == "safe content, by some artist, red ball"


def test_drop_removes_common_tags_but_not_rating_or_artist():
    p = post(artist=["some_artist"], general=["red_ball", "blue_sky"])
    assert CaptionRules().caption(p, drop=frozenset({"red_ball"})) == "safe content, by some artist, blue sky"


def test_untagged_caption_is_trigger_or_empty():
    assert CaptionRules(trigger="tok").caption(None) == "tok"
    assert CaptionRules().caption(None) == ""


def test_a_stray_bad_line_does_not_hide_the_format(tmp_path):
    path = tmp_path / "ac.csv"
    path.write_text("".join(f"tag_{i},0,{100 - i},\n" for i in range(10)) + "broken line\n")
    vocab = load_vocabulary(path)
    assert vocab.format == AUTOCOMPLETE and len(vocab) == 10
