"""Jobs through the API on the server's embedded workers: created, run to an exact copy, listed,
followed over SSE, cancelled within one batch and resumed to an exact copy; metrics count them."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import crashkit
from bulksync.jobs.store import JobStore
from serving import SECRET, VIEWER, Server, no_secret, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def job_body(dest_table: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "src",
        "destination": "wh",
        "tables": [{"name": "t", "dest_name": dest_table}],
        **extra,
    }


def test_a_job_runs_to_an_exact_copy_and_is_listed(
    server: Server, source_db: tuple[Path, crashkit.Digests], warehouse: str
) -> None:
    with server.client() as api:
        created = no_secret(api.post("/api/v1/jobs", json=job_body("t_copy", mode="upsert")))
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["job_id"].startswith("job_") and job["status"] == "queued"
        assert job["estimated_records"] == len(source_db[1])  # the source's count, before any row moved
        assert job["spec"]["source"] == {"connection": "src"}
        assert job["spec"]["destination"] == {"connection": "wh"}

        done = wait_for(api, job["job_id"])
        assert done["status"] == "succeeded", done["error"]
        assert (done["processed_records"], done["progress_percentage"]) == (len(source_db[1]), 100.0)
        verdict = crashkit.compare(source_db[1], crashkit.pg_digests(warehouse, "t_copy"))
        assert verdict.ok, str(verdict)

        listed = no_secret(api.get("/api/v1/jobs", params={"status": "succeeded"})).json()["jobs"]
        assert job["job_id"] in [j["job_id"] for j in listed]
        assert api.get("/api/v1/jobs", params={"status": "queued"}).json()["jobs"] == []
        assert api.get("/api/v1/jobs", params={"status": "lost"}).json()["jobs"] == []
        assert api.get("/api/v1/jobs", params={"status": "done"}).status_code == 422
        page = api.get("/api/v1/jobs", params={"limit": 1, "offset": 0}).json()
        assert len(page["jobs"]) == 1 and page["limit"] == 1
        assert no_secret(api.get(f"/api/v1/jobs/{job['job_id']}")).json()["status"] == "succeeded"

        again = api.post(f"/api/v1/jobs/{job['job_id']}/resume")
        assert again.status_code == 409
        assert (
            again.json()["detail"] == f"job {job['job_id']} already succeeded: start a new job to sync again"
        )
        assert api.post(f"/api/v1/jobs/{job['job_id']}/cancel").status_code == 409


def test_events_stream_every_change_and_ends_with_the_final_status(
    server: Server, source_db: tuple[Path, crashkit.Digests]
) -> None:
    with server.client() as api:
        job_id = api.post("/api/v1/jobs", json=job_body("t_events", chunk_rows=2000)).json()["job_id"]
    events: list[tuple[str, dict[str, Any]]] = []
    with server.client(VIEWER) as viewer, viewer.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in stream.iter_lines():
            assert SECRET not in line
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    assert events[-1] == ("end", {"job_id": job_id, "status": "succeeded"})
    views = [data for name, data in events if name == "job"]
    assert views[-1]["status"] == "succeeded" and views[-1]["processed_records"] == len(source_db[1])
    assert all(a != b for a, b in itertools.pairwise(views))  # only changes are sent


def test_a_cancelled_job_stops_within_one_batch_and_resumes_to_an_exact_copy(
    server: Server, source_db: tuple[Path, crashkit.Digests], warehouse: str
) -> None:
    chunk = 500
    store = JobStore(server.env["BULKSYNC_JOB_STORE"])
    probe = crashkit.PgProbe(warehouse)
    with server.client() as api:
        body = job_body("t_cancel", partitions=1, chunk_rows=chunk, batch_rows=chunk)
        job_id = api.post("/api/v1/jobs", json=body).json()["job_id"]
        wait_for(api, job_id, until=("running", "succeeded", "failed"))
        while probe.count("t_cancel") < 10 * chunk:
            assert store.get(job_id).status == "running", "the job ended before it could be cancelled"
            time.sleep(0.005)
        with psycopg.connect(warehouse) as lock:  # the writer's next batch waits on this lock
            lock.execute("LOCK TABLE t_cancel IN SHARE MODE")
            at_cancel = probe.count("t_cancel")
            asked = api.post(f"/api/v1/jobs/{job_id}/cancel")
            assert asked.status_code == 200, asked.text
            assert (asked.json()["status"], asked.json()["cancel_requested"]) == ("stopping", True)
            requested_at = store.get(job_id).updated_at
            # a heartbeat after the request is one that read it: the engine's cancel is set
            deadline = time.monotonic() + 60
            while store.get(job_id).updated_at <= requested_at:
                assert time.monotonic() < deadline, "no heartbeat while the batch waited"
                time.sleep(0.05)
        stopped = wait_for(api, job_id)
        assert stopped["status"] == "cancelled", stopped["error"]
        after = probe.count("t_cancel")
        assert at_cancel <= after <= at_cancel + chunk, (at_cancel, after)  # the batch that waited, no more
        assert after < len(source_db[1])

        resumed = api.post(f"/api/v1/jobs/{job_id}/resume")
        assert resumed.status_code == 200 and resumed.json()["status"] == "queued"
        done = wait_for(api, job_id)
        assert done["status"] == "succeeded", done["error"]
        assert done["processed_records"] == len(source_db[1])
    verdict = crashkit.compare(source_db[1], crashkit.pg_digests(warehouse, "t_cancel"))
    assert verdict.ok, str(verdict)
    probe.close()
    store.close()


def test_a_cancel_commits_nothing_after_the_batch_being_written(
    server: Server, source_db: tuple[Path, crashkit.Digests], warehouse: str
) -> None:
    """The server's own worker runs the job: the cancel stops it as the request arrives, not at
    its next look at the store. The batch waiting on our lock is the last one committed."""
    chunk = 500
    probe = crashkit.PgProbe(warehouse)
    with server.client() as api:
        body = job_body("t_stop", partitions=1, chunk_rows=chunk, batch_rows=chunk)
        job_id = api.post("/api/v1/jobs", json=body).json()["job_id"]
        wait_for(api, job_id, until=("running", "succeeded", "failed"))
        while probe.count("t_stop") < 4 * chunk:
            assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running"
            time.sleep(0.005)
        with psycopg.connect(warehouse) as lock:  # the writer's next batch waits on this lock
            lock.execute("LOCK TABLE t_stop IN SHARE MODE")
            at_cancel = probe.count("t_stop")
            asked = api.post(f"/api/v1/jobs/{job_id}/cancel")
            assert asked.status_code == 200, asked.text
        stopped = wait_for(api, job_id)  # the lock is gone: the waiting batch commits, no other
        assert stopped["status"] == "cancelled", stopped["error"]
        after = probe.count("t_stop")
        assert at_cancel <= after <= at_cancel + chunk, (at_cancel, after)
        assert stopped["processed_records"] == after  # the job says how many rows were committed
    probe.close()


def test_partitions_is_the_fields_name_and_workers_still_works_with_a_note(
    server: Server, source_db: tuple[Path, crashkit.Digests]
) -> None:
    with server.client() as api:
        new = api.post("/api/v1/jobs", json=job_body("t_parts", partitions=3))
        assert new.status_code == 201 and "deprecation" not in new.headers
        old = api.post("/api/v1/jobs", json=job_body("t_workers", workers=3))
        assert old.status_code == 201 and old.headers["deprecation"] == "true"
        assert "workers is deprecated: use partitions" in old.headers["warning"]
        for created in (new, old):
            assert created.json()["spec"]["workers"] == 3
            assert wait_for(api, created.json()["job_id"])["status"] == "succeeded"


def test_metrics_count_rows_and_jobs(server: Server, source_db: tuple[Path, crashkit.Digests]) -> None:
    with server.client() as api:
        job_id = api.post("/api/v1/jobs", json=job_body("t_metrics")).json()["job_id"]
        assert wait_for(api, job_id)["status"] == "succeeded"
        text = api.get("/metrics").text
    samples = _samples(text)
    assert samples['bulksync_rows_synced_total{table="t_metrics"}'] == len(source_db[1])
    batches = samples['bulksync_batch_rows_count{table="t_metrics"}']
    assert batches >= 1 and samples['bulksync_batch_seconds_count{table="t_metrics"}'] == batches
    assert samples['bulksync_batch_rows_sum{table="t_metrics"}'] == len(source_db[1])  # each batch once
    assert samples['bulksync_batch_seconds_sum{table="t_metrics"}'] > 0
    assert samples['bulksync_jobs{status="succeeded"}'] >= 1
    assert samples["bulksync_memory_rss_bytes"] > 10_000_000
    assert SECRET not in text


def _samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found
