"""Options several subcommands share."""

from __future__ import annotations

import argparse

from ..boorus import SITES, open_booru


def add_site_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("site")
    group.add_argument("--booru", default="e621", choices=list(SITES), metavar="NAME",
                       help="which site to ask: " + ", ".join(SITES) + " (default e621)")
    group.add_argument("--base-url", help="talk to another address of the same site family (a mirror, a test server)")
    group.add_argument("--username", help="your login on that site: the name, or the numeric user id on gelbooru, "
                       "rule34 and safebooru (or set <SITE>_USERNAME, e.g. E621_USERNAME, DANBOORU_USERNAME, "
                       "GELBOORU_USER_ID)")
    group.add_argument("--api-key", help="your API key on that site, the password hash on yandere and konachan "
                       "(or set <SITE>_API_KEY, e.g. E621_API_KEY, DANBOORU_API_KEY, GELBOORU_API_KEY); never printed")
    group.add_argument("--rate", type=float,
                       help="API requests per second (default: the site's polite rate, 1 on e621, 2 on danbooru)")


def booru_from_args(args: argparse.Namespace, offline: bool = False):
    """The --booru site's client; ``offline`` (tag --offline) makes no request, so it needs no login."""
    return open_booru(args.booru, base_url=args.base_url, username=args.username, api_key=args.api_key,
                      rate=args.rate, offline=offline)


def folder_arg(text: str) -> str:
    """A folder or file path given on the command line; an empty one (``--out ""``) would silently mean the
    current folder, so it is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError('it is empty, which would mean the current folder; give the path ("." '
                                         "for the current folder).")
    return text


def add_tagger_options(parser: argparse.ArgumentParser) -> None:
    """``--tagger DIR`` and ``--tagger-threshold CATEGORY=VALUE``: tag's last tag source, augment's tile captions."""
    from ..tagger import DEFAULT_THRESHOLDS, TAG_FILES, WD14, Z3D

    group = parser.add_argument_group("local tagger")
    group.add_argument("--tagger", metavar="DIR", type=folder_arg,
                       help=f"a tagger model folder you downloaded: model.onnx with {TAG_FILES[WD14]} (WD14) or "
                       f"{TAG_FILES[Z3D]} (e621's Z3D); needs onnxruntime (pip install \"sd-webui-dataset[tagger]\")")
    defaults = ", ".join(f"{c} {v:g}" for c, v in DEFAULT_THRESHOLDS.items())
    group.add_argument("--tagger-threshold", metavar="CATEGORY=VALUE", action="append", default=[],
                       help=f"the score a tag of CATEGORY needs to be kept (repeatable; default {defaults})")


def tagger_from_args(args: argparse.Namespace):
    """The tagger ``--tagger`` names, with ``--tagger-threshold``'s thresholds; None without ``--tagger``."""
    from ..tagger import tagger_for

    return tagger_for(args.tagger, args.tagger_threshold)
