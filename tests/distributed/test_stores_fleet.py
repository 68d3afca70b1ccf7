"""A store sync on two ``bulksync worker`` processes over Redis or RabbitMQ (the global limit in
Redis either way: the broker's, or BULKSYNC_STORES_RATE_LIMIT_URL), one task per store; one worker
is SIGKILLed while it is in the middle of a store. That store must resume from its last
committed page on the other worker: every record of the fake API once in PostgreSQL, the store
not read again from its first page, the API's global limit never exceeded (no 429, no second with
more requests than the limit at the fake API) by the two workers nor by the survivor, and
``sync_logs`` without a duplicate. With RabbitMQ and no Redis for the limit, the job is refused."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

import fleetkit
from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.jobs.dispatch import dispatch
from bulksync.jobs.store import JobStore
from storekit import assert_exactly_once, expected_keys, rows

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

PAGE = 3
RATE = 30.0  # requests/second: the fake API's global limit and the job's


def _records_of(dest: str, code: str) -> int:
    with psycopg.connect(dest, autocommit=True) as conn:
        try:
            found = conn.execute("SELECT count(*) FROM store_users WHERE store_code = %s", (code,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


def _stores_ended(dest: str) -> int:
    with psycopg.connect(dest, autocommit=True) as conn:
        try:
            found = conn.execute("SELECT count(*) FROM sync_logs WHERE store_code IS NOT NULL").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


def _summaries(dest: str) -> list[str]:
    return [r["status"] for r in rows(dest, "SELECT status FROM sync_logs WHERE store_code IS NULL")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _submit(listing: Path, dest: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulksync", "stores", "sync", "users", "--stores", str(listing),
         "--to", dest, "--page-size", str(PAGE), "--rate", str(RATE), "--backoff", "0.05", "--background"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def test_rabbitmq_without_redis_for_the_limit_refuses_a_rated_store_job(
    amqp_url: str, pg_db: str, pg_db2: str, tmp_path: Path
) -> None:
    catalog = FakeStores(stores=2)
    listing = tmp_path / "stores.csv"
    with FakeStoreServer(catalog) as srv:
        srv.write_store_list(str(listing), credential="main")
        env = fleetkit.worker_env(amqp_url, pg_db) | {"BULKSYNC_STORES_CREDENTIALS__MAIN": catalog.token}
        sent = _submit(listing, pg_db2, env)
    assert sent.returncode == 2 and sent.stdout == ""
    said = " ".join(sent.stderr.split())
    assert "BULKSYNC_STORES_RATE_LIMIT_URL" in said and "Traceback" not in said, said
    recorded = rows(pg_db, "SELECT to_regclass('bulksync_jobs') IS NOT NULL AS t")[0]["t"]
    assert not recorded  # refused before the job store was even opened


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_sigkill_a_worker_mid_store_resumes_that_store_on_the_other(
    broker: str, redis_url: str, pg_db: str, pg_db2: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    catalog = FakeStores(stores=16, seed=11)
    creds = {"BULKSYNC_STORES_CREDENTIALS__MAIN": catalog.token}
    broker_url = redis_url
    if broker == "rabbitmq":  # the limit needs a Redis of its own
        broker_url = request.getfixturevalue("amqp_url")
        creds["BULKSYNC_STORES_RATE_LIMIT_URL"] = redis_url
    store = JobStore(pg_db, lease_s=fleetkit.LEASE_S)
    with FakeStoreServer(catalog, latency_s=0.08, rate=RATE) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="main")
        first = fleetkit.Worker(tmp_path / "w1.log", broker_url, pg_db, env=creds)
        port = _free_port()  # the survivor serves its metrics: what it did is counted there
        second = fleetkit.Worker(tmp_path / "w2.log", broker_url, pg_db,
                                 env=creds | {"BULKSYNC_WORKER_METRICS_PORT": str(port)})  # fmt: skip
        try:
            sent = _submit(listing, pg_db2, fleetkit.worker_env(broker_url, pg_db) | creds)
            assert sent.returncode == 0, sent.stderr
            job_id = sent.stdout.strip()
            assert "sent to the workers" in sent.stderr
            codes = [entry[0] for entry in store.get(job_id).spec["stores"]["list"]]
            victim_owner = f":{first.pid}:"

            def mid_store() -> dict[str, Any] | None:
                for task in fleetkit.tasks(pg_db, job_id):
                    mine = task["lease_owner"] and victim_owner in task["lease_owner"]
                    if mine and task["status"] == "running" and task["kind"] == "partition":
                        code = codes[task["part"]]
                        if 0 < _records_of(pg_db2, code) < catalog.count(code, "users") - 2 * PAGE:
                            return task
                return None

            target = fleetkit.wait_for(mid_store, 120, "the first worker to commit part of a store")
            first.kill()
            victim = codes[target["part"]]
            after = {t["task_no"]: t for t in fleetkit.tasks(pg_db, job_id)}[target["task_no"]]
            assert after["status"] == "running" and victim_owner in after["lease_owner"], after

            done = fleetkit.wait_done(store, job_id)
            log = second.text()
            assert done.status == "succeeded", (done.error, log[-3000:])
            stats = srv.stats.as_dict()
            metrics = _samples(port)
            assert second.stop() == 0  # SIGTERM: a clean stop
        finally:
            for worker in (first, second):
                if worker.proc.poll() is None:
                    worker.proc.kill()
                    worker.proc.wait()
    try:
        assert_exactly_once(pg_db2, "store_users", expected_keys(catalog, "users"))
        final = {t["task_no"]: t for t in fleetkit.tasks(pg_db, job_id)}
        assert final[target["task_no"]]["attempts"] == 2  # sent again, resumed once
        assert all(t["status"] == "done" for t in final.values())
        assert f"task start: {job_id} task {target['task_no']} " in log
        pages = -(-catalog.count(victim, "users") // PAGE) + 1  # the last page says "no more"
        assert stats["by_store"][victim] <= pages + 2, "the killed store was read again from its start"
        assert stats["over_limit"] == 0 and "429" not in stats["statuses"], stats["statuses"]
        assert stats["peak_per_second"] <= RATE, stats  # counted at the API, second by second

        p = done.progress
        assert (p.processed, p.estimated, p.percentage) == (16, 16, 100.0)
        result = done.result or {}
        assert result["status"] == "succeeded" and result["stores"] == 16 and result["success_rate"] == 100.0
        record = json.dumps(done.to_dict())
        assert catalog.token not in record
        logs = rows(pg_db2, "SELECT store_code, status FROM sync_logs")
        per_store = Counter(r["store_code"] for r in logs)
        assert per_store[None] == 1 and len(per_store) == 17 and max(per_store.values()) == 1
        assert {r["status"] for r in logs} == {"succeeded"}
        for text in (first.text(), log):
            assert catalog.token not in text and "Traceback" not in text
        _assert_counted(metrics, log, pg_db2)
    finally:
        store.close()


def _assert_counted(metrics: Samples, log: str, dest: str) -> None:
    """The survivor's /metrics counts exactly the stores it ended and their requests (as its log
    and their sync_logs rows say), every request answered 200, none 429."""
    mine = dict(re.findall(r"task done: .*?, store (\S+) (\w+),", log))
    assert mine and set(mine.values()) == {"succeeded"}
    assert metrics[("bulksync_stores_synced_total", (("outcome", "succeeded"),))] == len(mine)
    assert metrics[("bulksync_store_sync_seconds_count", (("outcome", "succeeded"),))] == len(mine)
    logged = rows(dest, "SELECT store_code, requests FROM sync_logs WHERE store_code IS NOT NULL")
    requests = sum(r["requests"] for r in logged if r["store_code"] in mine)
    by_code = {k[1]: v for k, v in metrics.items() if k[0] == "bulksync_store_http_requests_total"}
    assert by_code == {(("code", "200"),): requests}, by_code
    assert metrics[("bulksync_store_http_rate_limited_total", ())] == 0


def test_a_cancel_says_so_in_sync_logs_and_a_resume_past_the_window_syncs_every_store_again(
    redis_url: str, pg_db: str, pg_db2: str, tmp_path: Path
) -> None:
    """A cancelled fleet job's run summary says 'cancelled' (not 'running'); resumed after the
    resume window, the job runs every store again in a new run and the old run is 'abandoned'."""
    catalog = FakeStores(stores=8, seed=11)
    creds = {
        "BULKSYNC_STORES_CREDENTIALS__MAIN": catalog.token,
        "BULKSYNC_STORES_RESUME_WITHIN_HOURS": "0.001",  # 3.6 s
    }
    store = JobStore(pg_db, lease_s=fleetkit.LEASE_S)
    with FakeStoreServer(catalog, latency_s=0.08) as srv:
        listing = tmp_path / "stores.csv"
        srv.write_store_list(str(listing), credential="main")
        worker = fleetkit.Worker(tmp_path / "w.log", redis_url, pg_db, env=creds)
        try:
            sent = _submit(listing, pg_db2, fleetkit.worker_env(redis_url, pg_db) | creds)
            assert sent.returncode == 0, sent.stderr
            job_id = sent.stdout.strip()
            fleetkit.wait_for(lambda: _stores_ended(pg_db2) >= 2, 60, "two stores to end")  # tasks done
            store.request_cancel(job_id)
            cancelled = fleetkit.wait_done(store, job_id, timeout_s=60)
            assert cancelled.status == "cancelled", cancelled.error
            # the job may be 'cancelled' at once (its lease lapsed): its tasks stop after their page
            fleetkit.wait_for(lambda: _summaries(pg_db2) == ["cancelled"], 30, "the summary to say cancelled")
            first = rows(pg_db2, "SELECT run_id, status FROM sync_logs WHERE store_code IS NULL")
            time.sleep(4)  # past the window
            resumed = store.resume(job_id, tries=3)
            assert dispatch(resumed, fleetkit.settings(redis_url, pg_db)) == "broker"
            done = fleetkit.wait_done(store, job_id)
            assert done.status == "succeeded", (done.error, worker.text()[-3000:])
        finally:
            worker.stop()
            store.close()
    assert_exactly_once(pg_db2, "store_users", expected_keys(catalog, "users"))
    summaries = {r["run_id"]: r for r in rows(pg_db2, "SELECT * FROM sync_logs WHERE store_code IS NULL")}
    old = summaries.pop(first[0]["run_id"])
    assert old["status"] == "abandoned" and "more than --resume-within" in old["message"], old
    [(new_id, new)] = summaries.items()
    assert new["status"] == "succeeded" and (done.result or {})["run_id"] == new_id
    stores_of_new = rows(
        pg_db2, f"SELECT store_code FROM sync_logs WHERE run_id = '{new_id}' AND store_code IS NOT NULL"
    )
    assert sorted(r["store_code"] for r in stores_of_new) == catalog.codes()
