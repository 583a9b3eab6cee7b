"""Exposure: the standalone app listens on this computer only unless --listen; nothing under sd_dataset/ runs a
shell or another program."""

import re
import sys
import types
from pathlib import Path

import pytest

from sd_dataset.cli import build_parser, main
from sd_dataset.cli.ui import bind_address, launch_options

PACKAGE = Path(__file__).resolve().parents[1] / "sd_dataset"


def test_bind_address_is_loopback_unless_listen():
    assert bind_address(False) == "127.0.0.1"
    assert bind_address(True) == "0.0.0.0"


@pytest.mark.parametrize("argv,name,browser", [(["ui"], "127.0.0.1", True),
                                               (["ui", "--no-browser", "--port", "7999"], "127.0.0.1", False),
                                               (["ui", "--listen", "--no-browser", "--allow-origin",
                                                 "http://192.168.1.5:7860"], "0.0.0.0", False)])
def test_launch_options(argv, name, browser):
    options = launch_options(build_parser().parse_args(argv))
    assert options["server_name"] == name and options["inbrowser"] is browser and options["share"] is False


class FakeBlocks:
    launched: dict = {}
    server_app = object()

    def launch(self, **kwargs):
        FakeBlocks.launched = kwargs

    def block_thread(self):
        pass


@pytest.mark.parametrize("listen", [False, True])
def test_ui_command_launches_with_those_options(monkeypatch, capsys, listen):
    """The real ``ui`` command path, with a stand-in for the gradio app (gradio is not needed here)."""
    fake = types.ModuleType("sd_dataset.ui")
    fake.build_ui = lambda host: FakeBlocks()
    fake.enable_queue = lambda blocks: blocks
    hardened = []
    fake.harden_app = lambda app, strip_cors: hardened.append((app, strip_cors))
    monkeypatch.setitem(sys.modules, "sd_dataset.ui", fake)
    argv = ["ui", "--no-browser", "--port", "7999"] + (["--listen", "--allow-origin", "http://nas.local:7999"]
                                                       if listen else [])
    assert main(argv) == 0
    assert hardened == [(FakeBlocks.server_app, True)]
    assert FakeBlocks.launched["blocked_paths"] == [str(Path.cwd().resolve())]
    assert FakeBlocks.launched["server_name"] == ("0.0.0.0" if listen else "127.0.0.1")
    assert FakeBlocks.launched["server_port"] == 7999 and FakeBlocks.launched["share"] is False
    warned = "warning: --listen serves the tab on port 7999 of every network" in capsys.readouterr().err
    assert warned is listen


FORBIDDEN = re.compile(r"shell\s*=\s*True|\bos\.(system|popen|exec\w*|spawn\w*)\b|\bsubprocess\b|\bpty\b|"
                       r"\bcommands\.getoutput\b|\beval\(|\bexec\(")


def test_nothing_runs_a_shell_or_another_program():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if FORBIDDEN.search(code):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert offenders == []
