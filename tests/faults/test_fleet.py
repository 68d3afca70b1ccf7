"""Fault 5: a worker of the fleet frozen (SIGSTOP) mid-partition past its lease, then resumed.

Another worker takes the partition over from its checkpoint; when the frozen one wakes up it
must not write after it: its batch is refused by the fence (or dropped between batches once it
sees its lease is gone). The job succeeds with every row exactly once. And the broker (a private
Redis, a private RabbitMQ node) killed under the fleet. Job stores in the suite's own PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fleetkit
from bulksync.jobs.store import JobStore
from conftest import PrivateRedis, _needs
from faultkit import REPORT, ReportRow
from faultservers import PrivatePg, PrivateRabbit


@pytest.fixture(scope="module")
def fleet_source(tmp_path_factory: pytest.TempPathFactory) -> fleetkit.Source:
    return fleetkit.build_source(tmp_path_factory.mktemp("fleet") / "source.db")


def _task_of(store_url: str, job_id: str, task_no: int) -> dict[str, Any]:
    return {t["task_no"]: t for t in fleetkit.tasks(store_url, job_id)}[task_no]


def _waits(pg: PrivatePg) -> str:
    """Who waits on what in the private cluster (the sessions of a blocked fleet)."""
    with pg.admin() as conn:
        rows = conn.execute(
            "SELECT pid, datname, state, wait_event_type, wait_event, pg_blocking_pids(pid), "
            "left(query, 90) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchall()
    return "\n".join(map(str, rows))


def test_worker_frozen_past_its_lease(
    pg_dest: PrivatePg, private_redis: str, fleet_source: fleetkit.Source, tmp_path: Path
) -> None:
    store_url = pg_dest.create_database("fleet_jobs")
    dest = pg_dest.create_database("fleet_dest")
    cfg = fleetkit.settings(private_redis, store_url)
    store = JobStore(store_url, lease_s=fleetkit.LEASE_S)
    frozen = fleetkit.Worker(tmp_path / "frozen.log", private_redis, store_url)
    taker = fleetkit.Worker(tmp_path / "taker.log", private_redis, store_url)
    try:
        # a writer blocked by the frozen one's open transaction gives up (and retries) after 5 s;
        # 100-row batches: a partition spans several progress writes (0.5 s apart), so the frozen
        # worker can be seen mid-partition (with 500-row batches a partition ended between two)
        sync = fleetkit.spec(fleet_source.path, dest, statement_timeout_s=5.0, chunk_rows=100)
        job = fleetkit.start_job(store, cfg, sync)
        mine = f":{frozen.pid}:"

        def mid_partition() -> dict[str, Any] | None:
            for task in fleetkit.tasks(store_url, job.id):
                if task["lease_owner"] and mine in task["lease_owner"] and task["status"] == "running":
                    if (
                        task["kind"] == "partition"
                        and 0 < task["rows_done"] < fleetkit.TABLES[task["table_name"]] // 8
                    ):
                        return task
            return None

        target = fleetkit.wait_for(mid_partition, 120, "the first worker mid-partition")
        os.kill(frozen.pid, signal.SIGSTOP)
        froze_at = time.monotonic()

        def taken_over() -> bool:
            return f":{taker.pid}:" in (_task_of(store_url, job.id, target["task_no"])["lease_owner"] or "")

        try:
            fleetkit.wait_for(taken_over, 120, "the other worker to take the frozen worker's partition over")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {_waits(pg_dest)}\n{taker.text()[-2000:]}") from None
        time.sleep(1.0)
        os.kill(frozen.pid, signal.SIGCONT)
        done = fleetkit.wait_done(store, job.id, 180)
        assert done.status == "succeeded", (done.error, taker.text()[-3000:])
        fleetkit.assert_exact_copy(fleet_source, dest)  # 0 lost, 0 doubled, 0 changed
        woke = frozen.text()
        assert "task lost" in woke or "task fenced out" in woke, woke[-3000:]
        refused = "task fenced out" in woke
        REPORT.rows.append(
            ReportRow(
                "worker SIGSTOP past its 3 s lease, SIGCONT after the takeover (Redis fleet)", 1,
                "succeeded; the woken worker's batch " + ("refused by the fence" if refused else "dropped"),
                0, 0, time.monotonic() - froze_at,
            )
        )  # fmt: skip
        for worker in (frozen, taker):
            assert "Traceback" not in worker.text()
    finally:
        for worker in (frozen, taker):
            if worker.proc.poll() is None:
                os.kill(worker.pid, signal.SIGCONT)
                worker.proc.kill()
                worker.proc.wait()
        store.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, fault_root: Path) -> Iterator[PrivateRedis | PrivateRabbit]:
    """The fleet's broker, one the test may SIGKILL: the suite's Redis, or a RabbitMQ node of its own."""
    if request.param == "redis":
        yield request.getfixturevalue("redis_server")
        return
    _needs(request.getfixturevalue("require_service"), "rabbitmq-server")
    rabbit = PrivateRabbit(fault_root / "rabbit")
    rabbit.start()
    try:
        yield rabbit
    finally:
        rabbit.stop()


def test_broker_killed_and_restarted_under_the_fleet(
    pg_dest: PrivatePg, broker: PrivateRedis | PrivateRabbit, fleet_source: fleetkit.Source, tmp_path: Path
) -> None:
    """The broker SIGKILLed with partitions in flight (Redis keeps nothing on disk: every queued
    message and ack is lost; RabbitMQ loses its connections and what it had not written), back
    2 s later: the workers reconnect, the sweeper re-sends what the store says is unfinished,
    and the job succeeds with every row exactly once."""
    name = "Redis" if isinstance(broker, PrivateRedis) else "RabbitMQ"
    store_url = pg_dest.create_database(f"fleet_{name.lower()}_jobs")
    dest = pg_dest.create_database(f"fleet_{name.lower()}_dest")
    cfg = fleetkit.settings(broker.url, store_url)
    store = JobStore(store_url, lease_s=fleetkit.LEASE_S)
    # what the restart lost is sent again after 10 s, not the default 60 (BULKSYNC_JOB_RESEND_SECONDS)
    resend = {"BULKSYNC_JOB_RESEND_SECONDS": "10"}
    workers = [fleetkit.Worker(tmp_path / f"w{n}.log", broker.url, store_url, env=resend) for n in (1, 2)]
    try:
        # 100-row batches: a partition outlasts its first progress write (0.5 s) even on a fast
        # host, so one is seen running with rows while others still wait in the queue
        job = fleetkit.start_job(store, cfg, fleetkit.spec(fleet_source.path, dest, chunk_rows=100))

        def in_flight() -> bool:
            tasks = fleetkit.tasks(store_url, job.id)
            running = [t for t in tasks if t["status"] == "running" and t["rows_done"] > 0]
            return bool(running) and any(t["status"] == "queued" for t in tasks)

        fleetkit.wait_for(in_flight, 120, "partitions running while others still queued")
        killed_at = time.monotonic()
        broker.kill_and_restart(down_s=2.0)
        done = fleetkit.wait_done(store, job.id, 180)
        assert done.status == "succeeded", (done.error, workers[0].text()[-3000:])
        fleetkit.assert_exact_copy(fleet_source, dest)
        for worker in workers:
            assert worker.proc.poll() is None, f"a worker died with {name}: {worker.text()[-3000:]}"
            crashes = [
                line for line in worker.text().splitlines() if "Traceback" in line and not _reconnecting(line)
            ]
            assert not crashes, crashes[:3]
        REPORT.rows.append(
            ReportRow(
                f"{name} SIGKILLed and restarted under 2 workers", 1,
                "succeeded (workers reconnected; the sweeper re-sends lost messages)", 0, 0,
                time.monotonic() - killed_at,
            )
        )  # fmt: skip
    finally:
        for worker in workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait()
        store.close()


def _reconnecting(line: str) -> bool:
    """pika's own log of a failed reconnect attempt (it carries the refused connect's traceback)."""
    return '"logger": "pika.' in line
