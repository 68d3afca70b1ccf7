"""Faults a nightly store sync meets, each failing its store alone with one line: a 50 MB page
(above the default 16 MB cap), a host whose name does not resolve, a port nothing listens on, a
TLS handshake with a server that does not speak TLS. The other stores land exactly once and
``sync_logs`` names each failure."""

from __future__ import annotations

import socket
from dataclasses import replace

from bulksync.connectors.http import RetryPolicy
from bulksync.fakestores import FakeStores, FakeStoreServer, Fault
from bulksync.recipes.store_list import Store
from bulksync.recipes.stores import StoreJob, sync_stores
from storekit import assert_once_and_complete, expected_keys, job_for, rows

FIFTY_MB = 50 * 1024 * 1024


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def test_each_fault_fails_its_store_alone_in_one_line(pg_db: str) -> None:
    catalog = FakeStores(stores=6, faults={"s0002": Fault("huge", huge_bytes=FIFTY_MB)})
    with FakeStoreServer(catalog) as srv:
        job = job_for(srv, pg_db, policy=RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.02))
        assert job.max_page_bytes == 16 * 1024 * 1024  # the default cap
        broken = {
            "s0003": "http://no-such-store.invalid/cursor/stores/s0003",
            "s0004": f"http://127.0.0.1:{_closed_port()}/cursor/stores/s0004",
            "s0005": srv.url.replace("http://", "https://") + "/cursor/stores/s0005",
        }
        stores = [Store(s.code, broken.get(s.code, s.base_url), s.credential) for s in job.stores]
        result = sync_stores(_with(job, stores))
    assert result.status == "partial" and result.succeeded == 2 and result.failed == 4
    reasons = {f.code: f.message for f in result.failures}
    assert set(reasons) == {"s0002", "s0003", "s0004", "s0005"}
    assert "cap" in reasons["s0002"]
    assert "store s0003" in reasons["s0003"] and "store s0005" in reasons["s0005"]
    for message in reasons.values():
        assert "\n" not in message and len(message) < 400 and catalog.token not in message
    good = ["s0001", "s0006"]
    complete, known = expected_keys(catalog, "users", good), expected_keys(catalog, "users")
    assert_once_and_complete(pg_db, "store_users", complete, known)
    logged = rows(pg_db, "SELECT store_code, message FROM sync_logs WHERE status = 'failed'")
    assert {r["store_code"]: r["message"] for r in logged} == reasons


def _with(job: StoreJob, stores: list[Store]) -> StoreJob:
    return replace(job, stores=stores)


def test_a_redirect_is_named_not_followed(pg_db: str) -> None:
    """A 302 was read as a page ('the page is not valid JSON'); it is not followed either, since
    the bearer token would go wherever it points."""
    catalog = FakeStores(stores=2, faults={"s0002": Fault("status", status=302)})
    with FakeStoreServer(catalog) as srv:
        result = sync_stores(job_for(srv, pg_db))
    assert result.status == "partial" and [f.code for f in result.failures] == ["s0002"]
    message = result.failures[0].message
    assert "answered 302, a redirect" in message and "does not follow redirects" in message
    assert "base_url" in message and "\n" not in message
