"""Worker-fleet test kit: a two-table source, ``bulksync worker`` processes, jobs sent to them,
and looks at the job store's task rows from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

import crashkit
from bulksync.connectors.registry import open_connector
from bulksync.jobs.dispatch import dispatch
from bulksync.jobs.launch import submit
from bulksync.jobs.store import Job, JobStore
from bulksync.settings import Settings
from bulksync.spec import SyncSpec

TABLES = {"t": 150_000, "u": 90_000}
SEED = 4_040
CHUNK = 500  # rows per batch: a partition takes many batches, so a kill lands inside one
LEASE_S = 3.0


@dataclass(frozen=True)
class Source:
    path: Path
    digests: dict[str, crashkit.Digests]


def build_source(path: Path) -> Source:
    """Tables ``t`` and ``u`` (crashkit's schema and rows, different sizes and seeds)."""
    crashkit.build_source(str(path), TABLES["t"], seed=SEED)
    conn = open_connector(str(path), create=True)
    try:
        schema = crashkit.SCHEMA.renamed("u")
        conn.create_table(schema, with_indexes=False)
        for start in range(1, TABLES["u"] + 1, 30_000):
            with conn.transaction() as tx:
                tx.write("u", crashkit.make_batch(start, min(30_000, TABLES["u"] + 1 - start), seed=SEED + 1))
    finally:
        conn.close()
    return Source(path, {t: crashkit.sqlite_digests(path, t) for t in TABLES})


def spec(source: Path, dest: str, **extra: Any) -> SyncSpec:
    options: dict[str, Any] = {
        "tables": tuple(TABLES),
        "chunk_rows": CHUNK,
        "workers": 4,
        "partition_min_rows": 20_000,
    } | extra
    return SyncSpec(source=str(source), destination=dest, **options)


def settings(broker_url: str, store_url: str) -> Settings:
    return Settings(broker_url=broker_url, job_store=store_url, job_lease_seconds=LEASE_S)


def start_job(store: JobStore, cfg: Settings, sync: SyncSpec, *, tries: int | None = None) -> Job:
    job = submit(store, sync, cfg, kind="copy", tries=tries)
    assert dispatch(job, cfg) == "broker"
    return job


class Worker:
    """One ``bulksync worker`` process; its stderr goes to a log file."""

    def __init__(
        self,
        log: Path,
        broker_url: str,
        store_url: str,
        *,
        threads: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                worker_command(threads), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env=worker_env(broker_url, store_url) | (env or {}),
            )  # fmt: skip
        wait_for(lambda: "worker ready" in self.text() or self.proc.poll() is not None, 60, "worker start")
        assert self.proc.poll() is None, self.text()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout_s: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired as exc:
                self.proc.kill()
                self.proc.wait()
                tail = self.text()[-2000:]
                raise AssertionError(f"worker {self.pid} did not stop on SIGTERM: {tail}") from exc
        return self.proc.returncode


def worker_command(threads: int = 2) -> list[str]:
    return [sys.executable, "-m", "bulksync", "worker", "--threads", str(threads)]


def worker_env(broker_url: str, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env.update(
        BULKSYNC_BROKER_URL=broker_url,
        BULKSYNC_JOB_STORE=store_url,
        BULKSYNC_JOB_LEASE_SECONDS=str(LEASE_S),
        PYTHONPATH=os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")])),
    )
    return env


def wait_for(check: Callable[[], object], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def tasks(store_url: str, job_id: str) -> list[dict[str, Any]]:
    """The job's task rows, read with psycopg (independent of bulksync)."""
    with psycopg.connect(store_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM bulksync_tasks WHERE job_id = %s ORDER BY task_no", (job_id,))
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def wait_done(store: JobStore, job_id: str, timeout_s: float = 180) -> Job:
    return wait_for(lambda: (j := store.get(job_id)).done and j, timeout_s, f"job {job_id} to end")  # type: ignore[no-any-return]


def assert_exact_copy(source: Source, dest: str) -> None:
    for table, digests in source.digests.items():
        verdict = crashkit.compare(digests, crashkit.pg_digests(dest, table))
        assert verdict.ok, f"{table}: {verdict}"
