"""Store syncs as background jobs, as a user runs them: ``stores sync … --background`` prints a
job id and the job ends ``partial`` with its failed store named; ``stores retry JOB`` re-runs
only that store; a SIGKILLed runner is resumed with nothing lost or doubled; no token anywhere
in the job record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.jobs.store import JobStore
from storekit import BAD_TOKEN, assert_exactly_once, expected_keys, rows

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def bulksync(store: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    src = str(Path(__file__).resolve().parents[2] / "src")
    environ.update(BULKSYNC_JOB_STORE=str(store), BULKSYNC_JOB_LEASE_SECONDS="2", **env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "bulksync", *args],
        capture_output=True, text=True, timeout=120, check=False, env=environ,
    )  # fmt: skip


def sync_args(listing: Path, dest: str, *extra: str) -> list[str]:
    return ["stores", "sync", "users", "--stores", str(listing), "--to", dest, "--page-size", "5",
            "--concurrency", "3", "--backoff", "0.01", "--background", *extra]  # fmt: skip


def wait_job(path: Path, job_id: str, until: Any, timeout_s: float = 120) -> dict[str, Any]:
    """The job's public view (``status --json``'s) once ``until`` holds."""
    deadline = time.monotonic() + timeout_s
    store = JobStore(str(path), create=False)
    try:
        while True:
            job: dict[str, Any] = store.get(job_id).to_dict()
            if until(job):
                return job
            assert time.monotonic() < deadline, f"job {job_id} stuck: {job['status']}"
            time.sleep(0.05)
    finally:
        store.close()


def test_background_partial_then_retry_only_the_failed_store(
    pg_db: str, store_path: Path, tmp_path: Path
) -> None:
    with FakeStoreServer(FakeStores(stores=6), latency_s=0.005) as srv:
        listing = tmp_path / "stores.json"
        entries = [
            {"store_code": c, "base_url": srv.base_url(c), "credential": "bad" if c == "s0003" else "main"}
            for c in srv.catalog.codes()
        ]
        listing.write_text(json.dumps(entries))
        creds = {"BULKSYNC_STORES_CREDENTIALS__MAIN": srv.catalog.token,
                 "BULKSYNC_STORES_CREDENTIALS__BAD": BAD_TOKEN}  # fmt: skip
        sent = bulksync(store_path, *sync_args(listing, pg_db), **creds)
        assert sent.returncode == 0, sent.stderr
        job_id = sent.stdout.strip()
        job = wait_job(store_path, job_id, lambda j: j["status"] not in ("queued", "running"))
        assert job["status"] == "partial", job
        shown = bulksync(store_path, "status", job_id, "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "partial"
        assert job["kind"] == "stores" and "s0003" in job["error"] and "401" in job["error"]
        progress = (job["processed_records"], job["estimated_records"], job["progress_percentage"])
        assert progress == (6, 6, 100.0)
        result = job["result"]
        assert result["success_rate"] == pytest.approx(83.3)
        assert [f["code"] for f in result["failures"]] == ["s0003"]
        record = json.dumps(job)
        assert BAD_TOKEN not in record and srv.catalog.token not in record
        asked = Counter(srv.stats.as_dict()["by_store"])

        creds["BULKSYNC_STORES_CREDENTIALS__BAD"] = srv.catalog.token  # the operator fixes the key
        again = bulksync(store_path, "stores", "retry", job_id, **creds)
        assert again.returncode == 0, again.stderr
        job = wait_job(store_path, job_id, lambda j: j["status"] not in ("queued", "running"))
        assert job["status"] == "succeeded", job
        assert job["result"]["failed"] == 0 and job["result"]["success_rate"] == 100.0
        after = Counter(srv.stats.as_dict()["by_store"])
        read_again = {c for c in after if after[c] != asked[c]}
        assert read_again == {"s0003"}, "a store that succeeded was read again"
    assert_exactly_once(pg_db, "store_users", expected_keys(srv.catalog, "users"))
    logs = rows(pg_db, "SELECT run_id, store_code, status FROM sync_logs")
    assert len({r["run_id"] for r in logs}) == 1 and len(logs) == 7
    assert {r["status"] for r in logs} == {"succeeded"}

    refused = bulksync(store_path, "stores", "retry", job_id, **creds)
    assert refused.returncode == 2 and "only a partial or failed store sync" in refused.stderr


def test_kill_9_of_the_background_runner_then_resume(pg_db: str, store_path: Path, tmp_path: Path) -> None:
    catalog = FakeStores(stores=12)
    with FakeStoreServer(catalog, latency_s=0.15) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="main")
        creds = {"BULKSYNC_STORES_CREDENTIALS__MAIN": catalog.token}
        sent = bulksync(store_path, *sync_args(listing, pg_db), **creds)
        assert sent.returncode == 0, sent.stderr
        job_id = sent.stdout.strip()
        job = wait_job(store_path, job_id, lambda j: j["status"] != "queued" and j["processed_records"] >= 2)
        assert job["status"] == "running", "the runner finished before it could be killed"
        store = JobStore(str(store_path))
        owner = store.get(job_id).lease_owner
        store.close()
        assert owner is not None
        os.kill(int(owner.split(":")[1]), signal.SIGKILL)  # raises if the runner had already exited
        wait_job(store_path, job_id, lambda j: j["status"] == "lost")
        resumed = bulksync(store_path, "resume", job_id, **creds)
        assert resumed.returncode == 0, resumed.stderr
        job = wait_job(store_path, job_id, lambda j: j["status"] not in ("queued", "running", "lost"))
    assert job["status"] == "succeeded", job
    assert job["result"]["resumed"] and job["result"]["skipped"] >= 1
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    logs = rows(pg_db, "SELECT store_code FROM sync_logs")
    per_store = Counter(r["store_code"] for r in logs)
    assert per_store[None] == 1 and max(per_store.values()) == 1 and len(per_store) == 13


def test_cancel_stops_after_a_page_and_resume_finishes_the_same_run(
    pg_db: str, store_path: Path, tmp_path: Path
) -> None:
    catalog = FakeStores(stores=10)
    # ~80 pages, 3 at a time: ~11 s at 0.4 s a page, so a loaded machine still cancels mid-run
    with FakeStoreServer(catalog, latency_s=0.4) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="main")
        creds = {"BULKSYNC_STORES_CREDENTIALS__MAIN": catalog.token}
        job_id = bulksync(store_path, *sync_args(listing, pg_db), **creds).stdout.strip()
        wait_job(store_path, job_id, lambda j: j["status"] != "queued" and j["processed_records"] >= 1)
        cancelled = bulksync(store_path, "cancel", job_id)
        assert cancelled.returncode == 0, cancelled.stderr
        job = wait_job(store_path, job_id, lambda j: j["status"] not in ("queued", "running", "stopping"))
        assert job["status"] == "cancelled" and job["processed_records"] < 10, job
        asked = srv.stats.as_dict()["requests"]
        summary = rows(pg_db, "SELECT status FROM sync_logs WHERE store_code IS NULL")
        # not 'running' for good; the run itself stays open and the resume below finishes it
        assert [r["status"] for r in summary] == ["cancelled"]
        assert bulksync(store_path, "resume", job_id, **creds).returncode == 0
        job = wait_job(store_path, job_id, lambda j: j["status"] in ("succeeded", "partial", "failed"))
        full = sum(-(-catalog.count(c, "users") // 5) for c in catalog.codes())
        assert srv.stats.as_dict()["requests"] - asked < full, "the resumed job read every store again"
    assert job["status"] == "succeeded" and job["result"]["resumed"], job
    assert_exactly_once(pg_db, "store_users", expected_keys(catalog, "users"))
    logs = rows(pg_db, "SELECT run_id, store_code FROM sync_logs")
    assert len({r["run_id"] for r in logs}) == 1 and len(logs) == 11


def test_bad_input_in_the_background_is_one_line_and_records_nothing(
    pg_db: str, store_path: Path, tmp_path: Path
) -> None:
    with FakeStoreServer(FakeStores(stores=2)) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="nobody")
        unknown = bulksync(store_path, *sync_args(listing, pg_db))
        assert unknown.returncode == 2 and "BULKSYNC_STORES_CREDENTIALS__NOBODY" in unknown.stderr
        srv.write_store_list(str(listing), credential="main")
        creds = {"BULKSYNC_STORES_CREDENTIALS__MAIN": srv.catalog.token}
        secret = pg_db.replace("postgres@", "postgres:pw-s3cret@")
        with_password = bulksync(store_path, *sync_args(listing, secret), **creds)
        assert with_password.returncode == 2 and "named connection" in with_password.stderr
        gone = pg_db.rsplit("/", 1)[0] + "/bs_no_such_db_here"
        away = bulksync(store_path, *sync_args(listing, gone), **creds)
        assert away.returncode == 1 and "bs_no_such_db_here" in away.stderr
        for done in (unknown, with_password, away):
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert "pw-s3cret" not in done.stderr and srv.catalog.token not in done.stderr
        assert srv.stats.as_dict()["requests"] == 0
    assert not store_path.exists() or JobStore(str(store_path)).list() == []
