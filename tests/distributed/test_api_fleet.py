"""The HTTP API in front of a worker fleet: a job created over HTTP runs as partition tasks on a
``bulksync worker`` (not on the server's threads); with the broker unreachable the API refuses
with 503 and records nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import fleetkit
from serving import SECRET, Server, no_secret, server_env, with_password

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _env(workdir: Path, broker: str, store: str, source: fleetkit.Source, dest: str) -> dict[str, str]:
    return server_env(
        workdir,
        BULKSYNC_BROKER_URL=broker,
        BULKSYNC_JOB_STORE=store,
        BULKSYNC_CONNECTIONS__SRC=str(source.path),
        BULKSYNC_CONNECTIONS__WH=with_password(dest),
    )


def test_a_job_created_over_http_runs_on_the_fleet(
    tmp_path: Path, redis_url: str, pg_db: str, pg_db2: str, source: fleetkit.Source
) -> None:
    env = _env(tmp_path, redis_url, pg_db, source, pg_db2)
    server = Server(tmp_path, env).start()
    # every machine of the fleet resolves the same connection names from its own settings
    names = {k: v for k, v in env.items() if k.startswith("BULKSYNC_CONNECTIONS__")}
    worker = fleetkit.Worker(tmp_path / "worker.log", redis_url, pg_db, env=names)
    try:
        with server.client() as http:
            assert no_secret(http.get("/healthz")).status_code == 200
            created = no_secret(http.post("/api/v1/jobs", json={
                "source": "src", "destination": "wh", "tables": list(fleetkit.TABLES), "chunk_rows": 5000,
            }))  # fmt: skip
            assert created.status_code == 201, created.text
            job_id = created.json()["job_id"]

            def ended() -> dict[str, object] | None:
                body = no_secret(http.get(f"/api/v1/jobs/{job_id}")).json()
                return body if body["status"] in ("succeeded", "failed", "cancelled") else None

            final = fleetkit.wait_for(ended, 240, f"job {job_id} to end")
        assert final["status"] == "succeeded", (final["error"], worker.text()[-3000:])
        fleetkit.assert_exact_copy(source, pg_db2)
        ran = fleetkit.tasks(pg_db, job_id)
        assert ran and all(t["status"] == "done" for t in ran), ran  # the fleet ran it, as tasks
        assert f"{job_id} task" in worker.text()
        assert "embedded worker thread(s) started" not in server.stderr()
        assert "no embedded workers" in server.stderr()
    finally:
        worker.stop()
        server.stop()
    assert SECRET not in server.stderr() + worker.text()


def test_an_unreachable_broker_is_a_503_and_records_nothing(
    tmp_path: Path, pg_db: str, pg_db2: str, source: fleetkit.Source
) -> None:
    server = Server(tmp_path, _env(tmp_path, "redis://127.0.0.1:9/0", pg_db, source, pg_db2)).start()
    try:
        with server.client() as http:
            health = no_secret(http.get("/healthz"))
            assert health.status_code == 503 and "broker" in health.text
            refused = no_secret(http.post("/api/v1/jobs", json={"source": "src", "destination": "wh",
                                                                 "tables": ["t"]}))  # fmt: skip
            assert refused.status_code == 503, refused.text
            assert refused.json()["detail"].startswith(
                "the job broker (BULKSYNC_BROKER_URL) cannot be reached"
            )
            for answer in (health, refused):  # the broker's address is the server's business
                assert "redis://" not in answer.text and "127.0.0.1" not in answer.text
            assert no_secret(http.get("/api/v1/jobs")).json()["jobs"] == []
    finally:
        server.stop()
    assert "redis://127.0.0.1:9/0" in server.stderr()  # the server log has the address
