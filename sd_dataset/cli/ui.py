"""``ui``: the Dataset tab as a standalone app in the browser."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import DatasetError


def register(sub) -> None:
    parser = sub.add_parser("ui", help="open the Dataset tab in your browser, without the web UI",
                            description="Serve the Dataset tab on http://127.0.0.1:PORT. Training needs the web UI; "
                            "every other step works here.")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    parser.add_argument("--listen", action="store_true",
                        help="serve on every network interface, not only this computer (anyone who can reach it "
                        "can download into your folders)")
    parser.add_argument("--root", type=Path, help="folder holding your datasets (default ./datasets)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ..host import standalone_host
        from ..ui import build_ui, enable_queue
    except ImportError as exc:
        raise DatasetError(f"The app needs gradio ({exc.name} is missing); install it with: pip install -e \".[ui]\".") \
            from None
    if args.listen:
        print("warning: --listen serves the tab to every network this computer is on; anyone who reaches it can "
              "start downloads and write into your folders.", file=sys.stderr)
    blocks = enable_queue(build_ui(standalone_host(args.root)))
    blocks.launch(**launch_options(args))
    return 0


LOOPBACK, EVERY_INTERFACE = "127.0.0.1", "0.0.0.0"


def bind_address(listen: bool) -> str:
    """Where the app listens: this computer only, unless the user asked for ``--listen``."""
    return EVERY_INTERFACE if listen else LOOPBACK


def launch_options(args: argparse.Namespace) -> dict:
    """The keyword arguments for gradio's ``launch``; kept apart so a test can read them without gradio."""
    return dict(server_name=bind_address(args.listen), server_port=args.port, inbrowser=not args.no_browser,
                show_api=True, share=False)
