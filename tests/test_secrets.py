"""Secrets: a full CLI pipeline (fetch → tag → augment) with a login, under faults, with -v logging; neither the API
key nor the basic-auth header's base64 form may appear in any output: stdout, stderr, or any file written
(images, sidecars, captions, the manifest, tags.csv, the SQLite post cache and its journal files)."""

import base64
import os
import subprocess
import sys
from pathlib import Path

from conftest import make_posts

ROOT = Path(__file__).resolve().parents[1]
USER, KEY = "alice", "s3cret-KEY-0123456789abcdef"


def cli(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sd_dataset", "-v", *args], cwd=ROOT, capture_output=True,
                          timeout=180, env=env)


def needles() -> list[bytes]:
    basic = base64.b64encode(f"{USER}:{KEY}".encode())
    return [KEY.encode(), basic, basic.rstrip(b"="), base64.b64encode(KEY.encode()).rstrip(b"="),
            KEY.encode("utf-16-le")]


def test_no_secret_in_any_output_of_a_full_run(booru_server, tmp_path):
    posts = make_posts(6)
    posts[2].hidden = True  # only a logged-in run gets its file: proves the login was used
    server = booru_server(posts, credentials=(USER, KEY), fault_rate=0.2, seed=3)
    server.script("/posts.json", ["429", "503"])  # at least two logged retries, whatever the draw
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "E621_USERNAME": USER, "E621_API_KEY": KEY}
    downloaded, tagged, train = tmp_path / "downloaded", tmp_path / "tagged", tmp_path / "train"
    results = [cli(["fetch", "red_ball", "--out", str(downloaded), "--base-url", server.url, "--rate", "2"], env)]
    # the tag step gets the login as flags, not from the environment, and asks the site (no sidecars there)
    plain = tmp_path / "plain"
    plain.mkdir()
    for image in downloaded.glob("*.png"):
        (plain / image.name).write_bytes(image.read_bytes())
    server.script("/posts.json", ["503"])
    flags_env = {k: v for k, v in env.items() if not k.startswith("E621_")}
    results.append(cli(["tag", str(plain), "--out", str(tagged), "--base-url", server.url, "--rate", "2",
                        "--username", USER, "--api-key", KEY], flags_env))
    results.append(cli(["augment", str(tagged), "--out", str(train), "--min-size", "0", "--size", "64"], env))
    for result in results:
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()

    assert len(list(downloaded.glob("*.png"))) == 6  # the hidden post too: the login was sent
    assert sum(1 for r in server.api_requests() if "Authorization" in r.headers) >= 3
    logs = b"".join(r.stderr for r in results)
    assert b"INFO: retrying e621 request" in logs  # -v really logged the retries
    assert (home / ".cache" / "sd_dataset").is_dir()  # the post cache was written

    outputs = {"stdout/stderr": b"".join(r.stdout + r.stderr for r in results)}
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            outputs[str(path.relative_to(tmp_path))] = path.read_bytes()
    assert any(name.endswith(".sqlite3") for name in outputs)
    assert any(name.endswith(".json") for name in outputs) and any(name.endswith("tags.csv") for name in outputs)
    leaks = [(name, needle) for name, data in outputs.items() for needle in needles() if needle in data]
    assert leaks == []
