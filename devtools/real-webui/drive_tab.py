"""Drive the Dataset tab of a running web UI in headless Chromium, as a user would.

Run-all against the tests' e621-shaped server on 127.0.0.1, then, from the tab's Train section, a few steps of
embedding training and of hypernetwork training with stepped schedules, a supervised run of a few segments, a run
stopped with the Interrupt button, and a run the page is reloaded during (it must show the run going on, refuse a
second Train, and show its result).
It prints every log the tab shows (each run's own: a log is emptied before its button is pressed) and saves
screenshots; the web UI's own console shows the training.  A raw gradio error in a log (the web UI's red "Error",
which no step of the tab should ever show) stops it at once with that error's message.

    python devtools/real-webui/drive_tab.py [--url http://127.0.0.1:7860] [--steps 4] [--phase all]

Needs the test extra (Playwright) and Debian's chromium.  Set the web UI's "training_write_csv_every" to 1 first,
or short runs write no loss log (the tab's readiness check says so).
"""

import argparse
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from booru_server import BooruServer, ServerPost, image_bytes  # noqa: E402
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

    def fill(self, target: str, value) -> None:
        """``target`` is an element id, or ``label=…`` for a field of the tab found by its label."""
        if target.startswith("label="):
            box = self.page.locator(TAB).get_by_label(target[6:], exact=True).first
        else:
            box = self.page.locator(f"#{target} textarea, #{target} input").first
        box.fill(str(value))
        box.dispatch_event("input")
        box.press("Tab")

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
                                            "reload"], default="all")
    parser.add_argument("--preview-every", type=int, default=0, metavar="N",
                        help="ask the trainer for a preview image every N steps (slow on a CPU)")
    parser.add_argument("--shots", type=Path, default=Path("real-webui-shots"))
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
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


if __name__ == "__main__":
    sys.exit(main())
