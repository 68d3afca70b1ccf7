"""The embedded runner on real databases: a job runs to an exact copy with its progress in the
store, a cancel stops it between batches, a resume finishes it exactly, a bad job fails in one line."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import bulksync.jobs.runner as runner_module
import crashkit
from bulksync.connectors.registry import open_connector
from bulksync.jobs.launch import submit
from bulksync.jobs.runner import WorkerPool, run_job, run_until_done
from bulksync.jobs.store import JobStore
from bulksync.settings import Settings
from bulksync.spec import SyncSpec, TableSpec
from helpers import pg_tables

pytestmark = [pytest.mark.integration]

ROWS = 200_000
CHUNK = 5_000
SEED = 4242


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, crashkit.Digests]:
    path = tmp_path_factory.mktemp("jobs") / "source.db"
    crashkit.build_source(str(path), ROWS, seed=SEED)
    return path, crashkit.sqlite_digests(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    s = JobStore(str(tmp_path / "jobs.db"), lease_s=10)
    yield s
    s.close()


def _spec(source: Path, dest: str, table: str = crashkit.TABLE) -> SyncSpec:
    return SyncSpec(
        source=str(source), destination=dest, tables=(TableSpec(name=table),), chunk_rows=CHUNK, workers=2
    )


def test_a_job_runs_to_an_exact_copy_and_records_its_progress(
    source: tuple[Path, crashkit.Digests], pg_db: str, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # progress every 50 ms, not 0.5 s: the 200K-row copy now ends within a second, and at the
    # default cadence no write landed midway one run in three
    monkeypatch.setattr(runner_module, "WRITE_EVERY_S", 0.05)
    settings = Settings()
    job = submit(store, _spec(source[0], pg_db), settings, kind="copy")
    seen: list[tuple[str, int]] = []
    runner = threading.Thread(target=run_until_done, args=(store, job.id, settings))
    runner.start()
    while runner.is_alive():
        now = store.get(job.id)
        seen.append((now.status, now.progress.processed))
        time.sleep(0.1)
    runner.join()

    done = store.get(job.id)
    assert done.status == "succeeded", done.error
    assert (done.progress.processed, done.progress.estimated, done.progress.percentage) == (ROWS, ROWS, 100.0)
    assert done.attempts == 1 and done.finished_at is not None and done.lease_owner is None
    assert done.progress.tables[crashkit.TABLE]["phase"] == "done"
    assert done.result is not None and done.result["processed_rows"] == ROWS
    midway = [n for status, n in seen if status == "running" and 0 < n < ROWS]
    assert midway, f"no progress was written while the job ran: {seen[:5]}…{seen[-5:]}"
    assert midway == sorted(midway)  # progress never goes backwards
    verdict = crashkit.compare(source[1], crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)


def test_cancel_stops_between_batches_and_resume_completes_an_exact_copy(
    source: tuple[Path, crashkit.Digests], pg_db: str, store: JobStore
) -> None:
    settings = Settings()
    job = submit(store, _spec(source[0], pg_db), settings, kind="copy")
    probe = crashkit.PgProbe(pg_db)
    runner = threading.Thread(target=run_until_done, args=(store, job.id, settings))
    runner.start()
    while (first := probe.count()) < 3 * CHUNK:
        assert runner.is_alive(), store.get(job.id).error
        time.sleep(0.005)
    t0 = time.monotonic()
    time.sleep(0.2)
    at_request = probe.count()
    rate = (at_request - first) / (time.monotonic() - t0)
    store.request_cancel(job.id)
    runner.join(30)
    stopped_after = time.monotonic() - t0
    probe.settle()
    at_end = probe.count()

    cancelled = store.get(job.id)
    assert cancelled.status == "cancelled", cancelled.error
    assert at_end < ROWS, "the cancel came too late to be tested"
    # the runner sees the request within one heartbeat (0.5 s); then each of the 2 partitions
    # finishes at most the batch it is writing
    assert at_end - at_request <= rate * 0.6 + 2 * CHUNK, (at_request, at_end, rate)
    assert stopped_after < 5
    assert cancelled.progress.processed <= at_end  # what the store says was done, was done
    state = probe.row(f"SELECT sum(rows_done) FROM {probe.state_table}")
    assert state is not None and state[0] == at_end  # checkpoints agree: no half-written batch

    resumed = store.resume(job.id, tries=3)
    assert resumed.status == "queued"
    assert run_until_done(store, job.id, settings) == "succeeded"
    done = store.get(job.id)
    assert (done.status, done.attempts, done.progress.processed) == ("succeeded", 2, ROWS)
    verdict = crashkit.compare(source[1], crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)
    probe.close()


def test_a_job_that_cannot_run_fails_with_one_clear_line(
    source: tuple[Path, crashkit.Digests], pg_db: str, store: JobStore
) -> None:
    job = submit(store, _spec(source[0], pg_db, table="nope"), Settings(), kind="copy", tries=3)
    assert run_until_done(store, job.id, Settings()) == "failed"
    failed = store.get(job.id)
    assert failed.attempts == 1  # a permanent error is not retried
    assert failed.error is not None and "'nope' does not exist" in failed.error and "\n" not in failed.error


def test_worker_pool_takes_over_a_job_whose_runner_died(
    source: tuple[Path, crashkit.Digests], pg_db: str, tmp_path: Path
) -> None:
    dying = JobStore(str(tmp_path / "pool.db"), lease_s=1)
    settings = Settings()
    orphan = submit(dying, _spec(source[0], pg_db), settings, kind="copy")
    assert dying.claim(orphan.id, "a-runner-that-dies-at-once") is not None  # and never beats again
    dying.close()
    store = JobStore(str(tmp_path / "pool.db"), lease_s=10)  # the pool's own leases: roomy under load
    pool = WorkerPool(store, settings, threads=2, poll_s=0.1)
    pool.start()
    try:
        deadline = time.monotonic() + 60
        while not store.get(orphan.id).done:
            assert time.monotonic() < deadline, store.get(orphan.id)
            time.sleep(0.1)
    finally:
        pool.stop(30)
    done = store.get(orphan.id)
    assert (done.status, done.attempts, done.progress.processed) == ("succeeded", 2, ROWS), done.error
    assert done.started_at is not None and done.finished_at is not None
    verdict = crashkit.compare(source[1], crashkit.pg_digests(pg_db))
    assert verdict.ok, str(verdict)
    store.close()


def test_a_job_record_names_the_connection_never_its_address(
    source: tuple[Path, crashkit.Digests], pg_db: str, store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    gone = pg_db.rsplit("/", 1)[0] + "/bs_gone_records"  # a database nobody made
    settings = Settings(connections={"gone": gone})
    job = submit(store, _spec(source[0], gone), settings, kind="copy")
    assert job.spec["destination"] == {"connection": "gone"}
    with caplog.at_level(logging.INFO, logger="bulksync.jobs"):
        assert run_until_done(store, job.id, settings) == "failed"
    failed = store.get(job.id)
    assert failed.error == "cannot connect to connection 'gone': its database does not exist"
    record = json.dumps(failed.to_dict())
    assert "bs_gone_records" not in record and "127.0.0.1" not in record and "postgres@" not in record
    assert "bs_gone_records" in caplog.text  # the runner's log has the whole line


def _two_tables(path: Path) -> dict[str, crashkit.Digests]:
    """``a`` (10,000 rows, copied first) and ``b`` (100,000 rows) in one SQLite file."""
    conn = open_connector(str(path), create=True)
    try:
        for name, rows, seed in (("a", 10_000, 5), ("b", 100_000, 6)):
            conn.create_table(crashkit.SCHEMA.renamed(name), with_indexes=False)
            for start in range(1, rows + 1, 50_000):
                with conn.transaction() as tx:
                    tx.write(name, crashkit.make_batch(start, min(50_000, rows + 1 - start), seed=seed))
    finally:
        conn.close()
    return {t: crashkit.sqlite_digests(path, t) for t in ("a", "b")}


def test_a_resumed_job_skips_the_tables_it_finished_and_counts_each_row_once(
    tmp_path: Path, pg_db: str, store: JobStore
) -> None:
    from bulksync.metrics.process import Metrics

    digests = _two_tables(tmp_path / "two.db")
    settings = Settings()
    spec = SyncSpec(
        source=str(tmp_path / "two.db"), destination=pg_db, tables=("a", "b"), mode="replace",
        workers=1, chunk_rows=1_000, restart=True,
    )  # fmt: skip
    job = submit(store, spec, settings, kind="migrate")
    metrics = Metrics(lambda: store)

    def attempt() -> str:
        claimed = store.claim(job.id, "test-runner")
        assert claimed is not None
        return run_job(store, claimed, settings, "test-runner", listeners=[metrics])

    first = threading.Thread(target=attempt)
    first.start()
    probe = crashkit.PgProbe(pg_db)
    deadline = time.monotonic() + 60
    while "b__bulksync_new" not in pg_tables(pg_db):  # planned: both staging tables exist
        assert time.monotonic() < deadline and first.is_alive(), store.get(job.id)
        time.sleep(0.01)
    with psycopg.connect(pg_db) as lock:  # b's batches wait; a is copied and swapped in
        lock.execute("LOCK TABLE b__bulksync_new IN SHARE MODE")
        while store.get(job.id).progress.tables.get("a", {}).get("phase") != "done":
            assert time.monotonic() < deadline and first.is_alive(), store.get(job.id)
            time.sleep(0.05)
        store.request_cancel(job.id)
        requested = store.get(job.id).updated_at
        while store.get(job.id).updated_at <= requested:  # a heartbeat read the request
            assert time.monotonic() < deadline, store.get(job.id)
            time.sleep(0.05)
    first.join(60)
    assert store.get(job.id).status == "cancelled"
    assert probe.count("b__bulksync_new") < 100_000, "b was finished before the cancel"

    store.resume(job.id, tries=3)
    assert attempt() == "succeeded"
    done = store.get(job.id)
    assert done.result is not None
    a, b = done.result["tables"]
    assert (a["table"], a["rows_read"], a["resumed_rows"], a["status"]) == ("a", 0, 10_000, "succeeded")
    assert b["rows_read"] + b["resumed_rows"] == 100_000 and b["resumed_rows"] > 0
    assert done.progress.processed == 110_000 and done.progress.tables["a"]["rows_done"] == 10_000
    synced = {s.labels["table"]: s.value for m in metrics.registry.collect() for s in m.samples
              if s.name == "bulksync_rows_synced_total"}  # fmt: skip
    assert synced == {"a": 10_000, "b": 100_000}  # every row counted once
    for table, rows in digests.items():
        verdict = crashkit.compare(rows, crashkit.pg_digests(pg_db, table))
        assert verdict.ok, f"{table}: {verdict}"
    probe.close()
