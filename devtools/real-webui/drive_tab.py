"""Drive the Dataset tab of a running web UI in headless Chromium, as a user would.

Run-all against the tests' e621-shaped server on 127.0.0.1, then, from the tab's Train section, a few steps of
embedding training and of hypernetwork training with stepped schedules, a supervised run of a few segments, and a
run stopped with the Interrupt button.
It prints every log the tab shows and saves screenshots; the web UI's own console shows the training.

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
TRAINING_DONE = r"(trained the|run finished|interrupted at step|training not started|error:|Cancelled|stopped)"


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

    def wait_log(self, elem_id: str, pattern: str, timeout_s: float) -> str:
        self.page.wait_for_function("""([id, p]) => { const b = document.querySelector(`#${id} textarea`);
            return b && new RegExp(p).test(b.value); }""", arg=[elem_id, pattern], timeout=timeout_s * 1000)
        return self.log(elem_id)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def train(self, kind: str, name: str, schedule: str, steps: int, preview_every: int, extra=(),
              interrupt_after_s: float = 0) -> str:
        self.page.locator(TAB).get_by_label(kind, exact=True).first.check()
        self.fill("sdds_train_name", name)
        self.fill("sdds_learn_rate", schedule)
        self.fill("sdds_steps", steps)
        for label, value in [("Width", 256), ("Height", 256), ("Save a copy every N steps", 2),
                             ("Preview image every N steps", preview_every), *extra]:
            self.fill(f"label={label}", value)
        self.page.click("#sdds_check_run")
        print("check:", self.wait_log("sdds_train_log", r"\w", 60), flush=True)
        started = time.monotonic()
        self.page.click("#sdds_train_run")
        if interrupt_after_s:
            time.sleep(interrupt_after_s)
            self.page.click("#sdds_train_cancel")
        text = self.wait_log("sdds_train_log", TRAINING_DONE, 3600)
        print(f"train {kind} {name} ({time.monotonic() - started:.0f} s):\n{text}\n", flush=True)
        self.shot(f"train-{name}")
        return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--phase", choices=["all", "prepare", "embedding", "hypernetwork", "supervised", "interrupt"],
                        default="all")
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
        tab.page.goto(args.url, timeout=120_000)
        tab.page.get_by_role("button", name="Dataset", exact=True).first.click()
        tab.fill("sdds_name", "e2e_ball")
        tab.page.wait_for_function("() => document.querySelector('#sdds_aug_out textarea').value.endsWith('train')")
        if args.phase in ("all", "prepare"):
            tab.fill("sdds_base_url", server.url)
            tab.fill("sdds_query", "red_ball")
            tab.fill("sdds_limit", len(posts))
            tab.page.click("#sdds_run_all")
            print("run all:\n" + tab.wait_log("sdds_all_log", r"(all steps done|error)", 600), flush=True)
            tab.shot("run-all")
        tab.page.get_by_text("5 · Train").click()
        results = []
        if args.phase in ("all", "embedding"):
            results.append(tab.train("embedding", "e2e-emb", "0.005:2, 0.001", args.steps, args.preview_every))
        if args.phase in ("all", "hypernetwork"):
            results.append(tab.train("hypernetwork", "e2e-hn", "0.00005:2, 0.00001", args.steps, args.preview_every))
        if args.phase in ("all", "supervised"):
            tab.page.locator(TAB).get_by_label("Supervised: watch the loss, revert and step down").check()
            results.append(tab.train("embedding", "e2e-sup", "0.005", args.steps + 2, args.preview_every,
                                     [("Segment (steps)", 2)]))
            print("supervisor decisions:\n" + tab.log("sdds_decisions"))
        if args.phase in ("all", "interrupt"):
            tab.page.locator(TAB).get_by_label("Supervised: watch the loss, revert and step down").uncheck()
            # long enough for the dataset to be prepared and a step or two to run, then the Interrupt button
            results.append(tab.train("embedding", "e2e-int", "0.005", 50, 0, interrupt_after_s=75))
        browser.close()
    return 0 if all(re.search(r"trained the|supervised run finished|interrupted at step", text) for text in results) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
