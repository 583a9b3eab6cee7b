"""Make docs/tab.png: the standalone app's Dataset tab after Run all on a dataset of a few dozen images.

The app is started as a user starts it (``python -m sd_dataset ui``) from a scratch folder standing in for their
home, so the tab shows its own default folders (``datasets/red_panda/…``) and no temporary path.  Its site is the
tests' e621-shaped server (tests/booru_server.py) on 127.0.0.1, serving synthetic pictures drawn here (a red panda
on a branch, grass or snow, by day, at sunset or at night) with tags that match what is drawn; a vocabulary file of
those tags stands for the model's.  Headless Chromium drives the tab through Playwright.

    python devtools/screenshot.py [--out docs/tab.png] [--keep]

Needs the test extra (Playwright) and Debian's chromium; nothing leaves this computer.
"""

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from booru_server import BooruServer, ServerPost  # noqa: E402
from ui.conftest import free_port, launch_chromium  # noqa: E402  (the browser tests' own Chromium and flags)
from ui.test_tab_browser import fill, wait_for_log  # noqa: E402

SIZES = [(800, 600), (640, 800), (1024, 768), (600, 600), (1200, 500), (720, 540), (900, 900), (500, 1100)]
ARTISTS = ["moss_and_fern", "pine_studio", "quiet_brush"]
SKIES = {"day": ((120, 180, 235), (200, 230, 250)), "sunset": ((90, 70, 140), (250, 170, 110)),
         "night": ((15, 20, 50), (50, 60, 110))}
GROUNDS = {"grass": (90, 150, 70), "snow": (235, 240, 245)}
FUR, DARK, WHITE = (190, 85, 35), (70, 35, 25), (245, 240, 230)
# the model's tag counts (a stand-in for its tags.csv); ailurid is not in it, so captions leave it out
VOCABULARY = {"solo": 900_000, "outside": 400_000, "sky": 350_000, "feral": 300_000, "mammal": 1_200_000,
              "red_panda": 9_000, "tail": 500_000, "day": 120_000, "night": 60_000, "sunset": 30_000,
              "grass": 150_000, "snow": 50_000, "tree": 140_000, "branch": 40_000, "cloud": 200_000,
              "sun": 40_000, "moon": 25_000, "star": 30_000, "sitting": 250_000, "standing": 240_000,
              "looking_at_viewer": 600_000, "striped_tail": 20_000, "white_muzzle": 5_000}


def scene(seed: int) -> tuple[bytes, str, dict]:
    """A picture of a red panda, its file type and its post's tags (which say what is drawn)."""
    rng = random.Random(seed)
    width, height = SIZES[seed % len(SIZES)]
    time_of_day = rng.choice(list(SKIES))
    ground = rng.choice(["grass", "snow", "branch"])
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    top, bottom = SKIES[time_of_day]
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    general = ["solo", "feral", "outside", "sky", time_of_day, "tail", "striped_tail", "white_muzzle"]
    if time_of_day == "night":
        mx, my, r = rng.randint(width // 2, width - 60), rng.randint(30, height // 4), min(width, height) // 14
        draw.ellipse([mx - r, my - r, mx + r, my + r], fill=(235, 235, 210))
        for _ in range(25):
            sx, sy = rng.randrange(width), rng.randrange(height // 2)
            draw.point([(sx, sy), (sx + 1, sy)], fill=(255, 255, 230))
        general += ["moon", "star"]
    else:
        sx, sy, r = rng.randint(40, width // 3), rng.randint(30, height // 4), min(width, height) // 12
        draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(255, 220, 120))
        general.append("sun")
        if time_of_day == "day" and rng.random() < 0.7:
            for _ in range(rng.randint(1, 3)):
                cx, cy = rng.randrange(width), rng.randint(20, height // 3)
                for dx in (-40, 0, 40):
                    draw.ellipse([cx + dx - 45, cy - 25, cx + dx + 45, cy + 25], fill=(250, 250, 252))
            general.append("cloud")
    horizon = int(height * rng.uniform(0.62, 0.75))
    if ground == "branch":
        draw.rectangle([width // 6, 0, width // 6 + width // 12, height], fill=(95, 65, 40))
        draw.polygon([(0, horizon), (width, horizon - height // 20), (width, horizon + height // 25),
                      (0, horizon + height // 12)], fill=(110, 75, 45))
        general += ["tree", "branch"]
    else:
        draw.rectangle([0, horizon, width, height], fill=GROUNDS[ground])
        general.append(ground)
    scale = min(width, height) / rng.uniform(3.2, 4.2)
    cx = rng.uniform(0.35, 0.65) * width
    sitting = rng.random() < 0.5
    _red_panda(draw, cx, horizon, scale, sitting, facing_left=rng.random() < 0.5)
    general.append("sitting" if sitting else "standing")
    if rng.random() < 0.6:  # the face is always drawn, but taggers do not agree on everything
        general.append("looking_at_viewer")
    tags = {"general": sorted(general), "species": ["ailurid", "mammal", "red_panda"],
            "artist": [ARTISTS[seed % len(ARTISTS)]], "meta": ["digital_media_(artwork)"]}
    buf = io.BytesIO()
    ext = "jpg" if seed % 3 else "png"
    img.save(buf, "JPEG" if ext == "jpg" else "PNG", quality=90)
    return buf.getvalue(), ext, tags


def _red_panda(draw: ImageDraw.ImageDraw, cx: float, ground_y: float, s: float, sitting: bool,
               facing_left: bool) -> None:
    side = -1 if facing_left else 1
    body_h = s * (0.75 if sitting else 0.5)
    body = [cx - s * 0.45, ground_y - body_h - s * 0.1, cx + s * 0.45, ground_y]
    tail_x = cx - side * s * 0.55
    for i in range(6):  # a ringed tail, dark and rust in turn
        y = ground_y - s * 0.15 - i * s * 0.12
        draw.ellipse([tail_x - s * 0.18, y - s * 0.1, tail_x + s * 0.18, y + s * 0.1], fill=DARK if i % 2 else FUR)
    draw.ellipse(body, fill=FUR)
    draw.ellipse([cx - s * 0.25, ground_y - body_h * 0.6, cx + s * 0.25, ground_y], fill=DARK)
    head_y, r = body[1] - s * 0.05, s * 0.3
    head_x = cx + side * s * 0.1
    for ear in (-1, 1):
        ex = head_x + ear * r * 0.7
        draw.polygon([(ex - r * 0.3, head_y - r * 0.5), (ex + r * 0.3, head_y - r * 0.5), (ex, head_y - r * 1.15)],
                     fill=FUR, outline=WHITE)
    draw.ellipse([head_x - r, head_y - r, head_x + r, head_y + r], fill=FUR)
    draw.ellipse([head_x - r * 0.55, head_y - r * 0.05, head_x + r * 0.55, head_y + r * 0.8], fill=WHITE)
    for eye in (-1, 1):
        ex, ey = head_x + eye * r * 0.38, head_y - r * 0.1
        draw.ellipse([ex - r * 0.1, ey - r * 0.1, ex + r * 0.1, ey + r * 0.1], fill=(20, 15, 10))
        draw.line([(ex, ey + r * 0.1), (ex + eye * r * 0.05, ey + r * 0.45)], fill=DARK, width=max(1, int(r / 12)))
    draw.ellipse([head_x - r * 0.12, head_y + r * 0.3, head_x + r * 0.12, head_y + r * 0.45], fill=(25, 20, 15))


def wait_until_served(url: str, app: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited with status {app.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app did not answer at {url} within {timeout_s:.0f} s")


def drive(url: str, server_url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.wait_for_selector("#sdds_name")
        fill(page, "sdds_name", "red_panda")
        page.wait_for_function("() => document.querySelector('#sdds_fetch_out textarea').value.endsWith('downloaded')")
        fill(page, "sdds_query", "red_panda solo")
        fill(page, "sdds_base_url", server_url)
        fill(page, "sdds_vocab", "tags.csv")
        page.click("#sdds_run_all")
        print(wait_for_log(page, "sdds_all_log", "all steps done|stopped", 300_000))
        page.wait_for_function("() => document.querySelectorAll('#sdds_gallery img').length >= 12", timeout=60_000)
        fill(page, "sdds_base_url", "")  # the test server's address is no part of what a user would see
        for section in ("1 · Fetch", "2 · Tag", "3 · Augment"):  # folded, so the picture shows the training set
            page.get_by_text(section, exact=True).click()
        page.wait_for_timeout(1000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "tab.png")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and print where it is")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="sdds-screenshot-"))
    home = scratch / "home"
    home.mkdir()
    (home / "tags.csv").write_text("".join(f"{t},{n}\n" for t, n in VOCABULARY.items()), encoding="utf-8")
    posts = []
    for seed in range(30):
        data, ext, tags = scene(seed)
        posts.append(ServerPost(id=4000 + seed, data=data, ext=ext, tags=tags, score=10 + seed))
    posts.append(ServerPost(id=4100, data=b"\x1aE\xdf\xa3 not a real video", ext="webm",
                            tags={"general": ["solo"], "species": ["red_panda"]}))
    env = dict(os.environ, XDG_CACHE_HOME=str(scratch / "cache"), XDG_CONFIG_HOME=str(scratch / "config"),
               GRADIO_TEMP_DIR=str(scratch / "gradio"), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    for name in ("E621_USERNAME", "E621_API_KEY"):
        env.pop(name, None)
    port = free_port()
    with BooruServer(posts) as server:
        app = subprocess.Popen([sys.executable, "-m", "sd_dataset", "ui", "--port", str(port), "--no-browser"],
                               cwd=home, env=env)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_served(url, app)
            drive(url, server.url, args.out.resolve())
        finally:
            app.terminate()
            app.wait(timeout=30)
    print(f"wrote {args.out}")
    if args.keep:
        print(f"scratch folder: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
