"""The server process itself: it starts while its job store is down (healthz 503, then 200 once
the store is there), it survives SIGKILL mid-job (the next start takes the job over from its
checkpoints) and Ctrl-C mid-job exits at once, leaving the job to be taken over again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import crashkit
from bulksync.jobs.store import JobStore
from serving import PG_ADMIN, SECRET, Server, drop_pg, no_secret, server_env, wait_for, with_password

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_healthz_is_503_while_the_job_store_is_unreachable_then_recovers(
    tmp_path: Path, pg_admin: Any
) -> None:
    name = f"bs_api_store_{uuid.uuid4().hex[:10]}"
    store_url = with_password(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)  # no such database yet
    srv = Server(tmp_path, server_env(tmp_path, BULKSYNC_JOB_STORE=store_url)).start()
    try:
        down = no_secret(httpx.get(srv.url + "/healthz"))
        assert down.status_code == 503
        body = down.json()
        assert (body["status"], body["job_store"]) == ("unavailable", "unavailable")
        # which part is down, not where it lives: its address and the reason are in the log
        assert body["detail"] == (
            "the job store (BULKSYNC_JOB_STORE) cannot be reached (the server log has the reason)"
        )
        with srv.client() as api:
            jobs = no_secret(api.get("/api/v1/jobs"))
            assert jobs.status_code == 503 and jobs.json()["detail"] == body["detail"]
        assert name not in down.text + jobs.text
        assert f'database \\"{name}\\" does not exist' in srv.stderr()  # a JSON log line

        pg_admin.execute(f'CREATE DATABASE "{name}"')
        up = httpx.get(srv.url + "/healthz")
        assert up.status_code == 200 and up.json()["status"] == "ok"
        with srv.client() as api:
            assert api.get("/api/v1/jobs").json()["jobs"] == []
    finally:
        assert srv.stop() == 0
        drop_pg(pg_admin, name)
    assert SECRET not in srv.stderr()


def test_sigkill_mid_job_then_ctrl_c_mid_job_and_the_job_still_ends_an_exact_copy(
    tmp_path: Path, source_db: tuple[Path, crashkit.Digests], warehouse: str
) -> None:
    env = server_env(
        tmp_path,
        BULKSYNC_CONNECTIONS__SRC=str(source_db[0]),
        BULKSYNC_CONNECTIONS__WH=with_password(warehouse),
        BULKSYNC_JOB_LEASE_SECONDS="3",
        BULKSYNC_SERVE_THREADS="1",
    )
    table, rows = "t_takeover", len(source_db[1])
    body = {"source": "src", "destination": "wh", "partitions": 1, "chunk_rows": 200, "batch_rows": 200,
            "tables": [{"name": "t", "dest_name": table}]}  # fmt: skip
    store = JobStore(env["BULKSYNC_JOB_STORE"])
    probe = crashkit.PgProbe(warehouse)

    first = Server(tmp_path, env).start()
    with first.client() as api:
        job_id = api.post("/api/v1/jobs", json=body).json()["job_id"]
    while probe.count(table) < rows // 10:
        assert store.get(job_id).status in ("queued", "running"), store.get(job_id)
        time.sleep(0.005)
    first.kill()
    probe.settle()
    assert probe.count(table) < rows, "the job finished before the kill"
    assert store.get(job_id).status == "running"  # its runner is dead; the lease says so soon

    with psycopg.connect(warehouse) as lock:  # the taken-over job cannot finish while we hold it
        lock.execute(f"LOCK TABLE {table} IN SHARE MODE")
        second = Server(tmp_path, env).start()
        deadline = time.monotonic() + 60
        while store.get(job_id).attempts < 2:  # taken over once the dead runner's lease expired
            assert time.monotonic() < deadline, store.get(job_id)
            time.sleep(0.05)
        assert second.stop() == 0  # Ctrl-C while its job waits: it does not wait for the job
        assert "1 job(s) were running: they continue from their last checkpoint" in second.stderr()
        lock.rollback()

    third = Server(tmp_path, env).start()
    try:
        with third.client() as api:
            done = wait_for(api, job_id)
        assert done["status"] == "succeeded", done["error"]
        assert (done["attempts"], done["processed_records"]) == (3, rows)
    finally:
        third.stop()
    verdict = crashkit.compare(source_db[1], crashkit.pg_digests(warehouse, table))
    assert verdict.ok, str(verdict)
    for srv in (first, second, third):
        assert SECRET not in srv.stderr()
    probe.close()
    store.close()
