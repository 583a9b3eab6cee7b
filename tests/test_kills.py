"""Kill suite: fetch, tag and augment run as ``python -m sd_dataset`` and are killed with SIGKILL at chosen points
(after N requests, while a file is half written); a rerun must end with the folder an uninterrupted run makes.

The whole process group is killed (a pool's workers die with the run, as when the session ends), and every kill
point is checked to have been reached before the kill: a run that finished first fails the test instead of passing
it vacuously.  After the kill, whatever stands under a final name must already be whole.
"""

import contextlib
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from booru_server import ServerPost, image_bytes
from conftest import make_posts
from sd_dataset.files import TEMP_SUFFIX, WRITE_PROBE
from sd_dataset.lock import LOCK_NAME

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def start(args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def run(args) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "sd_dataset", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def kill_when(proc: subprocess.Popen, reached, timeout: float = 60) -> None:
    """SIGKILL the run's process group as soon as ``reached()``; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    try:
        while not reached():
            if proc.poll() is not None:
                pytest.fail(f"the run ended (exit {proc.returncode}) before the kill point: "
                            f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point was never reached")
            time.sleep(0.002)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(f"*{TEMP_SUFFIX}")] if folder.exists() else []


def writing(folder: Path) -> dict[Path, int]:
    """Temporary files being written and their sizes, leaving out the writability probe: it comes and goes in an
    instant, so it is no kill point, and it may vanish between listing and ``stat``."""
    sizes = {}
    for part in temps(folder):
        if part.name.startswith(f".{WRITE_PROBE}."):
            continue
        try:
            sizes[part] = part.stat().st_size
        except FileNotFoundError:
            continue  # renamed to its final name just now
    return sizes


def outputs(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")] if folder.exists() else []


def state(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_same_as_clean(folder: Path, clean: Path) -> None:
    assert state(folder) == state(clean)
    assert not temps(folder) and not (folder / LOCK_NAME).exists()


# --------------------------------------------------------------------------- fetch


def noise_png(seed: int, side: int) -> bytes:
    img = Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


@pytest.fixture
def fetch_world(booru_server, tmp_path):
    posts = make_posts(12)
    big = ServerPost(id=5000, data=noise_png(5000, 700))  # over 1 MiB: several chunks, so it can be half written
    posts.append(big)
    server = booru_server(posts)
    server.trickle_seconds = 3.0
    clean = tmp_path / "clean"
    run(["fetch", "red_ball", "--out", str(clean), "--base-url", server.url, "--rate", "2"])
    server.requests.clear()
    return server, posts, big, clean


def fetch_args(server, out: Path) -> list[str]:
    return ["fetch", "red_ball", "--out", str(out), "--base-url", server.url, "--rate", "2", "--workers", "2"]


def assert_fetch_whole(out: Path) -> None:
    for image in out.glob("*.png"):
        assert hashlib.md5(image.read_bytes()).hexdigest() == image.stem, f"{image.name} is not whole"
    for sidecar in out.glob("*.json"):
        json.loads(sidecar.read_text())


@pytest.mark.parametrize("after_requests", [1, 7])
def test_fetch_killed_after_n_requests(fetch_world, tmp_path, after_requests):
    server, posts, big, clean = fetch_world
    server.script("/data/", ["slow"] * len(posts))  # 0.3 s a file: the kill lands among the downloads
    out = tmp_path / "out"
    proc = start(fetch_args(server, out))
    kill_when(proc, lambda: len(server.requests) >= after_requests)
    assert_fetch_whole(out)
    assert len(list(out.glob("*.png"))) < len(posts)
    assert (out / LOCK_NAME).exists()  # a killed run leaves its lock: the rerun must take it over
    run(fetch_args(server, out))
    assert_same_as_clean(out, clean)


def test_fetch_killed_while_a_file_is_half_written(fetch_world, tmp_path):
    server, posts, big, clean = fetch_world
    server.script("/data/", ["trickle"] * len(posts))
    out = tmp_path / "out"
    proc = start(fetch_args(server, out) + ["--workers", "1"])
    kill_when(proc, lambda: any(writing(out).values()))
    half = [p for p, size in writing(out).items() if size > 0]
    assert half, "no half-written file at the kill"
    assert_fetch_whole(out)
    server._scripts.clear()  # the rerun downloads at full speed
    run(fetch_args(server, out))
    assert_same_as_clean(out, clean)


# --------------------------------------------------------------------------- tag


@pytest.fixture
def tag_world(booru_server, tmp_path):
    posts = [ServerPost(id=7000 + i, data=image_bytes(7000 + i), tags={"general": [f"tag_{i % 5}", "red_ball"]})
             for i in range(300)]
    server = booru_server(posts)
    src = tmp_path / "src"
    src.mkdir()
    for i, post in enumerate(posts):
        (src / f"{i:03d}-{post.md5}.png").write_bytes(post.data)
    clean = tmp_path / "clean"
    run(tag_args(server, src, clean, tmp_path / "clean-cache"))
    server.requests.clear()
    return server, src, clean


def tag_args(server, src: Path, out: Path, cache: Path) -> list[str]:
    return ["tag", str(src), "--out", str(out), "--base-url", server.url, "--rate", "2", "--cache", str(cache),
            "--caption", "both"]


def assert_tag_whole(src: Path, out: Path) -> None:
    by_md5 = {p.stem.split("-", 1)[1]: p.read_bytes() for p in src.glob("*.png")}
    for image in out.glob("*.png"):
        # caption-named copies: which source is shown by the md5 of the bytes
        assert hashlib.md5(image.read_bytes()).hexdigest() in by_md5, f"{image.name} is not whole"


def test_tag_killed_while_asking_the_site(tag_world, tmp_path):
    server, src, clean = tag_world
    server.script("/posts.json", ["slow"])
    out = tmp_path / "out"
    proc = start(tag_args(server, src, out, tmp_path / "cache"))
    kill_when(proc, lambda: len(server.api_requests()) >= 1)
    assert not outputs(out)
    run(tag_args(server, src, out, tmp_path / "cache"))
    assert_same_as_clean(out, clean)


@pytest.mark.parametrize("point", ["first-write", "many-written"])
def test_tag_killed_while_writing(tag_world, tmp_path, point):
    server, src, clean = tag_world
    out = tmp_path / "out"
    proc = start(tag_args(server, src, out, tmp_path / "cache"))
    if point == "first-write":
        kill_when(proc, lambda: bool(writing(out)))
    else:
        kill_when(proc, lambda: len(outputs(out)) >= 200)
    assert_tag_whole(src, out)
    assert len(outputs(out)) < len(state(clean))
    run(tag_args(server, src, out, tmp_path / "cache"))
    assert_same_as_clean(out, clean)


# --------------------------------------------------------------------------- augment


@pytest.fixture(scope="module")
def aug_world(tmp_path_factory):
    base = tmp_path_factory.mktemp("aug")
    src = base / "src"
    src.mkdir()
    for i in range(8):
        Image.frombytes("RGB", (900, 1400), random.Random(i).randbytes(900 * 1400 * 3)).save(src / f"img{i}.png",
                                                                                             compress_level=1)
        (src / f"img{i}.txt").write_text(f"caption {i}")
    clean = base / "clean"
    run(aug_args(src, clean))
    return src, clean


def aug_args(src: Path, out: Path) -> list[str]:
    return ["augment", str(src), "--out", str(out), "--keep-size", "--flip", "--split", "--workers", "2"]


@pytest.mark.parametrize("point", ["first-write", "half-done"])
def test_augment_killed_while_writing(aug_world, tmp_path, point):
    src, clean = aug_world
    out = tmp_path / "out"
    proc = start(aug_args(src, out))
    if point == "first-write":
        kill_when(proc, lambda: bool(writing(out)))
    else:
        kill_when(proc, lambda: len(outputs(out)) >= len(state(clean)) // 2)
    for image in out.glob("*.png"):
        with Image.open(image) as img:
            img.load()  # whole: decodes to the end
    run(aug_args(src, out))
    assert_same_as_clean(out, clean)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is still a live process (a zombie waiting for its reaper counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_outlived_by_none(proc: subprocess.Popen, workers: list[int]) -> None:
    """SIGKILL the run ``proc`` alone (not its group); each of its ``workers`` must then end by itself."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if running(pid)] == [], "workers outlived the run"


def kill_group(proc: subprocess.Popen) -> None:
    """Whatever is left of the run's process group, so that the suite leaves nothing behind even when it fails."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process table from /proc")
def test_augment_workers_end_when_the_run_is_killed(aug_world, tmp_path):
    """Only the run itself is killed, not its group: its two workers, busy decoding, must end on their own (they
    were once left running forever, 24 orphans from 12 kills)."""
    src, clean = aug_world
    out = tmp_path / "out"
    proc = start(aug_args(src, out))
    try:
        deadline = time.monotonic() + 60
        while not (len(children_of(proc.pid)) >= 2 and writing(out)):
            assert proc.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.01)
        workers = children_of(proc.pid)
        assert_outlived_by_none(proc, workers)
    finally:
        kill_group(proc)
        proc.stderr.close()
    run(aug_args(src, out))
    assert_same_as_clean(out, clean)


FORKSERVER_POOL = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from sd_dataset.pools import end_with_parent

if __name__ == "__main__":
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"), initializer=end_with_parent,
                               initargs=(os.getpid(),))
    for pid in {pool.submit(os.getpid).result() for _ in range(8)}:
        print(pid, flush=True)
    pool.submit(time.sleep, 600)
    print("busy", flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process table from /proc")
def test_workers_whose_parent_is_not_the_run_watch_it_instead(tmp_path):
    """Under forkserver a worker's parent is the fork server, so the kernel's parent-death signal would watch the
    wrong process: the worker's own thread watches the run (the way every worker off Linux ends)."""
    script = tmp_path / "pool.py"
    script.write_text(FORKSERVER_POOL)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        workers = []
        for line in proc.stdout:  # the workers' pids, until one of them is busy (or the script ended: none)
            if line == "busy\n":
                break
            workers.append(int(line))
        assert workers and proc.pid not in workers and all(running(pid) for pid in workers)
        assert_outlived_by_none(proc, workers)
    finally:
        kill_group(proc)
        proc.stdout.close()
