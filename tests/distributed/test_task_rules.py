"""The rules a fleet lives by, on real Redis and PostgreSQL: a poison partition fails the job in
one line and is not retried forever; a cancel stops every task within a batch and a resume
finishes to an exact copy; duplicate messages never run a partition twice."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

import crashkit
import fleetkit
from bulksync.jobs.broker import RUN_PARTITION, make_broker, send
from bulksync.jobs.dispatch import dispatch
from bulksync.jobs.store import JobStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def store(pg_db: str) -> JobStore:
    return JobStore(pg_db, lease_s=fleetkit.LEASE_S)


def test_a_poison_partition_fails_the_job_once_in_one_line(
    source: fleetkit.Source, redis_url: str, pg_db: str, pg_db2: str, store: JobStore, tmp_path: Path
) -> None:
    with psycopg.connect(pg_db2, autocommit=True) as conn:  # a destination that refuses everything
        conn.execute(f"CREATE TABLE t ({crashkit.PG_COLUMNS}, PRIMARY KEY (id))")
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'poison: table t takes no rows'; END $$"
        )
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION refuse()")
    worker = fleetkit.Worker(tmp_path / "w.log", redis_url, pg_db)
    try:
        cfg = fleetkit.settings(redis_url, pg_db)
        job = fleetkit.start_job(store, cfg, fleetkit.spec(source.path, pg_db2), tries=3)
        failed = fleetkit.wait_done(store, job.id)
        assert failed.status == "failed"
        assert failed.error is not None and "poison: table t takes no rows" in failed.error
        assert failed.error.startswith("table t, partition ") and "\n" not in failed.error
        time.sleep(4 * fleetkit.LEASE_S)  # sweeps come and go: nothing is sent again
        tasks = fleetkit.tasks(pg_db, job.id)
        assert all(t["attempts"] <= 1 for t in tasks), tasks  # a permanent error is not retried
        assert store.get(job.id).status == "failed"
        for t in tasks:  # each task started at most once
            assert worker.text().count(f"task start: {job.id} task {t['task_no']} ") <= 1
    finally:
        worker.stop()
        store.close()


def test_cancel_stops_within_a_batch_and_resume_completes_an_exact_copy(
    source: fleetkit.Source, redis_url: str, pg_db: str, pg_db2: str, store: JobStore, tmp_path: Path
) -> None:
    cfg = fleetkit.settings(redis_url, pg_db)
    workers = [fleetkit.Worker(tmp_path / f"w{n}.log", redis_url, pg_db) for n in (1, 2)]
    probe = crashkit.PgProbe(pg_db2)
    try:
        job = fleetkit.start_job(store, cfg, fleetkit.spec(source.path, pg_db2))
        fleetkit.wait_for(lambda: probe.count("t") + probe.count("u") > 20 * fleetkit.CHUNK, 120, "rows")
        store.request_cancel(job.id)
        asked = probe.count("t") + probe.count("u")
        cancelled = fleetkit.wait_done(store, job.id, timeout_s=60)
        assert cancelled.status == "cancelled", cancelled.error
        at_end = probe.count("t") + probe.count("u")
        # each of the 4 running tasks sees the request within a heartbeat (0.5 s) and finishes
        # at most the batch it is writing; allow a generous margin of batches per task
        assert at_end < sum(fleetkit.TABLES.values()), "the cancel came too late to be tested"
        assert at_end - asked <= 4 * 40 * fleetkit.CHUNK, (asked, at_end)
        state = probe.row(f"SELECT sum(rows_done) FROM {probe.state_table}")
        assert state is not None and state[0] == at_end  # the checkpoints agree with the data
        assert all(t["status"] != "running" for t in fleetkit.tasks(pg_db, job.id))

        resumed = store.resume(job.id, tries=3)
        assert dispatch(resumed, cfg) == "broker"
        done = fleetkit.wait_done(store, job.id)
        assert done.status == "succeeded", done.error
        assert done.progress.processed == sum(fleetkit.TABLES.values())
        fleetkit.assert_exact_copy(source, pg_db2)
    finally:
        probe.close()
        for w in workers:
            w.stop()
        store.close()


def test_duplicate_messages_never_run_a_partition_twice(
    source: fleetkit.Source, redis_url: str, pg_db: str, pg_db2: str, store: JobStore, tmp_path: Path
) -> None:
    cfg = fleetkit.settings(redis_url, pg_db)
    workers = [fleetkit.Worker(tmp_path / f"w{n}.log", redis_url, pg_db) for n in (1, 2)]
    broker = make_broker(cfg)
    try:
        job = fleetkit.start_job(store, cfg, fleetkit.spec(source.path, pg_db2, mode="append"))
        tasks = fleetkit.wait_for(lambda: fleetkit.tasks(pg_db, job.id), 60, "the job's tasks")
        for _ in range(2):  # every task's message twice more, while it queues or runs
            for t in tasks:
                send(broker, RUN_PARTITION, job.id, t["task_no"])
        done = fleetkit.wait_done(store, job.id)
        assert done.status == "succeeded", done.error
        for t in tasks:  # and once more after the end
            send(broker, RUN_PARTITION, job.id, t["task_no"])
        logs = lambda: "".join(w.text() for w in workers)  # noqa: E731
        # every message either started its task or was dropped; finish tasks start without one
        finishes = sum(1 for t in tasks if t["kind"] == "finish")
        drops = 3 * len(tasks) - finishes
        fleetkit.wait_for(lambda: logs().count(f"dropped: {job.id} task") >= drops, 60, "drops")
        final = fleetkit.tasks(pg_db, job.id)
        assert [t["attempts"] for t in final] == [1] * len(final), final
        for t in final:
            assert logs().count(f"task start: {job.id} task {t['task_no']} ") == 1
        fleetkit.assert_exact_copy(source, pg_db2)  # append mode: a second run would double rows
    finally:
        broker.close()
        for w in workers:
            w.stop()
        store.close()


def test_a_distributed_job_shows_its_speed_and_eta_while_it_runs(
    source: fleetkit.Source, redis_url: str, pg_db: str, pg_db2: str, store: JobStore, tmp_path: Path
) -> None:
    """Rate and ETA come from the rows the tasks committed, not from the running tasks' own
    figures: those were 0 between tasks and whenever a task ended before its first heartbeat,
    so with short partitions run one after another (as here) the job showed 0 rows/s, ETA ?,
    throughout."""
    worker = fleetkit.Worker(tmp_path / "w.log", redis_url, pg_db, threads=1)
    short = fleetkit.spec(source.path, pg_db2, workers=16, chunk_rows=10_000, partition_min_rows=10_000)
    try:
        job = fleetkit.start_job(store, fleetkit.settings(redis_url, pg_db), short)
        seen = []
        while not (now := store.get(job.id)).done:
            view = now.to_dict()
            if view["status"] == "running" and view["processed_records"] > 0:
                seen.append((view["records_per_second"], view["eta_seconds"], view["tables"]))
            time.sleep(0.05)
        assert now.status == "succeeded", now.error
        assert seen, "the job was never seen running with progress"
        moving = [(rate, eta) for rate, eta, _ in seen if rate > 0 and eta is not None]
        assert len(moving) >= len(seen) // 2, [(r, e) for r, e, _ in seen]
        assert any(
            t["rows_per_s"] > 0 for *_, tables in seen for t in tables.values() if t["phase"] == "copying"
        )
        done = now.to_dict()
        assert (done["records_per_second"], done["eta_seconds"]) == (0.0, None)
        assert done["estimated_records"] == done["processed_records"] == sum(fleetkit.TABLES.values())
    finally:
        worker.stop()
        store.close()
