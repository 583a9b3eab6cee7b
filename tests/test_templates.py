"""Template building, safe names, writing, warnings, and the template CLI."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sd_dataset.cli import main
from sd_dataset.errors import DatasetError
from sd_dataset.names import safe_user_name
from sd_dataset.templates import (DEFAULT_FLAVOURS, build_template, make_template, read_template, template_filename,
                                  template_issues, template_warnings, write_template)


# --- building ----------------------------------------------------------------------------------------------

def test_the_three_kinds():
    assert build_template("subject") == ["uploaded on e621, [name], [filewords]"]
    assert build_template("subject-last") == ["uploaded on e621, [filewords], [name]"]
    assert build_template("style") == ["uploaded on e621, by [name], [filewords]"]


def test_empty_prefix_has_no_leading_comma():
    assert build_template("subject", prefix="") == ["[name], [filewords]"]
    assert build_template("style", prefix="  ") == ["by [name], [filewords]"]
    assert build_template("subject", prefix="a drawing,") == ["a drawing, [name], [filewords]"]


def test_one_line_per_artist():
    lines = build_template("subject", artists="alice, bob,,alice")
    assert lines == ["uploaded on e621, [name], [filewords]",
                     "uploaded on e621, [name] by alice, [filewords]",
                     "uploaded on e621, [name] by bob, [filewords]"]
    assert build_template("subject-last", artists=["carol"])[1] == "uploaded on e621, [filewords], [name] by carol"


def test_artists_with_style_are_refused():
    with pytest.raises(DatasetError, match="subject kinds"):
        build_template("style", artists=["alice"])


def test_one_line_per_flavour():
    lines = build_template("subject", flavours=DEFAULT_FLAVOURS)
    assert lines[1:] == ["uploaded on e621, a photo of [name], [filewords]",
                         "uploaded on e621, an oil painting of [name], [filewords]",
                         "uploaded on e621, a picture of [name], [filewords]"]
    assert build_template("style", flavours=["a sketch of"])[1] == "uploaded on e621, by [name], a sketch of [filewords]"
    assert build_template("subject-last", flavours="a photo of")[1] == "uploaded on e621, [filewords], a photo of [name]"


def test_unknown_kind_and_line_breaks_are_refused():
    with pytest.raises(DatasetError, match="subject, subject-last, style"):
        build_template("portrait")
    with pytest.raises(DatasetError, match="line break"):
        build_template("subject", artists=["alice\nbob"])
    with pytest.raises(DatasetError, match="line break"):
        build_template("subject", prefix="a\rb")


@given(kind=st.sampled_from(["subject", "subject-last", "style"]),
       prefix=st.text(alphabet="abc e621,", max_size=12),
       flavours=st.lists(st.text(alphabet="abc of", min_size=1, max_size=8), max_size=3))
@settings(max_examples=100, deadline=None)
def test_every_built_line_has_both_placeholders_and_no_blank_parts(kind, prefix, flavours):
    for line in build_template(kind, prefix=prefix, flavours=flavours):
        assert "[name]" in line and "[filewords]" in line
        assert not line.startswith(",") and not line.endswith(",") and line == line.strip()
    assert template_warnings(build_template(kind, prefix=prefix, flavours=flavours)) == []


# --- warnings ----------------------------------------------------------------------------------------------

def test_warnings_say_what_a_missing_placeholder_means():
    codes = dict(template_issues(["a photo of [filewords]"]))
    assert "learns nothing" in codes["no-name"]
    codes = dict(template_issues(["[name] standing"]))
    assert "captions are never used" in codes["no-filewords"]
    codes = dict(template_issues(["[name], [filewords]", "a photo", "", "[name] é"]))
    assert set(codes) == {"some-no-name", "some-no-filewords", "blank", "encoding"}
    assert "2 of 3 lines lack [filewords]" in codes["some-no-filewords"]
    assert dict(template_issues([""]))["empty"].startswith("The template has no prompt lines")


def test_write_warns_for_custom_lines(tmp_path):
    result = write_template(tmp_path, "custom", ["a photo of [filewords]"])
    assert any("[name]" in w for w in result.warnings)


# --- writing -----------------------------------------------------------------------------------------------

def test_write_creates_a_txt_file_one_prompt_per_line(tmp_path):
    result = make_template(tmp_path / "templates", "my subject", kind="subject", artists=["alice"])
    assert result.path == tmp_path / "templates" / "my subject.txt"
    assert result.path.read_text(encoding="utf-8") == ("uploaded on e621, [name], [filewords]\n"
                                                       "uploaded on e621, [name] by alice, [filewords]\n")
    assert read_template(result.path) == result.lines
    assert result.warnings == []
    assert not [p for p in result.path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="already exists"):
        make_template(tmp_path, "mine")
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "keep me\n"
    make_template(tmp_path, "mine.txt", overwrite=True)
    assert "[name]" in (tmp_path / "mine.txt").read_text(encoding="utf-8")


def test_writing_the_same_template_again_is_no_error_and_no_write(tmp_path):
    first = make_template(tmp_path, "mine", kind="style")
    assert not first.unchanged and first.headline().startswith("wrote ")
    before = first.path.stat().st_mtime_ns
    again = make_template(tmp_path, "mine", kind="style")
    assert again.unchanged and again.path.stat().st_mtime_ns == before
    assert again.headline() == f"{again.path} already holds this template (1 line)"
    with pytest.raises(DatasetError, match="already exists"):
        make_template(tmp_path, "mine", kind="subject")  # other lines: still refused without overwrite


@pytest.mark.parametrize("name", ["../escape", "..", "a/b\\c", "/etc/passwd", "x:y*?", "CON", " .hidden. "])
def test_user_names_never_leave_the_folder(tmp_path, name):
    folder = tmp_path / "templates"
    try:
        result = make_template(folder, name)
    except DatasetError as err:
        assert "no characters usable" in str(err)
        return
    assert result.path.parent == folder
    assert result.path.name.endswith(".txt") and not result.path.name.startswith(".")
    assert list(folder.iterdir()) == [result.path]


def test_read_template_reads_like_the_trainer(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"  a [name]  \r\n\r\nb [filewords]\rc\n")
    assert read_template(path) == ["a [name]", "", "b [filewords]", "c"]
    with pytest.raises(DatasetError, match="does not exist"):
        read_template(tmp_path / "missing.txt")


# --- safe names --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("subject", "subject"),
    ("a/b", "a_b"),
    ("..\\..\\x", "_.._x"),
    ("con.txt", "_con.txt"),
    ("  spaced   name . ", "spaced name"),
    ("tab\there", "tab here"),
    ('q"uote<>|', "q_uote___"),
])
def test_safe_filename(name, expected):
    assert safe_user_name(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "..", "/", "../..", "???"])
def test_safe_filename_refuses_names_with_nothing_left(name):
    with pytest.raises(DatasetError, match="no characters usable"):
        safe_user_name(name)


def test_safe_filename_limits_bytes_and_keeps_the_extension():
    name = safe_user_name("\u00e9" * 300 + ".txt", max_bytes=100)
    assert name.endswith(".txt") and len(name.encode("utf-8")) <= 100
    assert name[:-4] == "\u00e9" * 48
    assert template_filename("x" * 400).endswith(".txt")
    assert len(template_filename("x" * 400).encode()) <= 240


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_safe_filename_property(name):
    try:
        result = safe_user_name(name, max_bytes=120)
    except DatasetError:
        return
    assert result and len(result.encode("utf-8")) <= 120
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert result not in (".", "..") and not result.startswith(".") and not result.endswith((".", " "))
    assert os.path.basename(result) == result


# --- CLI ---------------------------------------------------------------------------------------------------

def test_cli_template(tmp_path, capsys):
    out = tmp_path / "t" / "e621-subject"
    assert main(["template", "--kind", "subject-last", "--out", str(out), "--artists", "alice,bob", "--flavours"]) == 0
    written = (tmp_path / "t" / "e621-subject.txt").read_text(encoding="utf-8").splitlines()
    assert len(written) == 1 + 2 + 3
    assert written[0] == "uploaded on e621, [filewords], [name]"
    assert "wrote" in capsys.readouterr().out
    # again without --overwrite: usage error with the sentence
    assert main(["template", "--kind", "subject", "--out", str(out) + ".txt"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["template", "--kind", "subject", "--out", str(out) + ".txt", "--overwrite", "--prefix", ""]) == 0
    assert (tmp_path / "t" / "e621-subject.txt").read_text(encoding="utf-8") == "[name], [filewords]\n"


def test_cli_template_into_a_folder_uses_the_kind(tmp_path):
    assert main(["template", "--kind", "style", "--out", str(tmp_path), "--flavours", "a sketch of"]) == 0
    assert read_template(tmp_path / "style.txt") == ["uploaded on e621, by [name], [filewords]",
                                                     "uploaded on e621, by [name], a sketch of [filewords]"]
