"""The HTTP source against the fake store API: pagination, retries, Retry-After and bad pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from bulksync.connectors.http import Endpoint, Pagination, RetryPolicy, Tally, read_pages
from bulksync.connectors.http_errors import BadPage, HttpRefused, HttpTransient
from bulksync.connectors.http_pacing import Limits
from bulksync.connectors.http_session import open_session
from bulksync.fakestores import FakeStores, FakeStoreServer, Fault

FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05)
FAULTS = {
    "s0002": Fault("status", status=500, times=2),
    "s0003": Fault("drop", times=2),
    "s0004": Fault("malformed"),
    "s0005": Fault("huge", huge_bytes=300_000),
    "s0006": Fault("repeat", page=2),
    "s0007": Fault("missing"),
    "s0008": Fault("status", status=503, times=1),
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStoreServer]:
    with FakeStoreServer(FakeStores(stores=9, faults=FAULTS)) as srv:
        yield srv


def read_all(
    srv: FakeStoreServer, code: str, *, style: str = "cursor", policy: RetryPolicy = FAST, **kw: Any
) -> tuple[list[dict[str, Any]], Tally]:
    ep = Endpoint(
        url=f"{srv.base_url(code, style)}/users", label=f"store {code}",
        token=SecretStr(kw.pop("token", srv.catalog.token)), pagination=Pagination(style),
        page_size=kw.pop("page_size", 7), max_page_bytes=kw.pop("max_page_bytes", 100_000), **kw,
    )  # fmt: skip
    tally = Tally()

    async def go() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with open_session() as client:
            pacer = Limits(rate=None, endpoint_rate=None).for_endpoint()
            async for page in read_pages(client, ep, start=None, pacer=pacer, policy=policy, tally=tally):
                out += page.records
        return out

    return asyncio.run(go()), tally


@pytest.mark.parametrize("style", ["cursor", "link", "page", "offset"])
def test_every_pagination_style_reads_every_record_once(server: FakeStoreServer, style: str) -> None:
    records, tally = read_all(server, "s0001", style=style)
    assert [r["id"] for r in records] == [r["id"] for r in server.catalog.records("s0001", "users")]
    assert tally.retries == 0


def test_updated_since_is_sent_and_filters(server: FakeStoreServer) -> None:
    since = "2026-11-15T00:00:00Z"
    records, _ = read_all(server, "s0001", since=since)
    want = [r["id"] for r in server.catalog.records("s0001", "users") if r["updated_at"] >= since]
    assert [r["id"] for r in records] == want and 0 < len(want)


@pytest.mark.parametrize("code", ["s0002", "s0003", "s0008"])
def test_5xx_and_dropped_connections_are_retried(server: FakeStoreServer, code: str) -> None:
    records, tally = read_all(server, code)
    assert len(records) == server.catalog.count(code, "users")
    assert tally.retries >= 1


def test_retries_are_capped() -> None:
    with FakeStoreServer(FakeStores(stores=1, faults={"s0001": Fault("status", status=502)})) as srv:
        with pytest.raises(HttpTransient, match="answered 502"):
            read_all(srv, "s0001")
        assert srv.stats.statuses[502] == FAST.attempts


def test_retry_after_is_honoured() -> None:
    """The server's bucket allows 2 requests/s and says Retry-After: 1; one more attempt after a
    429 is enough only if the client waited that long (its own backoff is 10 ms)."""
    with FakeStoreServer(FakeStores(stores=1), store_rate=2.0) as srv:
        count = srv.catalog.count("s0001", "users")
        policy = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.01)
        records, tally = read_all(srv, "s0001", policy=policy, page_size=-(-count // 4))
        assert len(records) == count
        assert tally.rate_limited >= 1 and srv.stats.over_limit == tally.rate_limited


@pytest.mark.parametrize(
    ("code", "error", "reason"),
    [
        ("s0004", BadPage, "not valid JSON"),
        ("s0005", BadPage, "cap"),
        ("s0006", BadPage, "repeats a page"),
        ("s0007", BadPage, "no list of records at 'data'"),
        ("s0099", HttpRefused, r"404 \(not found\)"),
    ],
)
def test_bad_pages_fail_with_one_line(server: FakeStoreServer, code: str, error: type, reason: str) -> None:
    with pytest.raises(error, match=reason) as caught:
        read_all(server, code)
    assert "\n" not in str(caught.value) and code in str(caught.value)


def test_bad_token_is_refused_and_never_shown(server: FakeStoreServer) -> None:
    with pytest.raises(HttpRefused, match="401") as caught:
        read_all(server, "s0001", token="wrong-s3cr3t")
    assert "s3cr3t" not in str(caught.value) and server.catalog.token not in str(caught.value)


@pytest.mark.parametrize("where", ["refused", "dns", "tls"])
def test_unreachable_hosts_fail_after_capped_retries(where: str) -> None:
    with FakeStoreServer(FakeStores(stores=1)) as srv:
        live = srv.url
        urls = {
            "dns": "http://no-such-store.invalid/cursor/stores/s0001/users",
            "tls": live.replace("http://", "https://") + "/cursor/stores/s0001/users",  # not TLS there
        }
        if where != "refused":
            tally = _read_url(urls[where])
            assert tally.requests == FAST.attempts
    if where == "refused":  # the server is gone now: nothing listens on its port
        tally = _read_url(f"{live}/cursor/stores/s0001/users")
        assert tally.requests == FAST.attempts


def _read_url(url: str) -> Tally:
    ep = Endpoint(url=url, label="store s0001")
    tally = Tally()

    async def go() -> None:
        async with open_session() as client:
            pacer = Limits(rate=None, endpoint_rate=None).for_endpoint()
            async for _ in read_pages(client, ep, start=None, pacer=pacer, policy=FAST, tally=tally):
                pass

    with pytest.raises(HttpTransient, match="store s0001: GET /cursor/stores/s0001/users") as caught:
        asyncio.run(go())
    assert "\n" not in str(caught.value)
    return tally


@pytest.mark.parametrize("style", ["cursor", "link", "offset"])
def test_an_api_capping_its_pages_loses_no_record(style: str) -> None:
    """Asked for 7 records a page, the API answers 3: offsets advance by the records received."""
    with FakeStoreServer(FakeStores(stores=1, faults={"s0001": Fault("cap", cap=3)})) as srv:
        records, tally = read_all(srv, "s0001", style=style, page_size=7)
        want = [r["id"] for r in srv.catalog.records("s0001", "users")]
    assert [r["id"] for r in records] == want
    assert tally.requests >= len(want) // 3


@pytest.mark.timeout(20)  # the old behaviour: requests for ever
@pytest.mark.parametrize("style", ["cursor", "link"])
def test_an_empty_page_ends_an_api_that_always_sends_a_next_cursor(style: str) -> None:
    with FakeStoreServer(FakeStores(stores=1, faults={"s0001": Fault("endless")})) as srv:
        count = srv.catalog.count("s0001", "users")
        records, tally = read_all(srv, "s0001", style=style, page_size=7, policy=RetryPolicy(attempts=1))
    assert len(records) == count
    assert tally.requests == -(-count // 7) + 1  # the pages with records, then one empty page
