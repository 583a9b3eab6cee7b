"""Drive the Dataset tab of a running web UI in headless Chromium, as a user would.

Run-all against the tests' e621-shaped server on 127.0.0.1, then, from the tab's Train section, a few steps of
embedding training and of hypernetwork training with stepped schedules, a supervised run of a few segments, a run
stopped with the Interrupt button, and a run the page is reloaded during (it must show the run going on, refuse a
second Train, and show its result).
It prints every log the tab shows (each run's own: a log is emptied before its button is pressed) and saves
screenshots; the web UI's own console shows the training.  A raw gradio error in a log (the web UI's red "Error",
which no step of the tab should ever show) stops it at once with that error's message.

    python devtools/real-webui/drive_tab.py [--url http://127.0.0.1:7860] [--steps 4] [--phase all]

``--phase issue17`` (not part of ``all``) checks instead, each printed PASS or FAIL with its log: a folder no site
knows tagged by a tiny ONNX tagger (``tests/tiny_tagger.py``) typed into "Local tagger"; re-encoded copies of the
server's posts found by the image search (IQDB), and a rerun that asks the server nothing; split tiles whose tile
captions drop the tags the tagger does not see in them; a CLIP aesthetic embedding made from the Train section (the
web UI needs the aesthetic-gradients extension and an SD1 checkpoint; on a CPU ``offline_clip.py --weights``); and
one sentence each for tile captions without a tagger, a tagger folder that does not exist and, offline, the web
UI's own DeepDanbooru, whose model cannot be downloaded (twice: a second Tag must not tag with what the failed load
left).  It exits 1 on any
FAIL.  Its pictures and model go to ``--work`` (emptied first), which the web UI must be able to read.

Needs the test extra (Playwright) and Debian's chromium.  Set the web UI's "training_write_csv_every" to 1 first,
or short runs write no loss log (the tab's readiness check says so).
"""

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from booru_server import BooruServer, ServerPost, image_bytes, picture_bytes, resaved_copy  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

TAB = "#tab_sd_dataset"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# a run's log starts with its state once it has ended; a Train refused before any run starts is one error line
TRAINING_DONE = r"^(finished|failed|interrupted|not started): |^error: "
PROGRESS = r"^running: .*: [1-9][0-9]* of [0-9]+ steps"


class GradioError(Exception):
    """The tab showed a raw gradio error instead of a step's sentence."""


class Tab:
    def __init__(self, page, shots: Path):
        self.page, self.shots = page, shots

    def put(self, target: str, value):
        """Put ``value`` into a box with no typing, as a paste does; the box.  ``target`` is an element id, or
        ``label=…`` for a field of the tab found by its label."""
        if target.startswith("label="):
            box = self.page.locator(TAB).get_by_label(target[6:], exact=True).first
        else:
            box = self.page.locator(f"#{target} textarea, #{target} input").first
        box.fill(str(value))
        box.dispatch_event("input")
        return box

    def fill(self, target: str, value) -> None:
        self.put(target, value).press("Tab")

    def paste(self, elem_id: str, value, keyup: bool = True) -> None:
        """``put``, then leave the box; ``keyup``: a key released in it first, which a gradio 3.41 dropdown that
        takes a custom value needs before it takes the text."""
        box = self.put(elem_id, value)
        if keyup:
            box.press("End")
        box.evaluate("b => b.blur()")

    def tick(self, elem_id: str, on: bool = True) -> None:
        self.page.locator(f"#{elem_id} input[type=checkbox]").first.set_checked(on)

    def press(self, button: str, elem_id: str, pattern: str, timeout_s: float) -> str:
        """Empty the log, press the button, and the log once it matches ``pattern``."""
        self.clear(elem_id)
        self.page.click(f"#{button}")
        return self.wait_log(elem_id, pattern, timeout_s)

    def log(self, elem_id: str) -> str:
        return self.page.locator(f"#{elem_id} textarea").first.input_value()

    def clear(self, elem_id: str) -> None:
        """Empty a log, so that what it shows next is the next event's own output."""
        self.page.evaluate("id => { document.querySelector(`#${id} textarea`).value = ''; }", elem_id)

    def wait_log(self, elem_id: str, pattern: str, timeout_s: float) -> str:
        """The log once it matches ``pattern``; GradioError as soon as the log shows a raw gradio
        error (gradio 3 and 4 mark the output with an ``.error`` badge and, with show_error, a toast)."""
        outcome = self.page.wait_for_function("""([id, p]) => {
            if (document.querySelector(`#${id} .error`)) return "error";
            const b = document.querySelector(`#${id} textarea`);
            return b && new RegExp(p).test(b.value) ? "log" : false; }""",
                                              arg=[elem_id, pattern], timeout=timeout_s * 1000).json_value()
        if outcome == "error":
            toasts = [" ".join(t.split()).removeprefix("Error").removesuffix("×").strip()
                      for t in self.page.locator(".toast-body.error").all_inner_texts()]
            said = " / ".join(dict.fromkeys(t for t in toasts if t)) or "no message; see the web UI's console"
            raise GradioError(f"{elem_id} shows a raw gradio error ({said}) instead of a sentence")
        return self.log(elem_id)

    def open(self, url: str) -> None:
        """The Dataset tab of a freshly loaded page, the dataset named, its Train section open."""
        self.page.goto(url, timeout=120_000)
        self.page.get_by_role("button", name="Dataset", exact=True).first.click()
        self.fill("sdds_name", "e2e_ball")
        self.page.wait_for_function("() => document.querySelector('#sdds_aug_out textarea').value.endsWith('train')")

    def open_train(self) -> None:
        self.page.get_by_text("5 · Train").click()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def train(self, kind: str, name: str, schedule: str, steps: int, preview_every: int, extra=(),
              interrupt: bool = False, reload_with=None) -> str:
        """Check, then Train, and wait for the run's end; ``interrupt``: press Interrupt once a step is done;
        ``reload_with``: call it once a step is done (it reloads the page)."""
        self.page.locator(TAB).get_by_label(kind, exact=True).first.check()
        self.fill("sdds_train_name", name)
        self.fill("sdds_learn_rate", schedule)
        self.fill("sdds_steps", steps)
        for label, value in [("Width", 256), ("Height", 256), ("Save a copy every N steps", 2),
                             ("Preview image every N steps", preview_every), *extra]:
            self.fill(f"label={label}", value)
        self.clear("sdds_train_log")
        self.page.click("#sdds_check_run")
        checked = self.wait_log("sdds_train_log", r"\w", 60)
        print(f"check {kind} {name}:\n{checked}", flush=True)
        started = time.monotonic()
        self.clear("sdds_train_log")
        self.page.click("#sdds_train_run")
        if interrupt or reload_with is not None:
            text = self.wait_log("sdds_train_log", f"{PROGRESS}|{TRAINING_DONE}", 1800)
            print(f"after the first step:\n{text}", flush=True)
            if text.startswith("running: ") and interrupt:
                self.page.click("#sdds_train_cancel")
            elif text.startswith("running: "):
                reload_with()
        text = self.wait_log("sdds_train_log", TRAINING_DONE, 3600)
        print(f"train {kind} {name} ({time.monotonic() - started:.0f} s):\n{text}\n", flush=True)
        self.shot(f"train-{name}")
        return text

    def reload_and_train_again(self, url: str) -> None:
        """Reload the page during a run: it must show the run going on, and refuse a second Train."""
        self.open(url)
        self.open_train()
        print(f"after the reload:\n{self.wait_log('sdds_train_log', r'^running: ', 120)}", flush=True)
        self.shot("reloaded")
        self.page.click("#sdds_train_run")
        refused = self.wait_log("sdds_train_log", "another Train was refused", 120)
        print(f"a second Train:\n{refused.splitlines()[-1]}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--phase", choices=["all", "prepare", "embedding", "hypernetwork", "supervised", "interrupt",
                                            "reload", "issue17"], default="all")
    parser.add_argument("--work", type=Path, default=Path("real-webui-issue17").resolve(),
                        help="issue17: the folder its pictures, model and outputs go to (emptied first)")
    parser.add_argument("--preview-every", type=int, default=0, metavar="N",
                        help="ask the trainer for a preview image every N steps (slow on a CPU)")
    parser.add_argument("--shots", type=Path, default=Path("real-webui-shots"))
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    if args.phase == "issue17":
        return issue17_main(args)
    posts = [ServerPost(id=2000 + i, data=image_bytes(i, size=(320, 400)),
                        tags={"artist": ["some_artist"], "general": ["red_ball", "blue_sky", f"shape_{i % 3}"]})
             for i in range(6)]
    with BooruServer(posts, enforce_rate=False) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        tab = Tab(browser.new_page(viewport={"width": 1500, "height": 2400}), args.shots)
        try:
            results = drive(tab, args, server, len(posts))
        except GradioError as exc:
            tab.shot("gradio-error")
            print(f"gave up: {exc}", file=sys.stderr, flush=True)
            return 2
        finally:
            browser.close()
    return 0 if all(re.search(r"^(finished|interrupted): ", text) for text in results) else 1


def drive(tab: Tab, args, server, count: int) -> list:
    """The phases asked for; each training run's log as it ended."""
    tab.open(args.url)
    if args.phase in ("all", "prepare"):
        tab.fill("sdds_base_url", server.url)
        tab.fill("sdds_query", "red_ball")
        tab.fill("sdds_limit", count)
        tab.clear("sdds_all_log")
        tab.page.click("#sdds_run_all")
        print("run all:\n" + tab.wait_log("sdds_all_log", r"(all steps done|error|stopped)", 600), flush=True)
        tab.shot("run-all")
    tab.open_train()
    supervised = tab.page.locator(TAB).get_by_label("Supervised: watch the loss, revert and step down")
    results = []
    if args.phase in ("all", "embedding"):
        results.append(tab.train("embedding", "e2e-emb", "0.005:2, 0.001", args.steps, args.preview_every))
    if args.phase in ("all", "hypernetwork"):
        results.append(tab.train("hypernetwork", "e2e-hn", "0.00005:2, 0.00001", args.steps, args.preview_every))
    if args.phase in ("all", "supervised"):
        supervised.check()
        results.append(tab.train("embedding", "e2e-sup", "0.005", args.steps + 2, args.preview_every,
                                 [("Segment (steps)", 2)]))
        print("supervisor decisions:\n" + tab.log("sdds_decisions"))
        supervised.uncheck()
    if args.phase in ("all", "interrupt"):
        results.append(tab.train("embedding", "e2e-int", "0.005", 50, 0, interrupt=True))
    if args.phase in ("all", "reload"):
        # three times as long, so that it still runs when the reloaded page is back
        text = tab.train("embedding", "e2e-reload", "0.005", 3 * args.steps, 0,
                         reload_with=lambda: tab.reload_and_train_again(args.url))
        results.append(text)
        if "another Train was refused" not in text:
            print("the second Train was not refused in the run's log", flush=True)
            results.append("")
    return results


# -- issue 17: the tagger, the image search, tile captions, the aesthetic embedding --------------------------------

TAG_DONE = r"API requests: \d+|error: "
AUGMENT_DONE = r"images: \d+ augmented|error: "
AESTHETIC_DONE = r"made the aesthetic embedding|interrupted: |error: "
IQDB_LOGIN = ("e2e-user", "e2e-key-0417")
COLOURS = {"red": (220, 20, 20), "blue": (20, 20, 220), "white": (250, 250, 250)}


class Checks:
    def __init__(self):
        self.failed: list[str] = []

    def __call__(self, name: str, ok: bool, text: str) -> bool:
        print(f"{'PASS' if ok else 'FAIL'} {name}\n" + "\n".join(f"    {line}" for line in text.splitlines())
              + "\n", flush=True)
        if not ok:
            self.failed.append(name)
        return ok


def one_sentence_error(text: str) -> bool:
    """A log that is one error line: a sentence saying what is wrong and what to do, no traceback."""
    lines = text.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith(".") and "Traceback" not in text


def issue17_world(work: Path, posts: list) -> dict:
    """The folders a user would have on disk: pictures no site knows, copies of the server's posts, wide captioned
    pictures, and a tagger model folder."""
    from tiny_tagger import write_wd14

    if work.exists():
        shutil.rmtree(work)
    unknown, copies, wide = work / "unknown", work / "copies", work / "wide"
    for folder in (unknown, copies, wide):
        folder.mkdir(parents=True)
    for name, colour in COLOURS.items():  # square: the tagger pads others white, which pales their colours
        Image.new("RGB", (48, 48), colour).save(unknown / f"{name}.png")
    for i, post in enumerate(posts):
        (copies / f"holiday {i}.jpg").write_bytes(resaved_copy(post.data))
    for i in range(2):  # split into three tiles at 512: red on the left, blue on the right
        img = Image.new("RGB", (1024, 512), COLOURS["red"])
        img.paste(COLOURS["blue"], (512, 0, 1024, 512))
        img.save(wide / f"wide {i}.png")
        (wide / f"wide {i}.txt").write_text(f"red background, blue background, looking left, pose {i}")
    return dict(unknown=unknown, copies=copies, wide=wide, model=write_wd14(work / "wd-tiny-tagger"),
                missing=work / "no-such-model")


def issue17_main(args) -> int:
    posts = [ServerPost(id=1700 + i, data=picture_bytes(1700 + i), rating="s",
                        tags={"general": ["red_ball", f"thing_{i}"], "species": [f"species_{i}"]}) for i in range(3)]
    world = issue17_world(args.work, posts)
    checks = Checks()
    with BooruServer(posts, credentials=IQDB_LOGIN, enforce_rate=False) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        tab = Tab(browser.new_page(viewport={"width": 1500, "height": 2400}), args.shots)
        try:
            issue17(tab, args, server, world, checks)
        except GradioError as exc:
            tab.shot("gradio-error")
            checks("no raw gradio error", False, str(exc))
        finally:
            browser.close()
    print(f"issue17: {len(checks.failed)} FAIL" + (f" ({', '.join(checks.failed)})" if checks.failed else ""),
          flush=True)
    return 1 if checks.failed else 0


def issue17(tab: Tab, args, server, world: dict, checks: Checks) -> None:
    out = args.work / "out"
    tab.open(args.url)
    tab.fill("sdds_base_url", server.url)

    # the known gradio 3.41 quirk: a path pasted into the dropdown, with no key released in it, is not taken
    tab.paste("sdds_tagger", world["model"], keyup=False)
    tab.fill("sdds_tag_src", world["unknown"])
    tab.fill("sdds_tag_out", out / "quirk")
    text = tab.press("sdds_tag_run", "sdds_tag_log", TAG_DONE, 300)
    print(f"INFO the dropdown quirk: a pasted tagger path without a keyup was "
          f"{'taken' if 'posts from: tagger' in text else 'not taken'}\n    " + text.splitlines()[0] + "\n",
          flush=True)

    tab.paste("sdds_tagger", world["model"])
    tab.fill("sdds_tag_out", out / "tagger")
    started = time.monotonic()
    text = tab.press("sdds_tag_run", "sdds_tag_log", TAG_DONE, 300)
    checks(f"tagger: pictures no site knows tagged by the local tagger ({time.monotonic() - started:.1f} s)",
           "posts from: tagger 3" in text and "tagged 3" in text and "wd-tiny-tagger" in text
           and all(f"{colour} background" in text for colour in COLOURS), text)
    tab.shot("issue17-tagger")

    tab.paste("sdds_tagger", "")
    tab.fill("sdds_login_user", IQDB_LOGIN[0])
    tab.fill("sdds_login_key", IQDB_LOGIN[1])
    tab.tick("sdds_iqdb")
    tab.fill("sdds_tag_src", world["copies"])
    tab.fill("sdds_tag_out", out / "iqdb")
    started, before = time.monotonic(), len(server.requests)
    text = tab.press("sdds_tag_run", "sdds_tag_log", TAG_DONE, 600)
    searches = sum(1 for r in server.requests[before:] if r.path == "/iqdb_queries.json")
    checks(f"IQDB: re-encoded copies found by the image search ({searches} searches, "
           f"{time.monotonic() - started:.1f} s)", "image look-up (IQDB, score at least 80) 3" in text, text)
    before = len(server.requests)
    text = tab.press("sdds_tag_run", "sdds_tag_log", TAG_DONE, 600)
    asked = len(server.requests) - before
    checks(f"IQDB: the rerun asks the server nothing ({asked} requests)",
           asked == 0 and "API requests: 0" in text and "image look-up (IQDB, score at least 80) 3" in text, text)
    tab.tick("sdds_iqdb", False)
    tab.shot("issue17-iqdb")

    tab.fill("sdds_aug_src", world["wide"])
    tab.fill("sdds_aug_out", out / "tiles-error")
    tab.tick("sdds_split")
    tab.tick("sdds_tile_captions")
    text = tab.press("sdds_aug_run", "sdds_aug_log", AUGMENT_DONE, 300)
    checks("one sentence: tile captions without a tagger",
           one_sentence_error(text) and '"Local tagger"' in text and '"Tile captions"' in text, text)

    # the web UI's own DeepDanbooru downloads its model on first use: offline that fails, and so must a second Tag
    # (not tag with what the failed load left); another step's sentence in between, since gradio leaves a log
    # showing the same text as before untouched, and the emptied log would never fill
    tab.fill("sdds_tag_src", world["unknown"])
    for attempt in (1, 2):
        tab.page.locator("#sdds_tagger input").first.click()
        tab.page.locator("#sdds_tagger ul li", has_text="DeepDanbooru").first.click()
        tab.fill("sdds_tag_out", out / f"deepbooru-{attempt}")
        text = tab.press("sdds_tag_run", "sdds_tag_log", TAG_DONE, 600)
        if "tagged by the local tagger DeepDanbooru" in text:
            checks("DeepDanbooru: the web UI has its model and tags", "top tags of" in text, text)
            break
        checks(f"one sentence: the web UI's DeepDanbooru without its model (press {attempt})",
               one_sentence_error(text) and "torch_deepdanbooru" in text, text)
        if attempt == 1:
            tab.paste("sdds_tagger", world["missing"])
            tab.fill("sdds_tag_out", out / "missing-model")
            text = tab.press("sdds_tag_run", "sdds_tag_log", TAG_DONE, 300)
            checks("one sentence: a tagger model folder that does not exist",
                   one_sentence_error(text) and str(world["missing"]) in text and "does not exist" in text, text)

    tab.paste("sdds_tagger", world["model"])
    tab.fill("sdds_aug_out", out / "tiles")
    started = time.monotonic()
    text = tab.press("sdds_aug_run", "sdds_aug_log", AUGMENT_DONE, 600)
    cut = re.search(r"tile captions by the tagger wd-tiny-tagger: (\d+) tiles, (\d+) of them dropped", text)
    checks(f"tile captions: split tiles drop the tags the tagger does not see ({time.monotonic() - started:.1f} s)",
           bool(cut) and int(cut.group(1)) == 6 and int(cut.group(2)) > 0 and "split 2 into 6 tiles" in text, text)
    tab.shot("issue17-tiles")

    tab.open_train()
    if tab.page.locator("#sdds_aesthetic_missing").count():
        checks("aesthetic embedding", False, tab.page.locator("#sdds_aesthetic_missing").inner_text())
        return
    name = "e2e_issue17_style"
    tab.fill("sdds_aesthetic_name", name)
    tab.tick("sdds_aesthetic_overwrite")  # a second run of this check replaces the first one's
    started, wall = time.monotonic(), time.time()
    text = tab.press("sdds_aesthetic_run", "sdds_aesthetic_log", AESTHETIC_DONE, 1800)
    took = time.monotonic() - started
    made = re.search(r": (/\S+\.pt)$", text.splitlines()[0]) if text.startswith("made ") else None
    target = Path(made.group(1)) if made else None
    fresh = target is not None and target.is_file() and target.stat().st_mtime >= wall - 1 and target.stat().st_size
    listed = tab.log("sdds_aesthetic_list")
    checks(f"aesthetic embedding: a new .pt in the extension's aesthetic_embeddings, listed ({took:.1f} s)",
           bool(fresh) and target.parent.name == "aesthetic_embeddings" and target.name == f"{name}.pt"
           and name in [n.strip() for n in listed.split(",")], f"{text}\nlisted: {listed}")
    tab.shot("issue17-aesthetic")


if __name__ == "__main__":
    sys.exit(main())
