"""The job store on a SQLite file and on PostgreSQL: atomic claims, lease takeover, capped
attempts, cancel/resume transitions, and never a password in a record."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import psycopg
import pytest

from bulksync.errors import UsageError
from bulksync.jobs.specs import spec_from_record, spec_record
from bulksync.jobs.store import JobStore, Progress
from bulksync.settings import Settings
from bulksync.spec import SyncSpec, TableSpec

pytestmark = [pytest.mark.integration]

SPEC = {"source": {"url": "/tmp/a.db"}, "destination": {"url": "/tmp/b.db"}, "tables": [{"name": "t"}]}


def _claim_in_process(url: str, ids: list[str], start: float, out: multiprocessing.Queue[str]) -> None:
    s = JobStore(url, lease_s=30)
    while time.time() < start:
        pass
    for job_id in ids:  # every process goes for the same jobs in the same order at the same moment
        if s.claim(job_id, f"proc-{multiprocessing.current_process().pid}") is not None:
            out.put(job_id)
    s.close()


def test_processes_racing_for_the_same_jobs_exactly_one_wins_each(store: JobStore, store_url: str) -> None:
    ids = [store.create(kind="copy", spec=SPEC, max_attempts=3).id for _ in range(5)]
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[str] = ctx.Queue()
    start = time.time() + 1.5
    procs = [ctx.Process(target=_claim_in_process, args=(store_url, ids, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    won = [out.get(timeout=5) for _ in ids]
    assert sorted(won) == sorted(ids)  # each job claimed exactly once
    for job_id in ids:
        got = store.get(job_id)
        assert (got.status, got.attempts) == ("running", 1)
        assert got.lease_owner is not None and got.lease_owner.startswith("proc-")


def test_threads_racing_claim_next_never_share_a_job(store: JobStore) -> None:
    ids = {store.create(kind="copy", spec=SPEC, max_attempts=1).id for _ in range(12)}
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        barrier.wait()
        while (job := store.claim_next(f"t{n}")) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    assert store.counts()["running"] == 12


def test_expired_lease_is_taken_over_and_the_old_runner_is_locked_out(store_url: str) -> None:
    short = JobStore(store_url, lease_s=1)
    job = short.create(kind="copy", spec=SPEC, max_attempts=3)
    assert short.claim(job.id, "dead") is not None
    assert short.claim(job.id, "other") is None  # lease still fresh
    time.sleep(1.1)
    taken = short.claim(job.id, "other")
    assert taken is not None and (taken.lease_owner, taken.attempts) == ("other", 2)
    ours, _ = short.heartbeat(job.id, "dead", Progress(processed=5, estimated=10))
    assert not ours  # the dead runner, if it comes back, may not write anymore
    assert not short.finish(job.id, "dead", status="succeeded")
    assert short.get(job.id).progress.processed == 0
    ours, _ = short.heartbeat(job.id, "other", Progress(processed=5, estimated=10))
    assert ours and short.get(job.id).progress.percentage == 50.0
    short.close()


def test_attempts_are_capped_and_an_exhausted_dead_job_fails(store_url: str) -> None:
    short = JobStore(store_url, lease_s=1)
    job = short.create(kind="copy", spec=SPEC, max_attempts=2)
    assert short.claim(job.id, "a") is not None
    time.sleep(1.1)
    assert short.claim(job.id, "b") is not None
    time.sleep(1.1)
    assert short.claim(job.id, "c") is None  # 2 of 2 attempts used
    assert short.claim_next("c") is None
    dead = short.get(job.id)
    assert (dead.status, dead.attempts) == ("failed", 2)
    assert dead.error is not None and "bulksync resume" in dead.error
    again = short.resume(job.id, tries=2)
    assert (again.status, again.max_attempts) == ("queued", 4)
    assert short.claim(job.id, "d") is not None
    short.close()


def test_cancel_and_resume_transitions(store: JobStore) -> None:
    queued = store.create(kind="copy", spec=SPEC, max_attempts=3)
    assert store.request_cancel(queued.id).status == "cancelled"  # never ran: cancelled at once
    running = store.create(kind="copy", spec=SPEC, max_attempts=3)
    store.claim(running.id, "me")
    asked = store.request_cancel(running.id)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    assert store.heartbeat(running.id, "me") == (True, True)  # the runner learns it
    assert store.finish(running.id, "me", status="cancelled")
    with pytest.raises(UsageError, match="is running"):
        other = store.create(kind="copy", spec=SPEC, max_attempts=3)
        store.claim(other.id, "x")
        store.resume(other.id, tries=3)
    resumed = store.resume(running.id, tries=3)
    assert (resumed.status, resumed.cancel_requested, resumed.finished_at) == ("queued", False, None)
    store.claim(resumed.id, "me")
    store.finish(resumed.id, "me", status="succeeded")
    with pytest.raises(UsageError, match="already succeeded"):
        store.resume(resumed.id, tries=3)
    with pytest.raises(UsageError, match="already succeeded"):
        store.request_cancel(resumed.id)
    with pytest.raises(UsageError, match="no job 'job_nope'"):
        store.get("job_nope")


def test_bet_jobs_have_seed_shaped_ids(store: JobStore) -> None:
    job = store.create(kind="bets", spec=SPEC, max_attempts=3)
    assert job.id.startswith("sync_bets_") and len(job.id) == len("sync_bets_673f8a1b2c4d5")
    assert store.create(kind="copy", spec=SPEC, max_attempts=3).id.startswith("job_")


def test_no_password_ever_reaches_the_store(store: JobStore, store_url: str, tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55"
    dsn = f"postgresql://sync:{secret}@127.0.0.1:5432/warehouse"
    settings = Settings(connections={"warehouse": dsn})
    spec = SyncSpec(source=str(tmp_path / "src.db"), destination=dsn, tables=(TableSpec(name="bets"),))

    record = spec_record(spec, settings)
    job = store.create(kind="copy", spec=record, max_attempts=3)
    store.claim(job.id, "me")
    store.finish(job.id, "me", status="failed", error=f"cannot connect to {dsn}: password={secret} refused")

    assert record["destination"] == {"connection": "warehouse"}
    assert spec_from_record(store.get(job.id).spec, settings).destination == dsn  # resolved again
    assert secret not in (store.get(job.id).error or "")
    with pytest.raises(UsageError, match="named connection"):
        spec_record(spec, Settings())  # the same DSN, not configured: refused, not stored
    if store_url.startswith("postgresql"):
        with psycopg.connect(store_url) as conn:
            dump = str(conn.execute("SELECT * FROM bulksync_jobs").fetchall())
        assert secret not in dump and job.id in dump
    else:
        store.close()
        raw = b"".join(p.read_bytes() for p in Path(store_url).parent.glob("jobs.db*"))
        assert secret.encode() not in raw and job.id.encode() in raw


def test_one_status_vocabulary_shown_filtered_and_counted(store: JobStore) -> None:
    """``lost`` and ``stopping`` are statuses like the others: a job shows one status, is listed
    under it (and under no other), and is counted under it."""
    from bulksync.jobs.store import STATUSES

    def job() -> str:
        return store.create(kind="copy", spec=SPEC, max_attempts=3).id

    queued, running, stopping, lost = job(), job(), job(), job()
    for job_id in (running, stopping):
        assert store.claim(job_id, "alive") is not None
    store.request_cancel(stopping)
    short = JobStore(store.engine.url.render_as_string(hide_password=False), lease_s=0.2)
    assert short.claim(lost, "dies") is not None  # and never beats again
    short.close()
    time.sleep(0.3)
    expected = {queued: "queued", running: "running", stopping: "stopping", lost: "lost"}
    assert {j: store.get(j).public_status for j in expected} == expected
    assert {j: store.get(j).to_dict()["status"] for j in expected} == expected
    for status in STATUSES:
        assert [j.id for j in store.list(status=status)] == [j for j, s in expected.items() if s == status]
    assert store.counts() == {s: list(expected.values()).count(s) for s in STATUSES}
    with pytest.raises(UsageError, match="unknown status 'done'"):
        store.list(status="done")


def test_a_listing_names_the_destination_table_when_it_has_another_name() -> None:
    from bulksync.jobs.specs import describe

    record = {
        "source": {"connection": "dk"},
        "destination": {"url": "/data/wh.db"},
        "tables": [{"name": "bets", "dest_name": "bets_vn"}, {"name": "players", "dest_name": None}],
    }
    assert describe(record) == "dk → /data/wh.db: bets as bets_vn, players"


def test_a_runner_frozen_inside_a_store_transaction_does_not_block_the_others(pg_db: str) -> None:
    """A runner stopped (SIGSTOP, a paused VM) between two statements of a store transaction
    holds its job row: on PostgreSQL the server ends that transaction after the lease (10 s at
    least), and the other runner's heartbeat goes through instead of waiting for ever."""
    frozen = JobStore(pg_db, lease_s=1)
    other = JobStore(pg_db, lease_s=1)
    job = frozen.create(kind="copy", spec=SPEC, max_attempts=3)
    assert frozen.claim(job.id, "frozen") is not None
    held = frozen.engine.connect()
    held.begin()
    held.exec_driver_sql("UPDATE bulksync_jobs SET updated_at = updated_at WHERE id = %s", (job.id,))
    answered: list[object] = []
    beat = threading.Thread(target=lambda: answered.append(other.request_cancel(job.id)), daemon=True)
    began = time.monotonic()
    beat.start()
    beat.join(timeout=60)
    try:
        assert answered, "a write to the job waited on the frozen runner's transaction for 60 s"
        assert time.monotonic() - began >= 5  # it did wait: the lock was real, then released
    finally:
        try:
            held.close()
        except Exception:  # its session was ended by the server: that is the point
            pass
        frozen.close()
        other.close()


def test_a_transaction_postgresql_ended_while_frozen_is_a_lost_connection(pg_db: str) -> None:
    """A worker frozen past PostgreSQL's idle_in_transaction_session_timeout met it on its next
    commit as an InternalError, which no runner loop caught: the fleet's sweeper thread died
    with a traceback. It is the one-line ConnectionLost a restarted store is."""
    import sqlalchemy as sa

    from bulksync.errors import ConnectionLost

    store = JobStore(pg_db, lease_s=30)
    try:
        with pytest.raises(ConnectionLost, match="idle-in-transaction timeout"):
            with store.transaction() as conn:
                conn.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = '100ms'"))
                time.sleep(0.5)
        assert store.counts()["queued"] == 0  # a new session serves the next call
    finally:
        store.close()
