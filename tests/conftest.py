import pytest

from booru_server import BooruServer, ServerPost, image_bytes


def make_posts(count: int, start_id: int = 1000, **kwargs) -> list[ServerPost]:
    return [ServerPost(id=start_id + i, data=image_bytes(start_id + i), **kwargs) for i in range(count)]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Post caches, thumbnails and remembered logins go to folders of the test session, not the user's ~/.cache
    and ~/.config."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "xdg-config"))


@pytest.fixture
def booru_server():
    servers = []

    def start(posts, **kwargs) -> BooruServer:
        server = BooruServer(posts, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def own_site(monkeypatch, name: str, url: str) -> None:
    """Make ``url`` the site table's own address for ``name``, as if the test server were the real site: the
    stored login (environment, settings) goes only there."""
    from dataclasses import replace

    from sd_dataset.boorus import SITES

    monkeypatch.setitem(SITES, name, replace(SITES[name], base_url=url.rstrip("/")))


def fast_policy(**overrides):
    """The real policy, with short backoffs so retries don't slow the suite."""
    from sd_dataset.http import HttpPolicy

    values = dict(rate=2.0, backoff_initial=0.01, backoff_max=0.05)
    values.update(overrides)
    return HttpPolicy(**values)


def client_for(server, *, username=None, api_key=None, **policy):
    from sd_dataset.boorus import open_booru

    return open_booru("e621", base_url=server.url, username=username, api_key=api_key, policy=fast_policy(**policy))


@pytest.fixture
def site_server():
    """Start one of ``site_servers``' servers: ``site_server(DanbooruServer, posts, **kwargs)``."""
    servers = []

    def start(cls, posts, **kwargs):
        kwargs.setdefault("enforce_rate", False)  # the rate tests turn it on
        server = cls(posts, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def site_client(server, site: str, *, username=None, api_key=None, **policy):
    """A client for ``site`` at ``server``, fast by default (pass rate= and max_rate= to slow it)."""
    from sd_dataset.boorus import open_booru

    policy.setdefault("rate", 50.0)
    policy.setdefault("max_rate", max(50.0, policy["rate"]))
    return open_booru(site, base_url=server.url, username=username, api_key=api_key, policy=fast_policy(**policy))
