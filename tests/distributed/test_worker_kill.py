"""Two ``bulksync worker`` processes share a job over a real broker and a PostgreSQL job store;
one is SIGKILLed in the middle of a partition. The job must still succeed, with every row of
both tables in the destination exactly once: the dead worker's partition is sent again (its
lease expired) and continues from its checkpoint."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

import fleetkit
from bulksync.jobs.store import JobStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def _kill_mid_partition(
    broker_url: str, store_url: str, dest: str, source: fleetkit.Source, tmp: Path
) -> None:
    cfg = fleetkit.settings(broker_url, store_url)
    store = JobStore(store_url, lease_s=fleetkit.LEASE_S)
    first = fleetkit.Worker(tmp / "w1.log", broker_url, store_url)
    second = fleetkit.Worker(tmp / "w2.log", broker_url, store_url)
    try:
        # 100-row batches: a partition takes a few seconds, several heartbeats, so the kill can be
        # seen to land inside one (with 500-row batches a partition could end between two beats)
        job = fleetkit.start_job(store, cfg, fleetkit.spec(source.path, dest, chunk_rows=100))
        victim_owner = f":{first.pid}:"

        def mid_partition() -> dict[str, Any] | None:
            for task in fleetkit.tasks(store_url, job.id):
                mine = task["lease_owner"] and victim_owner in task["lease_owner"]
                if mine and task["status"] == "running" and task["kind"] == "partition":
                    size = fleetkit.TABLES[task["table_name"]] // 4
                    if 0 < task["rows_done"] < size // 2:
                        return task
            return None

        target = fleetkit.wait_for(mid_partition, 120, "the first worker to commit part of a partition")
        first.kill()
        after = {t["task_no"]: t for t in fleetkit.tasks(store_url, job.id)}[target["task_no"]]
        # the kill landed inside the partition: its row still names the dead worker as running it
        assert after["status"] == "running" and victim_owner in after["lease_owner"], after

        done = fleetkit.wait_done(store, job.id)
        assert done.status == "succeeded", (done.error, second.text()[-3000:])
        rows = sum(fleetkit.TABLES.values())
        p = done.progress
        assert (p.processed, p.estimated, p.percentage) == (rows, rows, 100.0)
        assert {t: v["phase"] for t, v in done.progress.tables.items()} == {"t": "done", "u": "done"}
        final = {t["task_no"]: t for t in fleetkit.tasks(store_url, job.id)}
        assert final[target["task_no"]]["attempts"] == 2  # sent again and resumed once
        assert all(t["status"] == "done" for t in final.values())
        assert f"task start: {job.id} task {target['task_no']} " in second.text()
        fleetkit.assert_exact_copy(source, dest)
        assert second.stop() == 0
        for log in (first.text(), second.text()):
            assert "guest:guest" not in log and "Traceback" not in log
    finally:
        for worker in (first, second):
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
        store.close()


def test_sigkill_one_of_two_workers_over_redis(
    source: fleetkit.Source, redis_url: str, pg_db: str, pg_db2: str, tmp_path: Path
) -> None:
    _kill_mid_partition(redis_url, pg_db, pg_db2, source, tmp_path)


def test_sigkill_one_of_two_workers_over_rabbitmq(
    source: fleetkit.Source, amqp_url: str, pg_db: str, pg_db2: str, tmp_path: Path
) -> None:
    _kill_mid_partition(amqp_url, pg_db, pg_db2, source, tmp_path)


def test_a_worker_refuses_a_sqlite_job_store_and_an_unreachable_broker(
    redis_url: str, tmp_path: Path
) -> None:
    local = subprocess.run(
        fleetkit.worker_command(), env=fleetkit.worker_env(redis_url, str(tmp_path / "jobs.db")),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert local.returncode == 2  # a usage error: the settings must change
    assert "needs a job store every machine can reach" in local.stderr, local.stderr
    down = "redis://:s3cret-pw@127.0.0.1:1/0"  # nothing listens on port 1
    away = subprocess.run(
        fleetkit.worker_command(), env=fleetkit.worker_env(down, str(tmp_path / "jobs.db")),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert away.returncode == 1
    assert "broker redis://127.0.0.1:1/0 is not reachable" in away.stderr, away.stderr
    assert "s3cret-pw" not in away.stderr and len(away.stderr.strip().splitlines()) == 1
