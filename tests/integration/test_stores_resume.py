"""Which unfinished run a store sync resumes: only one that fetches the same and started
recently. Last night's interrupted run is never "resumed" tonight (its finished stores would be
skipped and keep last night's records), nor a run made with another --since or --page-size
(its cursors point elsewhere). Real PostgreSQL, the fake store API."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import replace
from typing import Any

from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.recipes.stores import StoreJob, sync_stores
from bulksync.recipes.stores_result import StoreProgress, StoresResult
from storekit import assert_exactly_once, expected_keys, job_for, rows


def interrupted(job: StoreJob, *, after_stores: int) -> StoresResult:
    """Run ``job`` and stop it (as Ctrl-C or a cancel does) once ``after_stores`` stores ended."""
    cancel = threading.Event()

    def watch(p: StoreProgress) -> None:
        if p.processed >= after_stores:
            cancel.set()

    result = sync_stores(job, watch, cancel=cancel)
    assert result.status == "cancelled"
    return result


def new_day(srv: FakeStoreServer, seed: int) -> None:
    """The APIs answer another day's records (same stores, same URLs)."""
    srv.catalog.seed = seed
    srv._cache.clear()


def table(url: str) -> list[dict[str, Any]]:
    return rows(
        url, "SELECT store_code, id, username, follower_count, updated_at FROM store_users ORDER BY 1, 2"
    )


def want(catalog: FakeStores) -> list[tuple[str, int, str, int]]:
    return sorted(
        (c, r["id"], r["username"], r["follower_count"])
        for c in catalog.codes()
        for r in catalog.records(c, "users")
    )


def test_an_old_unfinished_run_is_not_resumed_the_next_night(pg_db: str) -> None:
    catalog = FakeStores(stores=8, seed=4)
    with FakeStoreServer(catalog, latency_s=0.02) as srv:
        night1 = job_for(srv, pg_db, concurrency=2, resume_within_s=0.5)
        first = interrupted(night1, after_stores=3)
        time.sleep(0.6)  # "the next night": older than the window
        new_day(srv, 5)
        second = sync_stores(night1)
    assert second.status == "succeeded" and not second.resumed and second.skipped == 0
    assert second.run_id != first.run_id
    assert f"run {first.run_id} from" in second.note and "not resumed" in second.note
    assert "more than --resume-within" in second.note
    got = [(r["store_code"], r["id"], r["username"], r["follower_count"]) for r in table(pg_db)]
    assert got == want(catalog), "records of the earlier day were kept"
    summaries = {r["run_id"]: r for r in rows(pg_db, "SELECT * FROM sync_logs WHERE store_code IS NULL")}
    assert summaries[first.run_id]["status"] == "abandoned"
    assert second.run_id in summaries[first.run_id]["message"]
    assert summaries[second.run_id]["status"] == "succeeded"


def test_a_recent_run_with_the_same_options_is_resumed(pg_db: str) -> None:
    catalog = FakeStores(stores=8)
    with FakeStoreServer(catalog, latency_s=0.02) as srv:
        job = job_for(srv, pg_db, concurrency=2)
        first = interrupted(job, after_stores=3)
        paused = rows(pg_db, "SELECT status, message FROM sync_logs WHERE store_code IS NULL")
        second = sync_stores(job)
    assert [r["status"] for r in paused] == ["cancelled"], "a cancelled run's summary stayed 'running'"
    assert "the same command continues this run" in paused[0]["message"]
    assert second.resumed and second.run_id == first.run_id and second.skipped >= 3
    assert second.note.startswith(f"resuming run {first.run_id} from ")
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))


def test_other_since_or_page_size_starts_a_new_run(pg_db: str) -> None:
    catalog = FakeStores(stores=6)
    since = "2026-11-15T00:00:00Z"
    with FakeStoreServer(catalog, latency_s=0.02) as srv:
        job = job_for(srv, pg_db, concurrency=2, since=since, page_size=7)
        first = interrupted(job, after_stores=2)
        other_size = interrupted(replace(job, page_size=5), after_stores=2)
        everything = sync_stores(replace(job, since=None, page_size=5))
    assert other_size.run_id != first.run_id and not other_size.resumed
    assert other_size.note == (
        f"run {first.run_id} from {first_started(pg_db, first.run_id)} not resumed: its --page-size differed"
    )
    assert everything.run_id != other_size.run_id and everything.skipped == 0
    assert "not resumed: its --since differed" in everything.note
    assert everything.status == "succeeded"
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    statuses = {
        r["run_id"]: r["status"] for r in rows(pg_db, "SELECT * FROM sync_logs WHERE store_code IS NULL")
    }
    assert statuses == {
        first.run_id: "abandoned",
        other_size.run_id: "abandoned",
        everything.run_id: "succeeded",
    }


def first_started(url: str, run_id: str) -> str:
    found = rows(url, f"SELECT run_time FROM sync_logs WHERE id = '{run_id}/'")[0]["run_time"]
    return f"{found.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
