"""Fault 5: the job store's PostgreSQL restarted under ``bulksync serve`` with a job running.

The job store lives in the suite's private source cluster (restarted alone); the job copies the
200K-row SQLite table into the private destination cluster. While the store is away the server
keeps answering (``/healthz`` 503 or 200, never a hang); once it is back the job ends by itself:
succeeded, or failed with one line and then resumed through the API; either way the destination
equals the source row by row.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

import crashkit
from conftest import SqliteSource
from faultkit import END_WITHIN_S, REPORT, ROWS, ReportRow, committed_rows
from faultservers import PrivatePg
from serving import Server, server_env, wait_for


def test_job_store_restarted_under_serve(
    pg_source: PrivatePg, pg_dest: PrivatePg, sqlite_source: SqliteSource, tmp_path: Path
) -> None:
    store_url = pg_source.create_database("serve_jobs")
    dest_url = pg_dest.create_database("serve_dest")
    env = server_env(
        tmp_path, BULKSYNC_JOB_STORE=store_url, BULKSYNC_CONNECTIONS__SRC=str(sqlite_source.path),
        BULKSYNC_CONNECTIONS__WH=dest_url, BULKSYNC_JOB_LEASE_SECONDS="3",
    )  # fmt: skip
    body = {"source": "src", "destination": "wh", "partitions": 2, "chunk_rows": 2000, "tables": ["t"]}
    srv = Server(tmp_path, env).start()
    try:
        with srv.client() as api:
            job_id = api.post("/api/v1/jobs", json=body).json()["job_id"]
            deadline = time.monotonic() + END_WITHIN_S
            while (committed_rows(dest_url) or 0) < ROWS // 5:
                assert time.monotonic() < deadline, "the job never got a fifth of the way"
                time.sleep(0.05)
            restarted_at = time.monotonic()
            pg_source.stop("fast")
            answers = [_health(srv) for _ in range(5)]  # the store is away: still answered
            time.sleep(2)
            pg_source.start()
            pg_source.restarts += 1
            assert all(code in (200, 503) for code in answers), answers
            done = wait_for(api, job_id, timeout_s=END_WITHIN_S)
            outcome = "succeeded"
            if done["status"] != "succeeded":
                assert done["status"] == "failed" and "\n" not in (done["error"] or ""), done
                resumed = api.post(f"/api/v1/jobs/{job_id}/resume")
                assert resumed.status_code == 200, resumed.text
                done = wait_for(api, job_id, timeout_s=END_WITHIN_S)
                assert done["status"] == "succeeded", done
                outcome = "failed resumable, resumed to equal"
            assert _health(srv) == 200
        verdict = crashkit.compare(sqlite_source.digests, crashkit.pg_digests(dest_url))
        assert verdict.ok, str(verdict)
        REPORT.rows.append(
            ReportRow(
                "job store PG stopped 2 s under serve (job running)", 1, f"{outcome}; /healthz {answers}",
                len(verdict.lost), len(verdict.duplicated), time.monotonic() - restarted_at,
            )
        )  # fmt: skip
    finally:
        srv.stop()
    assert "Traceback" not in srv.stderr(), srv.stderr()[-3000:]


def _health(srv: Server) -> int:
    """``/healthz``'s status code; the server must answer within 10 s."""
    return httpx.get(srv.url + "/healthz", timeout=10).status_code
