"""The access rule every event of the tab passes (``sd_dataset.access``), header by header."""

import pytest

from sd_dataset.access import Access

OWN = "127.0.0.1:7860"


@pytest.mark.parametrize("origin,host", [
    (None, OWN),  # a script: no Origin
    ("http://127.0.0.1:7860", OWN),  # the tab's own page
    ("http://localhost:7860", "localhost:7860"),
    ("http://[::1]:7860", "[::1]:7860"),
    ("http://192.168.1.5:7860", "192.168.1.5:7860"),  # its own page on the network, by IP address
])
def test_the_tabs_own_page_and_scripts_may_run(origin, host):
    assert Access().refusal(origin, host) is None


@pytest.mark.parametrize("origin,host,why", [
    ("http://127.0.0.1:8000", OWN, "came from a page at 'http://127.0.0.1:8000'"),  # another port of this computer
    ("https://evil.example", OWN, "came from a page at 'https://evil.example'"),
    ("null", OWN, "came from a page at 'null'"),  # a sandboxed frame or a file
    ("http://evil.example:7860", "evil.example:7860", "named the server 'evil.example:7860'"),  # DNS rebinding
    (None, "evil.example:7860", "named the server"),
    ("http://127.0.0.1:7860", None, "named the server (none)"),
    ("http://127.0.0.1:7860", "\x1b]0;x\x07:7860", "named the server '?]0;x?:7860'"),  # shown printable
])
def test_other_pages_and_other_names_are_refused(origin, host, why):
    reason = Access().refusal(origin, host)
    assert reason is not None and why in reason and reason.startswith("Refused: ") and reason.endswith(".")


def test_allowed_origins_bring_their_names_and_the_regex_its_pages():
    access = Access(origins=("http://nas.local:7860/",), origin_regex=r"https://.*\.example\.org")
    assert access.refusal("http://nas.local:7860", "nas.local:7860") is None
    assert access.refusal("http://NAS.local:7860", OWN) is None
    assert access.refusal("https://app.example.org", OWN) is None
    assert access.refusal("https://app.example.org.evil.example", OWN) is not None  # the regex matches whole
    assert access.refusal("http://nas.local:7861", "nas.local:7860") is not None  # that page, not every port
    assert Access(host_names=("mypc.",)).refusal("http://mypc:7860", "MYPC:7860") is None
