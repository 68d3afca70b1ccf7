"""A 4-table migration as a background job: embedded runner vs 1 and 2 ``bulksync worker`` processes.

python bench/workers.py [--scale small] [--threads 2]

The source is ``bulksync generate --scale S`` (players, matches, bets, odds; statcast left
out); the destination a fresh PostgreSQL database per run; jobs live in a PostgreSQL job store;
the broker is Redis (database 7, flushed). Each time runs from ``migrate … --background`` until
the job store says ``succeeded`` (workers are started, and idle, before the clock starts).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/workers.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.context import REPO_ROOT, bulksync_command

TABLES = ("players", "matches", "bets", "odds")
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/7"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", help="small | medium | large | xlarge")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "workers")
    args = parser.parse_args(argv)
    source = _source(args.out, args.scale)
    rows = _rows(source)
    print(f"source: {source} ({rows:,} rows in {', '.join(TABLES)}); {os.cpu_count()} CPU(s)")
    runs = [("embedded runner (no broker)", 0), ("1 worker", 1), ("2 workers", 2)]
    times = {name: _run(source, workers=n, threads=args.threads, out=args.out) for name, n in runs}
    one = times["1 worker"]
    print("\n| run | seconds | rows/s | vs 1 worker |\n|---|---:|---:|---:|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} | {one / seconds:.2f}x |")
    return 0


def _source(out: Path, scale: str) -> Path:
    path = out / f"bets-{scale}.db"
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.db")
        partial.unlink(missing_ok=True)
        cmd = [*bulksync_command(), "generate", str(partial), "--scale", scale, "-q"]
        subprocess.run(cmd, check=True)
        partial.rename(path)
    return path


def _rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return sum(int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES)


def _fresh_db(name: str) -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def _run(source: Path, *, workers: int, threads: int, out: Path) -> float:
    """Seconds from ``migrate --background`` to ``succeeded``; 0 workers: the embedded runner."""
    dest, store = _fresh_db("bench_workers_dst"), _fresh_db("bench_workers_jobs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    env["BULKSYNC_JOB_STORE"] = store
    if workers:
        import redis

        redis.Redis.from_url(REDIS).flushdb()
        env["BULKSYNC_BROKER_URL"] = REDIS
    procs = [_worker(env, threads, out / f"worker{n}.log") for n in range(workers)]
    try:
        started = time.monotonic()
        cmd = [*bulksync_command(), "migrate", str(source), dest, "--background", "--partitions", "4"]
        cmd += [arg for t in ("statcast",) for arg in ("--exclude", t)]
        job = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.strip()
        while (status := _status(store, job)) not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    if status != "succeeded":
        raise SystemExit(f"job {job} ended {status}")
    return seconds


def _worker(env: dict[str, str], threads: int, log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [*bulksync_command(), "worker", "--threads", str(threads)], env=env, stdout=sink, stderr=sink
        )
    while "worker ready" not in log.read_text():
        if proc.poll() is not None:
            raise SystemExit(f"worker exited: {log.read_text()[-500:]}")
        time.sleep(0.05)
    return proc


def _status(store: str, job: str) -> str:
    with psycopg.connect(store) as conn:
        row = conn.execute("SELECT status FROM bulksync_jobs WHERE id = %s", (job,)).fetchone()
    return str(row[0]) if row else "missing"


if __name__ == "__main__":
    sys.exit(main())
