"""The tab's Tag and Augment steps called as its events call them: offline needs no login, empty folders are
refused."""

import pytest
from PIL import Image

from sd_dataset.errors import DatasetError
from sd_dataset.host import Host
from sd_dataset.ui import DatasetTab
from ui.step_args import augment_args, tag_args


def images(folder):
    folder.mkdir()
    Image.new("RGB", (300, 280), (200, 10, 10)).save(folder / "a.png")
    (folder / "a.txt").write_text("red square")
    return folder




@pytest.mark.parametrize("site", ["gelbooru", "rule34"])
def test_offline_tag_asks_for_no_login(tmp_path, monkeypatch, site):
    for name in ("GELBOORU_USER_ID", "GELBOORU_USERNAME", "GELBOORU_API_KEY", "RULE34_USER_ID", "RULE34_USERNAME",
                 "RULE34_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    tab = DatasetTab(Host(datasets_root=tmp_path))
    src = images(tmp_path / "src")
    with pytest.raises(DatasetError, match="answers its API only with a login"):
        tab.tag(*tag_args(src, tmp_path / "online", site=site, offline=False))
    log = tab.tag(*tag_args(src, tmp_path / "out", site=site)).text()
    assert log.startswith("1 images: tagged 0, untagged 1 (kept with no tags)"), log
    assert "API requests: 0" in log and (tmp_path / "out" / "a.png").is_file()


@pytest.mark.parametrize("empty", ["src", "out"])
def test_an_empty_folder_box_is_refused_not_read_as_the_working_folder(tmp_path, monkeypatch, empty):
    tab = DatasetTab(Host(datasets_root=tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    src, out = str(images(tmp_path / "src")), str(tmp_path / "out")
    src, out = ("", out) if empty == "src" else (src, " ")
    with pytest.raises(DatasetError, match=r"Choose the folder (of images to caption|to write the captioned images "
                                           r"into) first\."):
        tab.tag(*tag_args(src, out))
    with pytest.raises(DatasetError, match=r"Choose the (source|training) folder first\."):
        tab.augment(*augment_args(src, out, flip=False, min_size=0))
    assert list(work.iterdir()) == [] and not (tmp_path / "out").exists()


def test_the_local_tagger_box_takes_a_model_folder_inside_the_datasets_folder(tmp_path):
    from tiny_tagger import write_wd14

    write_wd14(tmp_path / "models" / "wd-tiny")
    tab = DatasetTab(Host(datasets_root=tmp_path))
    src = images(tmp_path / "src")
    log = tab.tag(*tag_args(src, tmp_path / "out", keep_untagged=False, tagger="models/wd-tiny",
                            tagger_thresholds="character=0.5", include=["character"])).text()
    assert "posts from: tagger 1" in log and "tagged by the local tagger wd-tiny 1" in log, log
    # red: explicit in WD14's words, as e621 says it; the character kept by the lowered threshold
    assert (tmp_path / "out" / "a.txt").read_text() == "explicit content, red background, red hero"
    with pytest.raises(DatasetError, match='^Tagger thresholds apply to a local tagger; give its model folder in '
                                           '"Local tagger" too.$'):
        from sd_dataset.wording import speaking
        from sd_dataset.ui import TAB_OPTIONS

        with speaking(TAB_OPTIONS):
            tab.local_tagger("", "general=0.3")
    with pytest.raises(DatasetError, match="The tagger model folder .*nowhere does not exist"):
        tab.tag(*tag_args(src, tmp_path / "out", tagger="nowhere"))
