"""The web UI's ``launch`` helpers that an extension's install.py uses (``launch_utils`` in 1.10)."""

import argparse
import importlib.metadata

args = argparse.Namespace(skip_install=False)
pip_calls = []  # stub only: what run_pip was asked to do


def is_installed(package):
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run_pip(command, desc=None, live=False):
    if args.skip_install:
        return
    pip_calls.append((command, desc))
    return ""
