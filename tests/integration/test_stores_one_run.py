"""One run of a store job into a table at a time (``recipes/store_lock``).

Two runs of the same job — two overlapping crons — used to join one run: every store fetched
twice, the summary row overwritten, now and then a deadlock. The second now stops at once, in one
line naming the session that holds the run, and changes nothing; another table runs beside it;
the fleet's tasks hold the lock shared (they run together, never beside a local run), and two
fleet jobs of one table are told apart by the job store. Real PostgreSQL, the fake store API."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bulksync.errors import RunInProgressError
from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.jobs.store import JobStore
from bulksync.jobs.store_tasks import refuse_twin
from bulksync.recipes.store_lock import one_run
from bulksync.recipes.stores import StoreJob, sync_in_open_run, sync_stores
from bulksync.recipes.stores_result import StoreProgress, StoresResult
from storekit import assert_exactly_once, expected_keys, job_for, rows

pytestmark = pytest.mark.integration

HELD = r"another run of sync_users_daily into 'store_users' is in progress \(PostgreSQL backend \d+ since "


@contextmanager
def running(job: StoreJob) -> Iterator[dict[str, StoresResult]]:
    """``job`` running in a thread, held still (its lock taken, one store ended) meanwhile."""
    started, release = threading.Event(), threading.Event()
    done: dict[str, StoresResult] = {}

    def hold(p: StoreProgress) -> None:
        if p.processed >= 1 and not release.is_set():
            started.set()
            release.wait(60)

    thread = threading.Thread(target=lambda: done.setdefault("result", sync_stores(job, hold)))
    thread.start()
    try:
        assert started.wait(60), "the first run never ended a store"
        yield done
    finally:
        release.set()
        thread.join(120)
    assert not thread.is_alive()


def logs(url: str) -> list[dict[str, Any]]:
    return rows(url, "SELECT * FROM sync_logs ORDER BY id")


def test_a_second_run_of_the_same_job_stops_at_once_and_changes_nothing(pg_db: str) -> None:
    catalog = FakeStores(stores=6, seed=7)
    with FakeStoreServer(catalog, latency_s=0.01) as srv:
        job = job_for(srv, pg_db, concurrency=2)
        with running(job) as first:
            with pytest.raises(RunInProgressError, match=HELD):
                sync_stores(job)
            with pytest.raises(RunInProgressError, match=HELD):  # other options: no new run either
                sync_stores(replace(job, page_size=7))
        assert first["result"].status == "succeeded"
        assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
        assert {r["run_id"] for r in logs(pg_db)} == {first["result"].run_id}, "a refused run wrote"
        summaries = rows(pg_db, "SELECT status FROM sync_logs WHERE store_code IS NULL")
        assert [s["status"] for s in summaries] == ["succeeded"]
        assert srv.stats.as_dict()["requests"] == first["result"].requests, "a refused run called the APIs"
        again = sync_stores(job)  # the lock went with the first run's session
    assert again.status == "succeeded"


def test_the_command_says_so_in_one_line_with_exit_1(pg_db: str, tmp_path: Path) -> None:
    catalog = FakeStores(stores=4, seed=8)
    with FakeStoreServer(catalog, latency_s=0.01) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="main")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
        environ["BULKSYNC_STORES_CREDENTIALS__MAIN"] = catalog.token
        command = [sys.executable, "-m", "bulksync", "stores", "sync", "users", "--stores", str(listing),
                   "--to", pg_db, "--page-size", "10", "--quiet"]  # fmt: skip
        with running(job_for(srv, pg_db, concurrency=1)):
            done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=120)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is in progress (PostgreSQL backend" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_another_table_runs_beside_it(pg_db: str) -> None:
    catalog = FakeStores(stores=4, seed=9)
    with FakeStoreServer(catalog, latency_s=0.01) as srv:
        job = job_for(srv, pg_db, concurrency=1)
        with running(job):
            other = sync_stores(replace(job, table="store_users_b"))
    assert other.status == "succeeded"
    assert_exactly_once(pg_db, "store_users_b", expected_keys(catalog, "users"))


def test_fleet_tasks_share_the_lock_but_never_run_beside_a_local_run(pg_db: str) -> None:
    catalog = FakeStores(stores=3, seed=10)
    with FakeStoreServer(catalog, latency_s=0.01) as srv:
        job = job_for(srv, pg_db, concurrency=1)
        with running(job):
            with pytest.raises(RunInProgressError, match=HELD):
                sync_in_open_run(job)  # a fleet task beside a local run
        shared = {"dest_url": pg_db, "job_name": job.job_name, "table": job.table_name, "shared": True}
        with one_run(**shared), one_run(**shared):  # two fleet tasks of one job: both hold it
            with pytest.raises(RunInProgressError, match=HELD):
                sync_stores(job)  # a local run while fleet tasks run


def test_a_fleet_job_is_refused_while_an_older_one_syncs_the_same_table(tmp_path: Path) -> None:
    store = JobStore(str(tmp_path / "jobs.db"))
    try:

        def spec(table: str, dest: str = "default") -> dict[str, Any]:
            return {"destination": {"connection": dest}, "stores": {"kind": "users", "table": table}}

        older = store.create(kind="stores", spec=spec("store_users"), max_attempts=3)
        newer = store.create(kind="stores", spec=spec("store_users"), max_attempts=3)
        elsewhere = store.create(kind="stores", spec=spec("store_users", dest="other"), max_attempts=3)
        fleet = SimpleNamespace(store=store)
        for job in (older, newer, elsewhere):
            assert store.claim(job.id, "w1", distributed=True) is not None
        twin = f"job {older.id} is already syncing users into 'store_users'"
        with pytest.raises(RunInProgressError, match=twin):
            refuse_twin(fleet, store.get(newer.id))  # type: ignore[arg-type]
        refuse_twin(fleet, store.get(older.id))  # type: ignore[arg-type]  # the older goes on
        refuse_twin(fleet, store.get(elsewhere.id))  # type: ignore[arg-type]  # another destination
        store.finish(older.id, "w1", status="succeeded")
        refuse_twin(fleet, store.get(newer.id))  # type: ignore[arg-type]  # once it ended
    finally:
        store.close()
