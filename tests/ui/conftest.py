import shutil
import socket

import pytest

gr = pytest.importorskip("gradio")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def launch_tab():
    """Serve a Dataset tab for a host on a free loopback port; returns its URL."""
    from sd_dataset.ui import build_ui, enable_queue

    launched = []

    def launch(host) -> str:
        blocks = enable_queue(build_ui(host))
        port = free_port()
        blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, show_error=True)
        launched.append(blocks)
        return f"http://127.0.0.1:{port}/"

    yield launch
    for blocks in launched:
        # a page that left while one of its events ran or streamed (a reload during a followed run does this) can
        # leave its connection open, and uvicorn's graceful shutdown would wait for it forever
        if getattr(blocks, "server", None) is not None:
            blocks.server.force_exit = True
        blocks.close()


@pytest.fixture(scope="session")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); the UI tests need it.")
    with sync_api.sync_playwright() as pw:
        yield pw


def launch_chromium(playwright, extra_flags=()):
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS + list(extra_flags))


@pytest.fixture(scope="session")
def browser(playwright):
    browser = launch_chromium(playwright)
    yield browser
    browser.close()
