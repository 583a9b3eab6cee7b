"""Secrets: full CLI pipelines (fetch → tag → augment) with a login, against servers that echo the login back in
every form it was sent in (posts' ids, tags, sources, file urls, error words), logging down to urllib3's DEBUG
lines; no form of the key may appear in any output: stdout, stderr, or any file written (images, sidecars,
captions, the manifest, tags.csv, the SQLite post cache and its journal files)."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

from booru_server import echo_forms
from conftest import make_posts
from site_servers import GelbooruServer
from sd_dataset.http import Credentials, Redactor

ROOT = Path(__file__).resolve().parents[1]
# "+", "/" and "=" come out differently raw, in a path, in a query and in base64
USER, KEY = "alice", "s3cret+KEY/0123=abc"
USER_ID = "12345"  # a Gelbooru-style login's "username"
LOGIN_PARAMS = ("user_id", "login")
# DEBUG from the start, so urllib3's lines (which print whole URLs) are written too; -v changes nothing then
DEBUG_MAIN = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, format='%(levelname)s %(name)s: "
              "%(message)s'); from sd_dataset.cli import main; sys.exit(main(sys.argv[1:]))")


def cli(args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DEBUG_MAIN, "-v", *args], cwd=ROOT, capture_output=True,
                          timeout=180, env=env)


def needles(user: str) -> list[bytes]:
    forms = echo_forms(user, KEY) + [f"{param}={user}" for param in LOGIN_PARAMS]
    return [form.encode() for form in forms] + [KEY.encode("utf-16-le")]


def home_env(tmp_path: Path) -> dict:
    """A home of the test's own, with no login in its environment (a stored login never goes to a test server)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_USERNAME", "_USER_ID", "_API_KEY"))}
    return {**env, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}


def pipeline(tmp_path: Path, site: list[str], env: dict, before_tag=None) -> list:
    """fetch → tag (of the images alone, so it asks the site) → augment; ``site`` names the site and the login."""
    downloaded, plain = tmp_path / "downloaded", tmp_path / "plain"
    results = [cli(["fetch", "red_ball", "--out", str(downloaded), *site], env)]
    plain.mkdir()  # images without their sidecars: tag must ask the site
    for image in downloaded.glob("*.png"):
        (plain / image.name).write_bytes(image.read_bytes())
    if before_tag:
        before_tag()
    results.append(cli(["tag", str(plain), "--out", str(tmp_path / "tagged"), *site], env))
    results.append(cli(["augment", str(tmp_path / "tagged"), "--out", str(tmp_path / "train"), "--min-size", "0",
                        "--size", "64"], env))
    return results


def every_output(tmp_path: Path, results: list) -> dict[str, bytes]:
    outputs = {"stdout/stderr": b"".join(r.stdout + r.stderr for r in results)}
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            outputs[str(path.relative_to(tmp_path))] = path.read_bytes()
    assert any(name.endswith(".sqlite3") for name in outputs)  # the post cache was written
    assert any(name.endswith(".json") for name in outputs) and any(name.endswith("tags.csv") for name in outputs)
    assert any(name.endswith(".txt") for name in outputs)
    return outputs


def leaks(outputs: dict[str, bytes], user: str) -> list[tuple[str, bytes]]:
    return [(name, needle) for name, data in outputs.items() for needle in needles(user) if needle in data]


def test_no_form_of_the_key_in_any_output_of_a_full_run(booru_server, tmp_path):
    posts = make_posts(6)
    posts[2].hidden = True  # only a logged-in run gets its file: proves the login was used
    server = booru_server(posts, credentials=(USER, KEY), fault_rate=0.2, seed=3, echo_key=True)
    server.script("/posts.json", ["429", "503"])  # at least two logged retries, whatever the draw
    env = home_env(tmp_path)
    site = ["--base-url", server.url, "--rate", "2", "--username", USER, "--api-key", KEY]
    results = pipeline(tmp_path, site, env, before_tag=lambda: server.script("/posts.json", ["503"]))
    server.script("/posts.json", ["echo422"])
    refused = cli(["fetch", "red_ball", "--out", str(tmp_path / "refused"), *site], env)

    fetched, tagged, augmented = results
    assert fetched.returncode == 1 and b"refused the site's data" in fetched.stdout
    assert b": post ***\n" in fetched.stdout  # the key as an id, scrubbed
    assert tagged.returncode == 0 and augmented.returncode == 0, tagged.stderr.decode() + augmented.stderr.decode()
    assert refused.returncode == 2 and b"rejected the request (HTTP 422): the key *** (***, ***)" in refused.stderr
    assert len(list((tmp_path / "downloaded").glob("*.png"))) == 6  # the hidden post too: the login was sent
    assert sum(1 for r in server.api_requests() if "Authorization" in r.headers) >= 3
    assert all(r.query == {"token": ["***"]} for r in server.file_requests())  # the echoed file url, scrubbed
    logs = b"".join(r.stderr for r in results)
    assert b"retrying e621 request" in logs and b"DEBUG urllib3.connectionpool" in logs
    outputs = every_output(tmp_path, [*results, refused])
    assert leaks(outputs, USER) == []


def test_no_form_of_a_query_login_in_any_output_of_a_gelbooru_run(site_server, tmp_path):
    server = site_server(GelbooruServer, make_posts(4), auth=(USER_ID, KEY), echo_key=True,
                         tag_types={"red_ball": 0})
    env = home_env(tmp_path)
    site = ["--booru", "gelbooru", "--base-url", server.url, "--rate", "2", "--username", USER_ID, "--api-key", KEY]
    results = pipeline(tmp_path, site, env)
    server.script("/index.php", ["echorefusal"])
    refused = cli(["fetch", "red_ball", "--out", str(tmp_path / "refused"), *site], env)

    for result in results:
        assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert len(list((tmp_path / "downloaded").glob("*.png"))) == 4
    assert refused.returncode == 2 and b"gelbooru refused the search (the key *** (***, ***)" in refused.stderr
    assert b"user_id=***&api_key=***" in refused.stderr
    assert b"DEBUG urllib3.connectionpool" in b"".join(r.stderr for r in results)
    caption = next((tmp_path / "tagged").glob("*.txt")).read_text()
    assert "red ball" in caption and "***" in caption  # the echoed tags, HTML-escaped one included, blanked
    outputs = every_output(tmp_path, [*results, refused])
    assert leaks(outputs, USER_ID) == []


def test_redactor_blanks_every_form_of_the_key_and_login_parameters():
    # with a space, a query's encoding (quote_plus) differs from a path's with nothing safe (quote, safe="")
    for user, key in ((USER, KEY), (USER_ID, KEY), (USER, "pass word+/0123=")):
        redactor = Redactor(Credentials(user, key).secret_forms())
        forms = echo_forms(user, key)
        text = " | ".join([*forms, *(f"https://x.invalid/?{p}={user}&tags=a" for p in LOGIN_PARAMS),
                           "api_key=other", "password_hash=abc#top"])
        redacted = redactor.text(text)
        assert [form for form in forms if form in redacted] == []
        assert redacted.count("***") == len(forms) + 4
        assert "?user_id=***&tags=a" in redacted and "?login=***&tags=a" in redacted
        assert "api_key=***" in redacted and "password_hash=***#top" in redacted
    # a bare user id is no secret (it may be a post's number): only its query-parameter form is blanked
    assert redactor.text(f"post {USER_ID} by user {USER_ID}") == f"post {USER_ID} by user {USER_ID}"


def test_redacted_json_keys_and_all_at_any_depth():
    redactor = Redactor(Credentials(USER, KEY).secret_forms())
    data = {KEY: [quote_plus(KEY), {"file_url": f"https://x.invalid/a.png?token={quote(KEY, safe='')}"}],
            "id": 3, "ok": None}
    assert redactor.json(data) == {"***": ["***", {"file_url": "https://x.invalid/a.png?token=***"}],
                                   "id": 3, "ok": None}
    assert redactor.json(KEY) == "***"
    deep = [{KEY: KEY}]
    for _ in range(100_000):  # far past the recursion limit: the walk must not recurse
        deep = [deep]
    node = redactor.json(deep)
    while isinstance(node[0], list):
        node = node[0]
    assert node == [{"***": "***"}]
    untouched = {KEY: KEY}
    assert Redactor(Credentials(USER).secret_forms()).json(untouched) is untouched  # no key: nothing walked
