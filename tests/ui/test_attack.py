"""The tab attacked as a web page would: from another origin and through a rebinding host name, over HTTP and the
queue, against the standalone app (a real ``python -m sd_dataset ui`` process holding an e621 login) and the tab
inside the (stand-in) web UI.

Each try is refused, nothing is written or read, and the booru server hears nothing; the same calls from the tab's
own page do run (so the harness can tell the difference).
"""

import json
import os
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from booru_server import ServerPost, image_bytes
from ui.conftest import free_port, launch_chromium
from ui.test_webui import webui  # noqa: F401  (the stand-in web UI with the extension loaded)

gr = pytest.importorskip("gradio")

REPO = Path(__file__).resolve().parents[2]
ATTACK_JS = (Path(__file__).parent / "attack.js").read_text(encoding="utf-8")
GRADIO_4 = int(gr.__version__.split(".")[0]) >= 4
USER, KEY = "alice", "s3cret-KEY-0123456789abcdef"
EVIL = "evil.example"


class Target:
    """A served tab, a private folder, and a victim folder the attacks aim at."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.work = tmp / "work"
        self.work.mkdir()
        (self.work / "notes.txt").write_text("private notes", encoding="utf-8")
        (self.work / "etc").symlink_to("/etc")
        self.private = tmp / "private"
        self.private.mkdir()
        from PIL import Image

        Image.new("RGB", (64, 64), (9, 9, 9)).save(self.private / "holiday.png")
        (self.private / "holiday.txt").write_text("diary caption", encoding="utf-8")
        self.victim = tmp / "victim"
        self.victim.mkdir()
        (self.victim / "notes.txt").write_text("keep me", encoding="utf-8")
        self.cache = tmp / "cache"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        pass

    def calls(self, booru_url: str) -> list[dict]:
        """Every event of the app with real values: fetch from the booru server, tag a private folder, write a
        template over the victim's notes, preview the private folder."""
        config = requests.get(self.url + "config", timeout=10).json()
        chosen = {"sdds_root": str(self.victim), "sdds_name": "stolen", "sdds_fetch_out": str(self.victim / "out"),
                  "sdds_base_url": booru_url, "sdds_query": "red_ball", "sdds_tag_src": str(self.private),
                  "sdds_tag_out": str(self.victim / "tagged"), "sdds_offline": False,
                  "sdds_tpl_dir": str(self.victim), "sdds_tpl_name": "notes", "sdds_tpl_overwrite": True,
                  "sdds_preview_folder": str(self.private), "sdds_aug_src": str(self.private),
                  "sdds_aug_out": str(self.victim / "train")}
        values = {}
        for component in config["components"]:
            props = component.get("props", {})
            values[component["id"]] = chosen.get(props.get("elem_id"), props.get("value"))
        return [{"fn_index": dep.get("id", index), "api_name": dep.get("api_name") or None,
                 "data": [values.get(i) for i in dep["inputs"]]}
                for index, dep in enumerate(config["dependencies"]) if dep.get("backend_fn", True)]

    def written(self) -> list[str]:
        """Everything the victim folder holds besides its notes, and whether the notes or thumbnails changed."""
        found = [str(p.relative_to(self.victim)) for p in self.victim.rglob("*") if p.name != "notes.txt"]
        if (self.victim / "notes.txt").read_text(encoding="utf-8") != "keep me":
            found.append("notes.txt overwritten")
        found += [str(p) for p in (self.cache / "sd_dataset" / "thumbs").rglob("*.jpg")] if self.cache.exists() else []
        return found


class App(Target):
    """The standalone app in a process of its own, in a working folder holding a private note and a link out."""

    def __init__(self, tmp: Path, extra_args=()):
        super().__init__(tmp)
        env = {**os.environ, "E621_USERNAME": USER, "E621_API_KEY": KEY, "XDG_CACHE_HOME": str(self.cache),
               "PYTHONPATH": str(REPO)}
        self.console = tmp / "console.log"  # a file, not a pipe: a full pipe would stall the app mid-attack
        with open(self.console, "wb") as console:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sd_dataset", "ui", "--no-browser", "--port", str(self.port),
                 "--root", str(tmp / "datasets"), *extra_args],
                cwd=self.work, env=env, stdout=console, stderr=subprocess.STDOUT)
        self._wait_up()

    def _wait_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the app exited: {self.console.read_text(errors='replace')}")
            try:
                if requests.get(self.url, timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        pytest.fail("the app did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class WebuiTab(Target):
    """The tab inside the stand-in web UI, served as web UI 1.10.1 serves it: its gradio app with gradio's allow-all
    CORS taken off, then the extensions' ``app_started`` callbacks."""

    def __init__(self, tmp: Path, monkeypatch):
        super().__init__(tmp)
        from modules import script_callbacks

        from sd_dataset.ui import enable_queue

        monkeypatch.setenv("E621_USERNAME", USER)
        monkeypatch.setenv("E621_API_KEY", KEY)
        monkeypatch.setenv("XDG_CACHE_HOME", str(self.cache))
        script_callbacks.ui_settings_callback()
        tabs = script_callbacks.ui_tabs_callback()  # built first, then rendered, as modules/ui.py create_ui does
        with gr.Blocks(analytics_enabled=False) as self.demo:
            for blocks, title, elem_id in tabs:
                with gr.Tab(title, id=elem_id):
                    blocks.render()
        enable_queue(self.demo)
        app, _, _ = self.demo.launch(server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True)
        app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ != "CORSMiddleware"]
        app.middleware_stack = None
        script_callbacks.app_started_callback(self.demo, app)

    def stop(self) -> None:
        self.demo.close()


@pytest.fixture
def app(tmp_path):
    started = []

    def start(*args) -> App:
        started.append(App(tmp_path, args))
        return started[-1]

    yield start
    for one in started:
        one.stop()


@pytest.fixture(params=["standalone", "webui"])
def target(request, tmp_path, monkeypatch):
    """The standalone app, or the tab in the web UI."""
    if request.param == "standalone":
        served = App(tmp_path)
    else:
        request.getfixturevalue("webui")
        served = WebuiTab(tmp_path, monkeypatch)
    yield served
    served.stop()


@pytest.fixture
def attacker(tmp_path):
    """A second local web server: the attacker's site, serving an empty page."""
    site = tmp_path / "attacker"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>cat pictures</title>", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", free_port()),
                                 partial(SimpleHTTPRequestHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture
def booru(booru_server):
    return booru_server([ServerPost(id=70 + i, data=image_bytes(i, size=(300, 300)),
                                    tags={"general": ["red_ball"]}) for i in range(3)])


def attack(page, target: App, base: str, booru_url: str) -> list[dict]:
    forged = {"origin": target.url.rstrip("/"), "host": f"127.0.0.1:{target.port}"}
    return page.evaluate(ATTACK_JS, {"base": base, "calls": target.calls(booru_url), "v4": GRADIO_4,
                                     "forged": forged})


def ran(result: dict) -> bool:
    """Whether a try reached the step: it answered with data rather than a refusal or an error."""
    if result.get("path") == "queue":
        return bool(result.get("success")) and "data" in (result.get("output") or {})
    return result.get("status") == 200 and '"data"' in result.get("text", "")


def assert_nothing_happened(target: App, booru, results: list[dict]) -> None:
    time.sleep(1)  # anything that did start would have asked the booru server by now
    assert [r for r in results if ran(r)] == []
    assert booru.requests == []
    assert target.written() == []
    leaked = [r for r in results if KEY in json.dumps(r) or "diary caption" in json.dumps(r)]
    assert leaked == []


def test_a_page_on_another_origin_runs_nothing(target, attacker, booru, browser):
    page = browser.new_page()
    page.goto(attacker)
    results = attack(page, target, target.url, booru.url)
    assert len(results) > 40  # every event, each way
    assert_nothing_happened(target, booru, results)
    refused = [r for r in results if "Refused" in json.dumps(r)]
    assert any(r["path"] == "queue" for r in refused) or GRADIO_4  # gradio 3's websocket answers pages anywhere


def test_a_rebinding_host_name_runs_nothing(target, booru, playwright):
    # the attacker's name now points at this computer: the page is the app's own, under the attacker's name
    browser = launch_chromium(playwright, [f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"])
    try:
        page = browser.new_page()
        page.goto(f"http://{EVIL}:{target.port}/")
        results = attack(page, target, "", booru.url)
    finally:
        browser.close()
    assert_nothing_happened(target, booru, results)
    assert all("Refused" in json.dumps(r) for r in results if r.get("path") == "run/predict" and "status" in r)


def test_the_tabs_own_page_runs_the_same_calls(target, booru, browser):
    """The control: from the tab's own page the harness's fetch does reach the booru server and write files."""
    page = browser.new_page()
    page.goto(target.url)
    calls = [c for c in target.calls(booru.url) if c["api_name"] == "fetch"]
    results = page.evaluate(ATTACK_JS, {"base": "", "calls": calls, "v4": GRADIO_4, "forged": {}})
    assert any(ran(r) for r in results), results
    assert booru.api_requests() and (target.victim / "out").is_dir()
    assert not [r for r in booru.api_requests() if "Authorization" in r.headers]  # not the site's own address


def test_the_app_serves_no_file_of_its_folder_and_no_cors(app):
    target = app()
    for path in ("file=notes.txt", f"file={target.work}/notes.txt", "file=etc/passwd", "file=/etc/passwd",
                 f"file={target.private}/holiday.txt"):
        answer = requests.get(target.url + path, timeout=10)
        assert answer.status_code in (403, 404), path
        assert "private notes" not in answer.text and "root:" not in answer.text
    answer = requests.get(target.url + "config", headers={"Origin": f"http://{EVIL}"}, timeout=10)
    assert "access-control-allow-origin" not in {k.lower() for k in answer.headers}


def test_listen_needs_the_origins_to_allow(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sd_dataset", "ui", "--listen", "--no-browser"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode != 0
    assert "--listen needs the addresses other computers will open the tab at" in result.stderr


def test_a_tab_built_inside_another_blocks_guards_every_event(tmp_path):
    """gradio 3 registers the events of a Blocks built inside another on the outer one: they are guarded too."""
    from sd_dataset.host import Host
    from sd_dataset.ui import GUARDED, build_ui

    with gr.Blocks() as outer:
        gr.Button("the host's own").click(lambda: None)
        build_ui(Host(datasets_root=tmp_path))
    events = list(outer.fns.values() if isinstance(outer.fns, dict) else outer.fns)
    assert len(events) > 20
    assert [getattr(e.fn, GUARDED, False) for e in events] == [False] + [True] * (len(events) - 1)
