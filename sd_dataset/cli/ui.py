"""``ui``: the Dataset tab as a standalone app in the browser."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

from ..access import Access
from ..errors import DatasetError


def register(sub) -> None:
    parser = sub.add_parser("ui", help="open the Dataset tab in your browser, without the web UI",
                            description="Serve the Dataset tab on http://127.0.0.1:PORT. Training needs the web UI; "
                            "every other step works here. Only the tab's own page may run its steps.")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    parser.add_argument("--listen", action="store_true",
                        help="serve on every network interface, not only this computer; needs --allow-origin for "
                        "each address other computers open the tab at")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="a page address that may drive the tab besides http://127.0.0.1:PORT, e.g. "
                        "http://192.168.1.5:7860 or http://nas.local:7860 (repeatable)")
    parser.add_argument("--root", type=Path, help="folder holding your datasets (default ./datasets)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    access = access_for(args)
    blocked = blocked_paths(Path.cwd())
    try:
        from ..host import standalone_host
        from ..ui import build_ui, enable_queue, harden_app
    except ImportError as exc:
        raise DatasetError(f"The app needs gradio ({exc.name} is missing); install it with: pip install -e \".[ui]\".") \
            from None
    if args.listen:
        print(exposure_notice(args), file=sys.stderr)
    host = standalone_host(args.root)
    host.access = access
    blocks = enable_queue(build_ui(host))
    blocks.launch(prevent_thread_lock=True, blocked_paths=blocked, **launch_options(args))
    harden_app(blocks.server_app, strip_cors=True)
    blocks.block_thread()
    return 0


LOOPBACK, EVERY_INTERFACE = "127.0.0.1", "0.0.0.0"


def bind_address(listen: bool) -> str:
    """Where the app listens: this computer only, unless the user asked for ``--listen``."""
    return EVERY_INTERFACE if listen else LOOPBACK


def access_for(args: argparse.Namespace) -> Access:
    """Who may drive the app: its own page, and the pages ``--allow-origin`` names (which ``--listen`` needs)."""
    origins = tuple(o.strip().rstrip("/") for o in args.allow_origin if o.strip())
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise DatasetError(f"--allow-origin {origin!r} is not a page address; give one like http://192.168.1.5:"
                               f"{args.port}, without a path.")
    if args.listen and not origins:
        raise DatasetError(f"--listen needs the addresses other computers will open the tab at, e.g. --allow-origin "
                           f"http://192.168.1.5:{args.port}; only pages at those addresses may run its steps.")
    return Access(origins=origins)


def exposure_notice(args: argparse.Namespace) -> str:
    return (f"warning: --listen serves the tab on port {args.port} of every network this computer is on. Pages at "
            f"{', '.join(args.allow_origin)} may run its steps; so may any program on those networks that calls the "
            "port directly (curl, gradio_client), downloading into and writing your folders. Pages of other sites "
            "may not.")


def blocked_paths(cwd: Path) -> list[str]:
    """What gradio's ``/file=`` must never serve: the working folder (gradio 3 serves all of it by default).

    gradio keeps the thumbnails it shows in its temporary folder; where that lies inside the working folder (the
    app started from /tmp), it is moved to the user's cache first.
    """
    cwd = cwd.resolve()
    temp = gradio_temp_dir()
    if temp.is_relative_to(cwd):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").resolve() / "sd_dataset" / "gradio"
        if cache.is_relative_to(cwd):
            raise DatasetError(f"The app cannot run from {cwd}: the files it shows would lie inside it, where a page "
                               "could read any file; start it from another folder (e.g. your datasets folder).")
        os.environ["GRADIO_TEMP_DIR"] = str(cache)
    return [str(cwd)]


def gradio_temp_dir(environ: Optional[dict] = None) -> Path:
    """Where gradio keeps copies of what it shows (its own rule: ``GRADIO_TEMP_DIR``, else the system temp)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def launch_options(args: argparse.Namespace) -> dict:
    """The keyword arguments for gradio's ``launch``; kept apart so a test can read them without gradio."""
    return dict(server_name=bind_address(args.listen), server_port=args.port, inbrowser=not args.no_browser,
                show_api=True, share=False)
