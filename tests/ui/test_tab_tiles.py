"""The Augment section's tile captions: the checkbox, the local tagger's folder and thresholds, in the tab's words."""

from pathlib import Path

import pytest
from PIL import Image

from sd_dataset.host import Host

gr = pytest.importorskip("gradio")
pytest.importorskip("onnxruntime")

from sd_dataset.ui import DatasetTab, _sentence  # noqa: E402
from tiny_tagger import write_wd14  # noqa: E402
from ui.step_args import augment_args  # noqa: E402
from webui_readers import training_captions  # noqa: E402


def halves(folder: Path) -> Path:
    folder.mkdir(parents=True)
    img = Image.new("RGB", (1024, 512), (255, 0, 0))
    img.paste((0, 0, 255), (512, 0, 1024, 512))
    img.save(folder / "a.png")
    (folder / "a.txt").write_text("red background, blue background, looking left")
    return folder


def test_tile_captions_from_the_tab(tmp_path):
    tab = DatasetTab(Host(datasets_root=tmp_path))
    src, model = halves(tmp_path / "src"), write_wd14(tmp_path / "model")
    result = tab.augment(*augment_args(src, tmp_path / "train", split=True, tile_captions=True, tagger=str(model),
                                       tagger_thresholds="general=0.5"))
    assert any(line.startswith("  tile captions by the tagger model: 3 tiles") for line in result.lines), result.text()
    assert training_captions(tmp_path / "train")["a-split0.png"] == "red background, looking left"
    assert training_captions(tmp_path / "train")["a-split0-flip.png"] == "red background, looking right"


def test_tags_local_tagger_filled_for_tag_alone_leaves_augment_as_it_was(tmp_path):
    """The tab's "Local tagger" is Tag's too: filled (even with a folder that is no model) while tile captions are
    off, augment neither loads it nor refuses."""
    tab = DatasetTab(Host(datasets_root=tmp_path))
    src = halves(tmp_path / "src")
    result = tab.augment(*augment_args(src, tmp_path / "train", split=True, tagger=str(tmp_path / "no model"),
                                       tagger_thresholds="general=0.5"))
    assert result.lines[0].startswith("1 images: 1 augmented"), result.text()
    assert set(training_captions(tmp_path / "train").values()) >= {"red background, blue background, looking left"}


def test_the_tabs_sentences_name_its_controls(tmp_path):
    tab = DatasetTab(Host(datasets_root=tmp_path))
    src = halves(tmp_path / "src")
    step = _sentence(tab.augment, "Augment")
    assert step(*augment_args(src, tmp_path / "train", split=True, tile_captions=True)) == (
        'error: Tile captions need a local tagger to look at each tile; give its model folder in "Local tagger", or '
        'turn "Tile captions" off.')
    assert step(*augment_args(src, tmp_path / "train", split=True, tile_captions=True,
                              tagger_thresholds="general=0.5")) == (
        'error: Tagger thresholds apply to a local tagger; give its model folder in "Local tagger" too.')
    assert step(*augment_args(src, tmp_path / "train", tile_captions=True, tagger=str(tmp_path / "none"))) == (
        f'error: The tagger model folder {tmp_path / "none"} does not exist; give the folder holding model.onnx and '
        'selected_tags.csv (WD14) or tags-selected.csv (Z3D) in "Local tagger".')
