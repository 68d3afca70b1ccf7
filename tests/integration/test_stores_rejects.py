"""One record of a store's page with a value its field cannot hold: that record goes to
``bulksync.rejects`` with the page's one-line reason, every other record lands, the store and the
run succeed and count it; the same command again adds no second reject nor record. A row
PostgreSQL refuses (a NUL in a text) is counted the same way. A resumed run and a run split into
one task per store (the fleet's way) count what they rejected before. Real PostgreSQL, the fake
store API."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

from bulksync.connectors.http import Tally
from bulksync.fakestores import FakeStores, FakeStoreServer, Fault
from bulksync.recipes.store_runs import close_run, open_run
from bulksync.recipes.stores import sync_in_open_run, sync_stores
from bulksync.recipes.stores_result import StoreOutcome
from storekit import assert_exactly_once, expected_keys, job_for, rows

BAD = ("s0002", 15)  # page 2 of s0002 at 10 records a page
REASON = "s0002: record id 15: field 'follower_count' holds \"lots\", not an integer"
NUL = ("s0003", 4)  # PostgreSQL text holds no NUL: the destination refuses that row


def _catalog() -> FakeStores:
    return FakeStores(
        stores=4,
        faults={
            "s0002": Fault("value", record=15, field="follower_count", value="lots"),
            "s0003": Fault("value", record=4, field="username", value="a\u0000b"),
        },
    )


def _rejects(url: str) -> list[dict[str, object]]:
    return rows(url, "SELECT tbl, row_key, row_data, reason FROM bulksync.rejects ORDER BY row_key")


def test_a_bad_value_rejects_its_record_alone_and_a_rerun_adds_nothing(pg_db: str) -> None:
    catalog = _catalog()
    with FakeStoreServer(catalog) as srv:
        first = sync_stores(job_for(srv, pg_db, page_size=10))
        second = sync_stores(job_for(srv, pg_db, page_size=10))
    for result in (first, second):
        assert result.status == "succeeded" and result.failed == 0 and result.succeeded == 4
        assert result.records_rejected == 2 and "2 rejected" in result.headline()
        assert [o.code for o in result.rejected_stores] == ["s0002", "s0003"]
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users") - {BAD, NUL})
    rejects = _rejects(pg_db)
    assert [(r["tbl"], json.loads(str(r["row_key"]))) for r in rejects] == [
        ("store_users", list(BAD)),
        ("store_users", list(NUL)),
    ]
    assert rejects[0]["reason"] == REASON
    assert json.loads(str(rejects[0]["row_data"]))["follower_count"] == "lots"
    assert "0x00" in str(rejects[1]["reason"]) or "NUL" in str(rejects[1]["reason"]), rejects[1]
    logs = {
        r["store_code"]: r for r in rows(pg_db, f"SELECT * FROM sync_logs WHERE run_id = '{second.run_id}'")
    }
    assert {r["status"] for r in logs.values()} == {"succeeded"}
    bad = logs["s0002"]
    assert bad["message"] == f"1 record rejected, in bulksync.rejects (first: {REASON})"
    assert bad["records_fetched"] == catalog.count("s0002", "users") == bad["records_written"] + 1
    assert logs["s0003"]["message"].startswith("1 record rejected, in bulksync.rejects")
    assert logs["s0001"]["message"] == "" and logs[None]["message"] == second.headline()
    assert logs[None]["records_written"] == catalog.total("users") - 2 == second.records_written


class _CancelAfter:
    """Cancels the run once ``code`` has ended: no store starts any more."""

    def __init__(self, code: str) -> None:
        self.code, self.event = code, threading.Event()

    def store_done(self, outcome: StoreOutcome, tally: Tally) -> None:
        if outcome.code == self.code:
            self.event.set()


def test_a_resumed_run_counts_the_records_its_first_part_rejected(pg_db: str) -> None:
    catalog = _catalog()
    stop = _CancelAfter("s0002")
    with FakeStoreServer(catalog) as srv:
        job = job_for(srv, pg_db, page_size=10, concurrency=1)
        cut = sync_stores(job, cancel=stop.event, listeners=[stop])
        rest = sync_stores(job)
    # one slot: s0003 may have started as s0002's last page came; s0004 never did
    assert cut.status == "cancelled" and cut.stores < 4 and cut.rejected_stores[0].code == "s0002"
    assert rest.status == "succeeded" and rest.resumed and rest.run_id == cut.run_id
    assert rest.skipped >= 2  # s0001 and s0002: the latter's count comes from its checkpoint
    assert {o.code: o.rejected for o in rest.rejected_stores} == {"s0002": 1, "s0003": 1}
    assert rest.records_rejected == 2 and rest.records_written == catalog.total("users") - 2
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users") - {BAD, NUL})
    assert len(_rejects(pg_db)) == 2
    [summary] = rows(pg_db, f"SELECT message FROM sync_logs WHERE id = '{rest.run_id}/'")
    assert summary["message"] == rest.headline() and "2 rejected" in summary["message"]


def test_a_run_split_into_one_task_per_store_counts_the_rejects_when_it_closes(pg_db: str) -> None:
    """The worker fleet's way (no broker needed here): the run opened once, each store synced in
    it by a task of its own, the summary written from what each task left behind."""
    catalog = _catalog()
    with FakeStoreServer(catalog) as srv:
        job = job_for(srv, pg_db, page_size=10)
        open_run(job)
        for store in job.stores:
            [outcome] = sync_in_open_run(replace(job, stores=[store]))
            assert outcome.status == "succeeded"
        result = close_run(job)
    assert result.status == "succeeded" and result.records_rejected == 2
    assert {o.code: o.rejected for o in result.rejected_stores} == {"s0002": 1, "s0003": 1}
    [summary] = rows(pg_db, f"SELECT message FROM sync_logs WHERE id = '{result.run_id}/'")
    assert summary["message"] == result.headline() and "2 rejected" in summary["message"]
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users") - {BAD, NUL})
    assert len(_rejects(pg_db)) == 2
