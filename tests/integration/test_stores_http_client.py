"""The HTTP source's client (aiohttp) against the fake store API: timeouts, proxies, secrets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bulksync.connectors.http import Endpoint, Pagination, RetryPolicy, Tally, read_pages
from bulksync.connectors.http_errors import HttpTransient, map_transport
from bulksync.connectors.http_pacing import Limits
from bulksync.connectors.http_session import open_session, proxy_for
from bulksync.fakestores import FakeStores, FakeStoreServer, Fault

FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.02)
NOWHERE = "http://no-such-store.invalid/cursor/stores/s0001/users"


@pytest.fixture
def fresh_proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No proxy from the machine's environment; ``proxy_for`` forgets what it looked up."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    proxy_for.cache_clear()
    yield monkeypatch
    proxy_for.cache_clear()


def read(ep: Endpoint, tally: Tally) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with open_session() as client:
            pacer = Limits(rate=None, endpoint_rate=None).for_endpoint()
            async for page in read_pages(client, ep, start=None, pacer=pacer, policy=FAST, tally=tally):
                out += page.records
        return out

    return asyncio.run(go())


def test_a_page_slower_than_the_timeout_is_retried_then_fails_in_one_line() -> None:
    with FakeStoreServer(FakeStores(stores=1, faults={"s0001": Fault("slow", seconds=1.0)})) as srv:
        token = SecretStr(srv.catalog.token)
        ep = Endpoint(url=f"{srv.base_url('s0001')}/users", label="store s0001", token=token, timeout_s=0.2)
        tally = Tally()
        with pytest.raises(HttpTransient, match=r"store s0001: GET /cursor/stores/s0001/users: timed out"):
            read(ep, tally)
        assert tally.requests == FAST.attempts


def test_the_proxy_named_by_the_environment_carries_the_requests(fresh_proxies: pytest.MonkeyPatch) -> None:
    """The fake API doubles as the proxy: a host that does not resolve is read through it."""
    with FakeStoreServer(FakeStores(stores=1)) as srv:
        fresh_proxies.setenv("HTTP_PROXY", srv.url)
        tally = Tally()
        records = read(Endpoint(url=NOWHERE, label="store s0001", token=SecretStr(srv.catalog.token)), tally)
        assert [r["id"] for r in records] == [r["id"] for r in srv.catalog.records("s0001", "users")]
        assert srv.stats.as_dict()["requests"] == tally.requests


def test_no_proxy_exempts_a_host(fresh_proxies: pytest.MonkeyPatch) -> None:
    with FakeStoreServer(FakeStores(stores=1)) as srv:
        fresh_proxies.setenv("HTTP_PROXY", srv.url)
        fresh_proxies.setenv("NO_PROXY", "no-such-store.invalid")
        with pytest.raises(HttpTransient, match=r"cannot connect to no-such-store\.invalid:80"):
            read(Endpoint(url=NOWHERE, label="store s0001"), Tally())
        assert srv.stats.as_dict()["requests"] == 0


def test_a_transport_error_quoting_a_url_never_shows_the_token() -> None:
    """aiohttp quotes the URL in some errors; a next link may carry the token (some APIs echo it)."""
    exc = aiohttp.InvalidURL("http://api.example/users?page=2&api_key=s3cr3t-t0ken")
    error = map_transport(exc, "store s0001: GET /users", secret="s3cr3t-t0ken")
    assert isinstance(error, HttpTransient)
    assert "s3cr3t" not in str(error) and "store s0001: GET /users" in str(error)


class _LongLinks(BaseHTTPRequestHandler):
    """Two pages; the first names the second in a Link header of 12 KB (a long cursor)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        first = "page=2" not in self.path
        body = b'{"data": [{"id": %d}]}' % (1 if first else 2)
        self.send_response(200)
        if first:
            port = self.server.server_address[1]
            nxt = f"http://127.0.0.1:{port}/users?page=2&cursor={'c' * 12_000}"
            self.send_header("Link", f'<{nxt}>; rel="next"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_next_link_longer_than_8_kb_is_followed() -> None:
    """aiohttp's default refuses header lines above 8 KB; h11, the client before it, took 16 KB."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LongLinks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/users"
        records = read(Endpoint(url=url, label="store s0001", pagination=Pagination.LINK), Tally())
    finally:
        server.shutdown()
        server.server_close()
    assert [r["id"] for r in records] == [1, 2]
