"""The tab speaks its own words: its messages name its controls, and its paths lie in the datasets folder."""

import os
from pathlib import Path

import pytest
from PIL import Image

from sd_dataset.augment import AugmentOptions
from sd_dataset.errors import DatasetError
from sd_dataset.host import Host

gr = pytest.importorskip("gradio")

from sd_dataset.ui import TAB_OPTIONS, DatasetTab, _sentence, build_ui, show_page  # noqa: E402
from ui.step_args import augment_args, tag_args  # noqa: E402


def image(folder: Path, name: str, size=(300, 300)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (30, 90, 150)).save(folder / name)
    return folder / name


def test_each_name_the_tab_gives_an_option_starts_the_label_of_its_control(tmp_path):
    blocks = build_ui(Host(datasets_root=tmp_path))
    labels = [str(getattr(block, "label", None) or "") for block in blocks.blocks.values()]
    for key, name in TAB_OPTIONS.items():
        control = name[name.index('"') + 1:name.rindex('"')]
        assert any(label.startswith(control) for label in labels), (key, name)


def test_the_tabs_messages_name_its_controls_where_the_command_line_names_flags(tmp_path):
    tab = DatasetTab(Host(datasets_root=tmp_path))
    src = image(tmp_path / "src", "a.png", (100, 100)).parent
    assert _sentence(tab.augment, "Augment")(*augment_args(src, tmp_path / "out", min_size=-1)) == \
        'error: "Min short side" must be 0 or more, not -1.'
    assert tab.augment(*augment_args(src, tmp_path / "out")).text().endswith(
        'error: The one image is under the 256-pixel minimum, so nothing was written; lower "Min short side" (0 '
        "keeps every image).")
    assert _sentence(tab.tag, "Tag")(*tag_args(src, tmp_path / "t", vocab="missing.csv")) == (
        f'error: The vocabulary file {tmp_path / "missing.csv"} does not exist; check the path in "Model '
        'vocabulary".')
    assert _sentence(tab.tag, "Tag")(*tag_args(src, tmp_path / "t", caption="filename", layout="kohya")) == (
        'error: The kohya layout reads .txt captions; use "Caption as" txt or both with "Layout" kohya.')
    text = tab.tag(*tag_args(src, tmp_path / "t")).text()  # offline, nothing known: the hint names the checkbox
    assert 'hint: "Offline" asked no site' in text and "--" not in text
    # outside the tab the library speaks the command line's language
    with pytest.raises(DatasetError, match="^--min-size must be 0 or more"):
        AugmentOptions(min_size=-1).check()


def test_relative_paths_lie_in_the_datasets_folder_and_are_shown_absolute(tmp_path, monkeypatch):
    elsewhere = tmp_path / "server's working folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    root = tmp_path / "datasets"
    tab = DatasetTab(Host(datasets_root=root))
    image(root / "cube" / "src", "a.png")
    result = tab.augment(*augment_args("cube/src", "cube/train"))
    assert result.lines[0].startswith("1 images: 1 augmented"), result.text()
    assert (root / "cube" / "train" / "a.png").is_file() and not (elsewhere / "cube").exists()
    assert tab.shown_path("cube/train") == str(root / "cube" / "train")
    assert tab.shown_path("~/x") == os.path.join(os.path.expanduser("~"), "x") and tab.shown_path(" ") == ""
    assert tab.step_folders("", "cube")[2] == str(root / "cube" / "train")
    # a host whose folder is relative shows it absolute, so the user sees where it is
    relative = build_ui(Host(datasets_root=Path("datasets")))
    box = next(b for b in relative.blocks.values() if getattr(b, "elem_id", None) == "sdds_root")
    assert box.value == str(elsewhere / "datasets")


def test_the_preview_of_an_uncaptioned_folder_says_so_with_an_empty_table(tmp_path):
    image(tmp_path / "fetched", "0123456789abcdef0123456789abcdef.png")
    items, _, label, table, traits = show_page(tmp_path / "fetched", 1)
    assert label == "page 1 of 1 (1 images)" and items[0][1].endswith("(no caption yet)")
    assert traits == "no captions yet: run Tag on this folder first"
    assert table == [["", "", ""]]  # blank, not a tag counted 0 times
    (tmp_path / "empty").mkdir()
    assert show_page(tmp_path / "empty", 1)[3] == [["", "", ""]]
