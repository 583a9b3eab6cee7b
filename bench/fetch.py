"""Fetch a few hundred posts from a local e621-shaped server and compare the wall time with its lower bound.

The lower bound is what the politeness rules allow at best: the API pages at the
configured rate, plus the bytes at the loopback speed measured in this run.

    python bench/fetch.py [--posts 700] [--kib 256] [--rate 1]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from booru_server import BooruServer, ServerPost  # noqa: E402
from sd_dataset.boorus import open_booru  # noqa: E402
from sd_dataset.fetch import fetch  # noqa: E402
from sd_dataset.http import HttpPolicy  # noqa: E402


def noise_png(seed: int, kib: int) -> bytes:
    side = int(math.sqrt(kib * 1024 / 3))
    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    path = Path(tempfile.gettempdir()) / f"bench-fetch-{os.getpid()}-{seed}.png"
    img.save(path, compress_level=0)
    data = path.read_bytes()
    path.unlink()
    return data


def loopback_bytes_per_second(server: BooruServer, post: ServerPost, rounds: int = 20) -> float:
    url = server.file_url(post)
    with requests.Session() as session:
        session.get(url).content
        start = time.perf_counter()
        for _ in range(rounds):
            session.get(url).content
        return rounds * len(post.data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=700)
    parser.add_argument("--kib", type=int, default=256, help="size of each image")
    parser.add_argument("--rate", type=float, default=1.0, help="API requests per second (e621's polite default: 1)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    posts = [ServerPost(id=10_000 + i, data=noise_png(i, args.kib)) for i in range(args.posts)]
    with BooruServer(posts) as server:
        speed = loopback_bytes_per_second(server, posts[0])
        booru = open_booru("e621", base_url=server.url, policy=HttpPolicy(rate=args.rate))
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            report = fetch(booru, "red_ball", Path(out), workers=args.workers)
            wall = time.perf_counter() - start
        pages = len(server.api_requests())
        total_bytes = sum(len(p.data) for p in posts)
        bound = pages / args.rate + total_bytes / speed
        print(f"posts {args.posts} ({total_bytes / 2**20:.0f} MiB), API pages {pages} at {args.rate:g}/s, "
              f"loopback {speed / 2**20:.0f} MiB/s, workers {args.workers}")
        print(f"downloaded {report.downloaded}, failed {len(report.failed)}, "
              f"most API requests in one second {server.max_api_requests_in_any_second()}")
        print(f"wall {wall:.2f} s, lower bound {bound:.2f} s (pages/rate {pages / args.rate:.2f} s + "
              f"bytes/loopback {total_bytes / speed:.2f} s)")
        print(f"ratio wall / lower bound: {wall / bound:.2f} "
              "(below 1 means downloads overlapped the waits between API pages)")


if __name__ == "__main__":
    main()
