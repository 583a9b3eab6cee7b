"""An empty path is refused, not read as the current folder: ``--out ""`` on the command line, an empty folder box
in the tab."""

import pytest
from PIL import Image

from sd_dataset.cli import main


def images(folder):
    folder.mkdir()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(folder / "a.png")
    (folder / "a.txt").write_text("red square")
    return folder


@pytest.mark.parametrize("args", [
    ["fetch", "red_ball", "--out", ""],
    ["tag", "SRC", "--out", " ", "--offline"],
    ["tag", "", "--out", "OUT", "--offline"],
    ["augment", "SRC", "--out", ""],
    ["augment", "", "--out", "OUT"],
    ["template", "--kind", "subject", "--out", ""],
])
def test_an_empty_path_on_the_command_line_is_refused(tmp_path, monkeypatch, capsys, args):
    src = images(tmp_path / "src")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # where an empty path would have written
    args = [str(src) if a == "SRC" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: argument " in line and "it is empty, which would mean the current folder" in line
    assert line.endswith(".")
    assert list(work.iterdir()) == [] and not (tmp_path / "out").exists()
