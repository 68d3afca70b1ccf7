"""`bulksync jobs|status|cancel` read the store through the plain driver (jobs/lookup.py): the
same jobs, filters and cancel transitions as the SQLAlchemy job store, on a SQLite file and on
PostgreSQL, and a PostgreSQL store is reached without SQLAlchemy."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bulksync.errors import UsageError
from bulksync.jobs.lookup import JobLookup, StoreMissing, UnknownJobError
from bulksync.jobs.model import c, jobs
from bulksync.jobs.statuses import STATUSES
from bulksync.jobs.store import JobStore

pytestmark = [pytest.mark.integration]

SPEC = {"source": {"url": "/tmp/a.db"}, "destination": {"url": "/tmp/b.db"}, "tables": [{"name": "t"}]}


def _every_status(store: JobStore) -> dict[str, str]:
    """One job in each public status; its id by status."""
    made = {s: store.create(kind="copy", spec=SPEC, max_attempts=3).id for s in STATUSES}
    for status in ("running", "stopping", "lost", "succeeded", "partial", "failed"):
        assert store.claim(made[status], "runner-1") is not None
    store.request_cancel(made["stopping"])
    store.request_cancel(made["cancelled"])
    for status in ("succeeded", "partial", "failed"):
        error = "boom" if status == "failed" else None
        assert store.finish(made[status], "runner-1", status=status, error=error)
    with store.transaction() as conn:  # its runner stopped heart-beating a minute ago
        past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
        conn.execute(jobs.update().where(c.id == made["lost"]).values(lease_expires=past))
    return made


def test_the_lookup_reads_what_the_store_reads(store: JobStore, store_url: str) -> None:
    made = _every_status(store)
    lookup = JobLookup(store_url)
    try:
        for status in (None, *STATUSES):
            assert lookup.list(status=status, limit=50) == store.list(status=status, limit=50), status
        assert [j.id for j in lookup.list(limit=3)] == [j.id for j in store.list(limit=3)]
        for status, job_id in made.items():
            found = lookup.get(job_id)
            assert found == store.get(job_id)
            assert found.public_status == status
        with pytest.raises(UnknownJobError, match="no job 'nope'"):
            lookup.get("nope")
        with pytest.raises(UsageError, match="unknown status"):
            lookup.list(status="sleeping")
    finally:
        lookup.close()


def test_the_lookup_cancels_as_the_store_does(store: JobStore, store_url: str) -> None:
    made = _every_status(store)
    lookup = JobLookup(store_url)
    try:
        assert lookup.request_cancel(made["queued"]).status == "cancelled"
        assert lookup.request_cancel(made["lost"]).status == "cancelled"  # its runner is gone
        asked = lookup.request_cancel(made["running"])
        assert (asked.status, asked.public_status) == ("running", "stopping")
        for ended in ("succeeded", "partial", "failed"):
            with pytest.raises(UsageError, match=f"already {ended}"):
                lookup.request_cancel(made[ended])
    finally:
        lookup.close()
    # the runner sees the cancel through the store it writes with
    assert store.heartbeat(made["running"], "runner-1") == (True, True)
    assert store.get(made["queued"]).finished_at is not None
    assert store.list(status="cancelled", limit=10) != []


def test_a_store_without_the_jobs_table_is_missing_not_created(pg_db: str, tmp_path: Path) -> None:
    with pytest.raises(StoreMissing, match="it has no bulksync_jobs table"):
        JobLookup(pg_db)
    with pytest.raises(StoreMissing, match="no job store at"):
        JobLookup(str(tmp_path / "nothing.db"))
    assert not (tmp_path / "nothing.db").exists()
    engine = sa.create_engine("postgresql+psycopg://" + pg_db.split("://", 1)[1])
    try:
        assert not sa.inspect(engine).has_table("bulksync_jobs")
    finally:
        engine.dispose()


PROBE = """
import json, os, sys
sys.argv = ["bulksync", *json.loads(sys.argv[1])]
real_exit = os._exit
def report(code=0):
    sys.stdout.flush()
    sys.stderr.write("\\nMODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})) + "\\n")
    real_exit(code)
os._exit = report
from bulksync.cli import main
main()
"""


def _loaded(store_url: str, *args: str) -> tuple[set[str], str]:
    env = {**os.environ, "BULKSYNC_JOB_STORE": store_url}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES "))), proc.stdout


def test_the_job_commands_reach_a_postgresql_store_without_sqlalchemy(pg_db: str) -> None:
    store = JobStore(pg_db)
    ids = [store.create(kind="copy", spec=SPEC, max_attempts=3).id for _ in range(2)]
    store.close()
    heavy = {"sqlalchemy", "pyarrow", "numpy", "pydantic_settings", "adbc_driver_manager", "dramatiq"}
    found, out = _loaded(pg_db, "jobs")
    assert "psycopg" in found and not found & heavy
    assert ids[0] in out and ids[1] in out
    found, out = _loaded(pg_db, "status", ids[0], "--json")
    assert not found & heavy
    assert json.loads(out)["status"] == "queued"
    found, out = _loaded(pg_db, "cancel", ids[1])
    assert not found & heavy
    assert f"job {ids[1]} cancelled" in out
    store = JobStore(pg_db)
    assert store.get(ids[1]).status == "cancelled"
    store.close()


def test_status_follow_reads_again_after_the_store_dropped_its_connection(pg_db: str) -> None:
    """A restarted store (or a killed backend) is one ConnectionLost, then a new connection."""
    import psycopg

    from bulksync.errors import ConnectionLost

    store = JobStore(pg_db)
    job_id = store.create(kind="copy", spec=SPEC, max_attempts=3).id
    store.close()
    lookup = JobLookup(pg_db)
    try:
        assert lookup.get(job_id).status == "queued"
        with psycopg.connect(pg_db, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(ConnectionLost, match="job store"):
            lookup.get(job_id)
        assert lookup.get(job_id).status == "queued"
    finally:
        lookup.close()
