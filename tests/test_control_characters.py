"""Control characters a server sends (NUL, ESC sequences, BEL, CR/LF, C1 controls, bidi overrides, lone surrogates)
reach no caption, file name, tags.csv, sidecar or terminal line, and never stop a later run.

What counts as unsafe is decided here from the Unicode database (control and surrogate categories, line and
paragraph separators, the bidi formatting classes and marks), not from the project's own list.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from booru_server import ServerPost, image_bytes
from sd_dataset.tagging import FREQUENCY_FILE

ROOT = Path(__file__).resolve().parents[1]
BIDI_FORMATTING = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
BIDI_MARKS = {"\u200e", "\u200f", "\u061c"}

HOSTILE_GENERAL = ["neutral", "red\x00ball", "green\x07_leaf", "blue_\x1b\x1bsky", "line\r\nbreak", "c1\x85\x9bcontrol",
                   "\u202eright_to_left", "lone\ud800surrogate", "tab\there", "del\x7fete", "iso\u2066late\u2069",
                   "para\u2029graph", "\x00\x1b"]
HOSTILE_ARTIST = ["\x9b2Jpainter\x1b"]
# what the general tags keep: their letters, digits and underscores (the oracle knows no more of caption rules)
GENERAL_WORDS = ["redball", "green", "leaf", "blue", "sky", "linebreak", "c1control", "right", "left", "tabhere",
                 "delete", "isolate", "paragraph"]


def unsafe(char: str) -> bool:
    return (unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")
            or unicodedata.bidirectional(char) in BIDI_FORMATTING or char in BIDI_MARKS)


def unsafe_in(text: str, allowed: str = "") -> list[str]:
    return [repr(c) for c in text if unsafe(c) and c not in allowed]


def terminal_text(result: subprocess.CompletedProcess) -> str:
    """What the run printed, less tqdm's own carriage returns that redraw a progress bar (``\\rtag: 50%|``)."""
    return result.stdout + re.sub(r"\r(?=[a-z]+: )", "", result.stderr)


def run(args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT, capture_output=True, timeout=120,
                          encoding="utf-8", errors="surrogateescape", env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def check_folder(folder: Path) -> None:
    """No unsafe character in any name, caption, table or sidecar; captions read as the trainer reads them."""
    for path in folder.rglob("*"):
        assert not unsafe_in(path.name), path
    for caption in folder.glob("*.txt"):
        text = caption.read_bytes().decode("utf-8")  # a lone surrogate could not have been written as UTF-8
        assert not unsafe_in(text), (caption.name, unsafe_in(text))
        tags = [t.strip() for t in text.split(",")]  # [filewords]: the caption split on commas (webui-api.md §8)
        assert all(tags)
        words = "".join(tags).replace(" ", "").replace("_", "")
        assert all(word in words for word in GENERAL_WORDS + ["painter"]), tags
    table = folder / FREQUENCY_FILE
    if table.exists():
        text = table.read_bytes().decode("utf-8")
        assert not unsafe_in(text, "\n")
        words = "".join(row[0] for row in list(csv.reader(text.splitlines()))[1:]).replace("_", "")
        assert all(word in words for word in GENERAL_WORDS), words
    for sidecar in folder.glob("[0-9a-f]*.json"):  # fetch's sidecars, not the step records
        post = json.loads(sidecar.read_text())
        assert not unsafe_in("".join(post["tags"].get("general", []) + post["tags"].get("artist", [])))


@pytest.fixture
def hostile(booru_server):
    posts = [ServerPost(id=70 + i, data=image_bytes(70 + i),
                        tags={"general": HOSTILE_GENERAL, "artist": HOSTILE_ARTIST, "species": ["cat\x1b[2J"]})
             for i in range(3)]
    server = booru_server(posts)
    server.odd_id = "7\x1b[2J\x1b]0;retitled\x07\u202e"  # an id the client refuses, whose refusal is printed
    return server


def test_a_hostile_servers_controls_reach_no_file_and_no_terminal(hostile, tmp_path):
    downloaded, tagged, looked_up = tmp_path / "downloaded", tmp_path / "tagged", tmp_path / "looked_up"
    site = ["--base-url", hostile.url, "--rate", "2"]
    fetched = run(["fetch", "neutral", "--out", str(downloaded)] + site)
    assert fetched.returncode == 1, fetched.stderr  # the odd id is one refused post
    assert "downloaded 3" in fetched.stdout and "refused the site's data" in fetched.stdout
    check_folder(downloaded)
    # from the sidecars, with the captions as file names too
    for _ in range(2):  # the rerun reads the folder the first run wrote (a NUL in tags.csv once failed it forever)
        result = run(["tag", str(downloaded), "--out", str(tagged), "--caption", "both", "--no-cache",
                      "--offline"])
        assert result.returncode == 0, result.stderr
        assert not unsafe_in(terminal_text(result), "\n\t"), unsafe_in(terminal_text(result), "\n\t")
        check_folder(tagged)
    # from the site's md5 lookup
    bare = tmp_path / "bare"
    bare.mkdir()
    for image in downloaded.glob("*.png"):
        shutil.copy(image, bare / image.name)
    result = run(["tag", str(bare), "--out", str(looked_up), "--no-cache"] + site)
    assert result.returncode == 0 and "tagged 3" in result.stdout, result.stdout + result.stderr
    check_folder(looked_up)
    for printed in (fetched, result):
        assert not unsafe_in(terminal_text(printed), "\n\t"), unsafe_in(terminal_text(printed), "\n\t")


def test_a_sidecar_written_before_kept_controls_no_longer_breaks_tag(tmp_path):
    """Sidecars written by an older version hold the server's tags as they came: read, they are cleaned."""
    from sd_dataset.boorus.base import Post

    src = tmp_path / "src"
    src.mkdir()
    data = image_bytes(5)
    md5 = __import__("hashlib").md5(data).hexdigest()
    (src / f"{md5}.png").write_bytes(data)
    post = Post(id=5, md5=md5, file_url=None, ext="png", rating="s").to_json()
    post["tags"] = {"general": HOSTILE_GENERAL, "artist": HOSTILE_ARTIST}
    (src / f"{md5}.json").write_text(json.dumps(post))
    for _ in range(2):
        result = run(["tag", str(src), "--out", str(tmp_path / "out"), "--offline", "--no-cache"])
        assert result.returncode == 0, result.stderr
        check_folder(tmp_path / "out")


@pytest.mark.parametrize("name", ["pic\x1b]0;retitled\x07.png", "pic\u202egnp.png", "pic\x1b[2J.png"])
def test_local_file_names_are_printed_visibly_not_obeyed(tmp_path, name):
    """A source image's own name is the user's, kept as it is; on the terminal its controls are escapes."""
    src = tmp_path / "src"
    src.mkdir()
    (src / name).write_bytes(image_bytes(1))
    result = run(["tag", str(src), "--out", str(tmp_path / "out"), "--offline", "--no-cache", "--keep-untagged"])
    assert result.returncode == 0, result.stderr
    printed = terminal_text(result)
    assert not unsafe_in(printed, "\n\t") and "no post found for their md5: pic\\" in printed, printed
    assert (src / name).exists() and not [p for p in (tmp_path / "out").iterdir() if unsafe_in(p.name)]
