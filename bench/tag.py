"""Benchmark of ``tag``: API requests per image, and throughput from sidecars against just reading the files.

Runs the real client against tests/booru_server.py on loopback (1,000 posts by default):

* requests per image without sidecars (goal ≤ 1/190), with sidecars (goal 0), on a rerun (goal 0);
* tagging throughput from sidecars (images/s, copying images and writing captions) as a ratio to just
  reading the same files.

    python bench/tag.py [--images 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from booru_server import BooruServer, ServerPost, image_bytes  # noqa: E402
from sd_dataset.boorus import open_booru  # noqa: E402
from sd_dataset.boorus.e621 import parse_post  # noqa: E402
from sd_dataset.fetch import write_sidecar  # noqa: E402
from sd_dataset.http import HttpPolicy  # noqa: E402
from sd_dataset.postcache import PostCache  # noqa: E402
from sd_dataset.tagging import TagOptions, tag_folder  # noqa: E402
from sd_dataset.tags import CaptionRules, Vocabulary  # noqa: E402

WORDS = ["red_ball", "blue_sky", "green_leaf", ":3", "<3", "bow_(weapon)", "^_^", "yellow_star", "white_cloud",
         "black_cat", "grey_stone", "pink_flower", "orange_sun", "purple_hat", "brown_box", "silver_key"]


def make_world(root: Path, count: int) -> tuple[BooruServer, Path, Path, list[ServerPost]]:
    posts = [ServerPost(id=10_000 + i, data=image_bytes(10_000 + i, size=(64, 64)), rating="sqe"[i % 3],
                        tags={"general": [WORDS[(i + k) % len(WORDS)] for k in range(8)],
                              "artist": [f"artist_{i % 7}"], "species": ["cat"]})
             for i in range(count)]
    server = BooruServer(posts).start()
    plain, side = root / "plain", root / "side"
    plain.mkdir()
    side.mkdir()
    for post in posts:
        (plain / f"{post.md5}.png").write_bytes(post.data)
        (side / f"{post.md5}.png").write_bytes(post.data)
        write_sidecar(side, parse_post(server.post_json(post, False), "e621", server.url))
    return server, plain, side, posts


def client(server: BooruServer):
    return open_booru("e621", base_url=server.url, policy=HttpPolicy(rate=2.0))


def read_all(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted(folder.iterdir()):
        if path.suffix == ".png":
            path.read_bytes()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="timing runs; the best is reported")
    args = parser.parse_args()
    n = args.images
    vocab = Vocabulary(counts={w: 1000 - 10 * i for i, w in enumerate(WORDS)} | {"cat": 5000})
    options = TagOptions(rules=CaptionRules(vocab=vocab))
    with tempfile.TemporaryDirectory(prefix="sdds-bench-tag-") as tmp:
        root = Path(tmp)
        server, plain, side, _ = make_world(root, n)
        try:
            with PostCache(root / "cache1") as cache:
                start = time.perf_counter()
                first = tag_folder(plain, root / "out1", options, booru=client(server), cache=cache)
                first_s = time.perf_counter() - start
                rerun = tag_folder(plain, root / "out1", options, booru=client(server), cache=cache)
            with PostCache(root / "cache2") as cache:
                sidecars = tag_folder(side, root / "out2", options, booru=client(server), cache=cache)
            assert first.tagged == rerun.tagged == sidecars.tagged == n

            read_all(side)  # warm the page cache so both sides read from memory
            read_s = min(read_all(side) for _ in range(args.repeat))
            tag_s = []
            for i in range(args.repeat):
                out = root / f"timed{i}"
                with PostCache(root / f"cache-t{i}") as cache:
                    start = time.perf_counter()
                    report = tag_folder(side, out, options, booru=client(server), cache=cache)
                    tag_s.append(time.perf_counter() - start)
                assert report.api_requests == 0 and report.written == n
                if i == 0:  # the same run again: everything is complete, nothing is written
                    with PostCache(root / f"cache-t{i}") as cache:
                        start = time.perf_counter()
                        again = tag_folder(side, out, options, booru=client(server), cache=cache)
                        rerun_s = time.perf_counter() - start
                    assert again.unchanged == n
                shutil.rmtree(out)
            best = min(tag_s)
        finally:
            server.stop()

    print(f"tag benchmark: {n} images, e621-shaped server on loopback")
    print(f"  API requests per image, no sidecars : {first.api_requests}/{n} = {first.api_requests / n:.5f}"
          f"  (goal <= 1/190 = {1 / 190:.5f}; first run {first_s:.1f} s at 2 requests/s)")
    print(f"  API requests per image, sidecars    : {sidecars.api_requests}/{n} = {sidecars.api_requests / n:.5f}"
          f"  (goal 0)")
    print(f"  API requests per image, rerun       : {rerun.api_requests}/{n} = {rerun.api_requests / n:.5f}"
          f"  (goal 0)")
    print(f"  throughput from sidecars            : {n / best:,.0f} images/s (copy + caption, best of "
          f"{args.repeat})")
    print(f"  just reading the files              : {n / read_s:,.0f} images/s")
    print(f"  ratio tag / read                    : {read_s / best:.3f}  (each image and caption is fsynced "
          f"before its rename)")
    print(f"  rerun from sidecars, all complete   : {n / rerun_s:,.0f} images/s, ratio {read_s / rerun_s:.3f}")


if __name__ == "__main__":
    main()
