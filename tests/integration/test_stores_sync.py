"""``sync_stores`` against the fake store API and a real PostgreSQL: partial runs, upserts,
re-runs, rate limits and ``sync_logs``."""

from __future__ import annotations

import pytest

from bulksync.fakestores import FakeStores, FakeStoreServer, Fault
from bulksync.recipes.stores import sync_stores
from storekit import BAD_TOKEN, assert_exactly_once, assert_once_and_complete, expected_keys, job_for, rows

FAULTS = {
    "s0003": Fault("status", status=404),
    "s0004": Fault("malformed"),
    "s0005": Fault("huge", huge_bytes=300_000),
    "s0006": Fault("repeat", page=2),
    "s0007": Fault("status", status=500, times=2),  # retried: succeeds
    "s0008": Fault("drop", times=1),  # retried: succeeds
}
FAILING = {
    "s0002": "401 (bad or missing token)",
    "s0003": "404 (not found)",
    "s0004": "not valid JSON",
    "s0005": "cap",
    "s0006": "repeats a page",
}


def test_one_store_failing_never_stops_the_others(pg_db: str) -> None:
    catalog = FakeStores(stores=10, faults=FAULTS)
    with FakeStoreServer(catalog, latency_s=0.002) as srv:
        job = job_for(srv, pg_db, bad_token_for=("s0002",), max_page_bytes=100_000)
        result = sync_stores(job)
    assert result.status == "partial" and result.succeeded == 5 and result.failed == 5
    reasons = {f.code: f.message for f in result.failures}
    assert set(reasons) == set(FAILING)
    for code, reason in FAILING.items():
        assert reason in reasons[code] and "\n" not in reasons[code]
    good = [c for c in catalog.codes() if c not in FAILING]
    complete, known = expected_keys(catalog, "users", good), expected_keys(catalog, "users")
    assert_once_and_complete(pg_db, "store_users", complete, known)
    logs = rows(pg_db, "SELECT store_code, status, message, requests FROM sync_logs ORDER BY store_code")
    assert len(logs) == 11 and logs[-1]["store_code"] is None and logs[-1]["status"] == "partial"
    assert {r["store_code"] for r in logs if r["status"] == "failed"} == set(FAILING)
    assert all(r["requests"] >= 1 for r in logs[:-1])
    assert not any(BAD_TOKEN in str(r) or catalog.token in str(r) for r in logs)


@pytest.mark.parametrize("style", ["link", "page", "offset"])
def test_videos_in_every_pagination_style(pg_db: str, style: str) -> None:
    catalog = FakeStores(stores=4, videos=(5, 40))
    with FakeStoreServer(catalog) as srv:
        result = sync_stores(job_for(srv, pg_db, kind="videos", style=style, page_size=9))
    assert result.status == "succeeded"
    assert_exactly_once(pg_db, "store_videos", expected_keys(catalog, "videos"))


def test_duplicates_across_pages_are_upserted_once_and_nested_fields_kept(pg_db: str) -> None:
    catalog = FakeStores(stores=3, overlap={"s0001", "s0002"})
    with FakeStoreServer(catalog) as srv:
        result = sync_stores(job_for(srv, pg_db))
    assert result.status == "succeeded" and result.records_fetched > catalog.total("users")
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    got = rows(pg_db, "SELECT id, profile FROM store_users WHERE store_code = 's0001' ORDER BY id")
    want = catalog.records("s0001", "users")
    assert [r["profile"] for r in got] == [r["profile"] for r in want]  # jsonb: psycopg gives dicts


def test_a_rerun_changes_nothing(pg_db: str) -> None:
    catalog = FakeStores(stores=5)
    snapshot = "SELECT * FROM store_users ORDER BY store_code, id"
    with FakeStoreServer(catalog) as srv:
        first = sync_stores(job_for(srv, pg_db))
        before = rows(pg_db, snapshot)
        second = sync_stores(job_for(srv, pg_db))
    assert first.status == second.status == "succeeded" and second.run_id != first.run_id
    assert rows(pg_db, snapshot) == before
    summaries = rows(pg_db, "SELECT run_id, status FROM sync_logs WHERE store_code IS NULL")
    assert sorted(r["run_id"] for r in summaries) == sorted([first.run_id, second.run_id])
    assert {r["status"] for r in summaries} == {"succeeded"}
    # the finished runs' store checkpoints are gone; the job's own run checkpoint stays
    assert rows(pg_db, "SELECT count(*) AS n FROM bulksync.sync_state")[0]["n"] == 1


def test_configured_rate_matching_the_api_sends_nothing_above_it(pg_db: str) -> None:
    """The API refuses above 40 requests/s overall and 8/s per store; so is bulksync configured."""
    catalog = FakeStores(stores=12)
    with FakeStoreServer(catalog, latency_s=0.005, rate=40, store_rate=8) as srv:
        result = sync_stores(job_for(srv, pg_db, rate=40, store_rate=8, concurrency=12))
        stats = srv.stats.as_dict()
    assert result.status == "succeeded"
    assert stats["over_limit"] == 0 and "429" not in stats["statuses"]
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))


def test_429_without_a_configured_limit_is_waited_out(pg_db: str) -> None:
    """No limit configured: the API's buckets answer 429 and every store still completes."""
    catalog = FakeStores(stores=4)
    with FakeStoreServer(catalog, store_rate=1) as srv:
        result = sync_stores(job_for(srv, pg_db, concurrency=4, page_size=25))
        refused = srv.stats.over_limit
    assert result.status == "succeeded" and refused >= 1
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))


def test_retry_failed_syncs_only_the_failed_stores_of_the_last_run(pg_db: str) -> None:
    catalog = FakeStores(stores=5, faults={"s0002": Fault("status", status=502), "s0004": Fault("malformed")})
    with FakeStoreServer(catalog) as srv:
        first = sync_stores(job_for(srv, pg_db, page_size=7))
        assert first.status == "partial" and [f.code for f in first.failures] == ["s0002", "s0004"]
        catalog.faults.clear()  # the APIs are fixed
        asked = dict(srv.stats.as_dict()["by_store"])
        retried = sync_stores(job_for(srv, pg_db, page_size=7, retry_failed=True))
        again = srv.stats.as_dict()["by_store"]
    assert retried.status == "succeeded" and retried.run_id == first.run_id and retried.skipped == 3
    assert {c for c in catalog.codes() if again[c] != asked[c]} == {"s0002", "s0004"}
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    logs = rows(pg_db, "SELECT run_id, store_code, status FROM sync_logs ORDER BY store_code")
    assert [(r["store_code"], r["status"]) for r in logs] == [(c, "succeeded") for c in catalog.codes()] + [
        (None, "succeeded")
    ]
    assert rows(pg_db, "SELECT count(*) AS n FROM bulksync.sync_state")[0]["n"] == 1


def test_records_written_counts_the_committed_pages_of_failed_stores(pg_db: str) -> None:
    catalog = FakeStores(
        stores=4, faults={"s0002": Fault("malformed", page=3), "s0003": Fault("missing", page=2)}
    )
    with FakeStoreServer(catalog) as srv:
        result = sync_stores(job_for(srv, pg_db, page_size=10))
    assert result.status == "partial" and {f.code for f in result.failures} == {"s0002", "s0003"}
    landed = {
        r["store_code"]: r["n"]
        for r in rows(pg_db, "SELECT store_code, count(*) AS n FROM store_users GROUP BY 1")
    }
    assert landed["s0002"] == 20 and landed["s0003"] == 10
    logs = {
        r["store_code"]: r["records_written"]
        for r in rows(pg_db, "SELECT store_code, records_written FROM sync_logs")
    }
    assert {c: logs[c] for c in catalog.codes()} == {c: landed[c] for c in catalog.codes()}
    assert logs[None] == result.records_written == sum(landed.values())
