"""One run per folder: the lock file, its refusal sentence, stale takeover, and that no step mistakes it for data."""

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import client_for, make_posts
from sd_dataset import lock
from sd_dataset.augment import SETTINGS_FILE, AugmentOptions, augment, list_sources
from sd_dataset.errors import Cancelled, DatasetError
from sd_dataset.fetch import fetch
from sd_dataset.lock import LOCK_NAME, FolderBusy, folder_lock
from sd_dataset.progress import Progress
from sd_dataset.tagging import TagOptions, tag_folder

ROOT = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def images_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (64, 64), (i * 40, 0, 0)).save(folder / f"img{i}.png")
        (folder / f"img{i}.txt").write_text(f"caption {i}")
    return folder


def test_second_run_refuses_naming_the_first(booru_server, tmp_path):
    server = booru_server(make_posts(2))
    with folder_lock(tmp_path, "fetch") as held:
        with pytest.raises(FolderBusy) as err:
            fetch(client_for(server), "red_ball", tmp_path)
        text = str(err.value)
        assert f"pid {os.getpid()}" in text and held["started"] in text and "fetch" in text
        assert text.endswith(".") and str(tmp_path) in text
        assert server.requests == []  # refused before any work
        src = images_folder(tmp_path.parent / "src")
        with pytest.raises(FolderBusy):
            augment(src, tmp_path, AugmentOptions(min_size=0), workers=1)
        with pytest.raises(FolderBusy):
            tag_folder(src, tmp_path, TagOptions(keep_untagged=True))
    assert not (tmp_path / LOCK_NAME).exists()
    assert fetch(client_for(server), "red_ball", tmp_path).downloaded == 2


def test_cli_refusal_is_one_sentence(tmp_path):
    src = images_folder(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out, "tag"):
        result = subprocess.run([sys.executable, "-m", "sd_dataset", "augment", str(src), "--out", str(out)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: Another sd_dataset run, tag (pid ") and f"pid {os.getpid()}" in line
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("content", ["dead", "reused", "garbage", "empty"])
def test_stale_lock_is_taken_over(tmp_path, content):
    src = images_folder(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    info = {"pid": dead_pid(), "step": "augment", "started": "2020-01-01 00:00:00", "token": "old"}
    if content == "reused":  # our own pid, but recorded with another start: the pid was reused
        info.update(pid=os.getpid(), proc_start="1", host=None)
    text = {"garbage": "{not json", "empty": ""}.get(content, json.dumps(info))
    (out / LOCK_NAME).write_text(text)
    report = augment(src, out, AugmentOptions(min_size=0, size=32), workers=1)
    assert report.ok and report.written == 3
    assert sorted(p.name for p in out.iterdir()) == [SETTINGS_FILE] + [f"img{i}.{e}" for i in range(3)
                                                                        for e in ("png", "txt")]


def test_lock_never_left_by_failing_or_cancelled_runs(booru_server, tmp_path):
    server = booru_server(make_posts(3))
    server.script("/posts.json", ["503"] * 10)
    with pytest.raises(DatasetError):
        fetch(client_for(server, max_tries=2), "red_ball", tmp_path / "f")
    assert not (tmp_path / "f" / LOCK_NAME).exists()
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        augment(images_folder(tmp_path / "src"), tmp_path / "a", AugmentOptions(min_size=0), workers=1,
                progress=progress)
    assert not (tmp_path / "a" / LOCK_NAME).exists()


def test_release_leaves_someone_elses_lock(tmp_path):
    info = lock.acquire(tmp_path, "fetch")
    (tmp_path / LOCK_NAME).write_text(json.dumps({**info, "token": "other"}))
    lock.release(tmp_path, info)
    assert (tmp_path / LOCK_NAME).exists()


def _race(folder: str, barrier, results) -> None:
    barrier.wait()
    try:
        with folder_lock(Path(folder), "race"):
            results.put("won")
            barrier.wait()  # hold it until everyone has tried
    except FolderBusy:
        results.put("busy")
        barrier.wait()


def test_simultaneous_runs_exactly_one_wins(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in range(n))
    assert outcomes == ["busy"] * (n - 1) + ["won"]
    assert not (tmp_path / LOCK_NAME).exists()


def test_steps_never_take_a_lock_file_for_data(tmp_path):
    """A lock copied along with a folder (or left beside its images) is neither an image nor a caption."""
    src = images_folder(tmp_path / "src")
    (src / LOCK_NAME).write_text(json.dumps({"pid": 1, "step": "fetch"}))
    sources, ignored = list_sources(src)
    assert [p.name for p in sources] == ["img0.png", "img1.png", "img2.png"] and ignored == 0
    report = tag_folder(src, tmp_path / "tagged", TagOptions(keep_untagged=True))
    assert report.images == 3
    assert not (tmp_path / "tagged" / LOCK_NAME).exists()
