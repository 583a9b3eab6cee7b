"""A disk that refuses a write: the lock file, tag's manifest and tags.csv, augment's settings record.

The run is a real ``python -m sd_dataset`` whose files may grow only to a set size (``RLIMIT_FSIZE``): past it the
kernel refuses the write with EFBIG, a real OS error like the ENOSPC of a full disk (which needs root to stage),
raised at the same write.  Each run must end with one sentence, leave no partial file under any name, and leave the
folder so that a rerun with room finishes it like a clean run.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sd_dataset.augment import SETTINGS_FILE, AugmentOptions
from sd_dataset.boorus.base import Post
from sd_dataset.files import TEMP_SUFFIX
from sd_dataset.lock import LOCK_NAME
from sd_dataset.tagging import FREQUENCY_FILE, MANIFEST

resource = pytest.importorskip("resource")  # POSIX only

ROOT = Path(__file__).resolve().parents[1]


def run(args, file_limit=None) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, preexec_fn=limit if file_limit is not None else None)


def refused_with_a_sentence(result, *words) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and line.endswith(".") and all(w in line for w in words), line
    return line


def state(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def no_leftovers(folder: Path) -> None:
    assert not [p for p in folder.rglob(f"*{TEMP_SUFFIX}")] and not (folder / LOCK_NAME).exists()


def tagged_source(folder: Path, images: int = 3, tags: int = 3, long_names: bool = False,
                  distinct: bool = False) -> Path:
    """Images named by md5 with fetch sidecars carrying ``tags`` general tags each (``distinct``: no two images
    share one)."""
    folder.mkdir()
    for i in range(images):
        md5 = hashlib.md5(f"image {i}".encode()).hexdigest()
        stem = ("neutral_picture_" * 12 + md5) if long_names else md5
        Image.new("RGB", (16, 16), (i * 60, 10, 10)).save(folder / f"{stem}.png")
        post = Post(id=100 + i, md5=md5, file_url=None, ext="png", rating="s",
                    tags={"general": [f"plain_tag_number_{n + (i * tags if distinct else 0):05d}"
                                      for n in range(tags)]})
        (folder / f"{md5}.json").write_text(json.dumps(post.to_json()))
    return folder


def tag_args(src: Path, out: Path) -> list[str]:
    return ["tag", str(src), "--out", str(out), "--offline", "--no-cache"]


def test_a_lock_file_the_disk_refuses_is_not_left_behind(tmp_path):
    """The full disk that left a 0-byte lock file, which later let two runs in: now nothing is left."""
    src = tagged_source(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    line = refused_with_a_sentence(run(["augment", str(src), "--out", str(out)], file_limit=0), LOCK_NAME)
    assert "file too large" in line
    assert list(out.iterdir()) == []
    assert run(["augment", str(src), "--out", str(out), "--min-size", "0"]).returncode == 0


def test_tags_csv_refused_by_the_disk(tmp_path):
    """Captions and tag sidecars of 400 tags fit; the table of three images' tags (none shared) does not."""
    src = tagged_source(tmp_path / "src", tags=400, distinct=True)
    clean, out = tmp_path / "clean", tmp_path / "out"
    assert run(tag_args(src, clean)).returncode == 0
    largest = max(p.stat().st_size for p in clean.iterdir() if p.name != FREQUENCY_FILE)
    table = (clean / FREQUENCY_FILE).stat().st_size
    assert largest + 1 < table
    refused_with_a_sentence(run(tag_args(src, out), file_limit=largest + 1), FREQUENCY_FILE, "file too large")
    no_leftovers(out)
    assert not (out / FREQUENCY_FILE).exists()
    assert {name: digest for name, digest in state(out).items()} == \
        {name: digest for name, digest in state(clean).items() if name != FREQUENCY_FILE}
    assert run(tag_args(src, out)).returncode == 0
    assert state(out) == state(clean)


def test_the_manifest_refused_by_the_disk(tmp_path):
    """Long names make the manifest the largest file: refused before any image is written."""
    src = tagged_source(tmp_path / "src", images=12, long_names=True)
    clean, out = tmp_path / "clean", tmp_path / "out"
    assert run(tag_args(src, clean)).returncode == 0
    manifest = (clean / MANIFEST).stat().st_size
    largest_other = max(p.stat().st_size for p in clean.iterdir() if p.name != MANIFEST)
    assert largest_other < manifest
    refused_with_a_sentence(run(tag_args(src, out), file_limit=manifest - 1), MANIFEST, "file too large")
    no_leftovers(out)
    assert list(out.iterdir()) == []
    assert run(tag_args(src, out)).returncode == 0
    assert state(out) == state(clean)


def test_augments_settings_refused_by_the_disk(tmp_path):
    src = tagged_source(tmp_path / "src")
    out = tmp_path / "out"
    settings = len(json.dumps({"settings": AugmentOptions().output_settings()}))  # less than the record holds
    line = refused_with_a_sentence(run(["augment", str(src), "--out", str(out), "--min-size", "0"],
                                       file_limit=settings), SETTINGS_FILE, "file too large")
    assert "lock" not in line  # the lock's description fits: it is the settings that were refused
    no_leftovers(out)
    assert list(out.iterdir()) == []
    assert run(["augment", str(src), "--out", str(out), "--min-size", "0"]).returncode == 0
    assert SETTINGS_FILE in os.listdir(out)
