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


STALE_CONTENTS = {
    "dead": lambda: json.dumps({"pid": dead_pid(), "step": "augment", "started": "2020-01-01 00:00:00"}),
    "ours": lambda: json.dumps({"pid": os.getpid(), "step": "augment", "started": "2020-01-01 00:00:00"}),
    "garbage": lambda: "{not json",
    "empty": lambda: "",
}


@pytest.mark.parametrize("content", sorted(STALE_CONTENTS))
def test_a_lock_file_nobody_holds_keeps_no_run_out(tmp_path, content):
    """A file left by a killed run, an empty one left by a full disk, a garbled one: only the OS lock counts."""
    src = images_folder(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(STALE_CONTENTS[content]())
    report = augment(src, out, AugmentOptions(min_size=0, size=32), workers=1)
    assert report.ok and report.written == 3
    assert sorted(p.name for p in out.iterdir()) == [SETTINGS_FILE] + [f"img{i}.{e}" for i in range(3)
                                                                        for e in ("png", "txt")]


HOLD = """
import sys, time
from pathlib import Path
from sd_dataset.lock import folder_lock
with folder_lock(Path(sys.argv[1]), "fetch"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("content", sorted(STALE_CONTENTS))
def test_a_live_run_keeps_its_folder_whatever_its_lock_file_says(tmp_path, content):
    """The file is only a description: emptied, garbled or naming a dead pid, it lets no second run in; once the
    holder is killed, the operating system has let its lock go and the next run takes it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid
        (tmp_path / LOCK_NAME).write_text(STALE_CONTENTS[content]())
        with pytest.raises(FolderBusy, match="Another sd_dataset run.* is using"):
            lock.acquire(tmp_path, "tag")
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with folder_lock(tmp_path, "tag") as info:
        assert json.loads((tmp_path / LOCK_NAME).read_text()) == info and info["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


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


def test_release_leaves_a_lock_file_that_is_not_its_own(tmp_path):
    """Someone deleted the file of a live run, and another run made its own: the first run's end removes only
    its own file."""
    first = lock.acquire(tmp_path, "fetch")
    (tmp_path / LOCK_NAME).unlink()
    second = lock.acquire(tmp_path, "tag")
    lock.release(first)
    assert json.loads((tmp_path / LOCK_NAME).read_text())["step"] == "tag"
    with pytest.raises(FolderBusy, match=r"tag \(pid "):
        lock.acquire(tmp_path, "augment")
    lock.release(second)
    assert not (tmp_path / LOCK_NAME).exists()


def _race(first: bool, folder: str, contents: list, barrier, results) -> None:
    """One of the racing runs: each round, the first writes what a dead run left, then all try at once."""
    for round_, content in enumerate(contents):
        barrier.wait()  # everyone let the last round's lock go
        if first and content is not None:
            Path(folder, LOCK_NAME).write_text(content)
        barrier.wait()
        try:
            with folder_lock(Path(folder), "race"):
                results.put((round_, "won"))
                barrier.wait()  # hold it until everyone has tried
        except FolderBusy:
            results.put((round_, "busy"))
            barrier.wait()


def test_three_runs_at_once_exactly_one_wins_whatever_file_was_left(tmp_path):
    """Three processes start together on a folder that holds no lock file, an empty one, a garbled one or a dead
    run's, twenty rounds in all: every round exactly one of them runs."""
    ctx = multiprocessing.get_context("spawn")
    n, rounds = 3, 5
    left = [None, "", "{not json", json.dumps({"pid": dead_pid(), "step": "fetch", "started": "2020-01-01"})]
    contents = left * rounds
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(i == 0, str(tmp_path), contents, barrier, results))
             for i in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(n * len(contents))]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    wins = [sum(1 for r, outcome in outcomes if r == round_ and outcome == "won") for round_ in range(len(contents))]
    assert wins == [1] * len(contents)
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
