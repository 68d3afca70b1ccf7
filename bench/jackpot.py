"""The jackpot under an open-loop load: contributions/min, latency percentiles, errors, RSS, drift.

    python -m bench.jackpot                      # (a) 10K/min, (b) 100K/min single, (c) 2M/min in
                                                 # batches of 1,000, (d) the naive design at (a) and (b),
                                                 # the ceiling, then the highest single rate at p95 < 50 ms
    python -m bench.jackpot --seconds 30 --find-max 100000,200000,300000

Open loop: request i is due at t0 + i/rate whatever happened before, and its latency runs from
that due time, so a server that stalls shows its stall in the tail instead of slowing the
client down (no coordinated omission). Every latency is kept and the percentiles are exact.
The server (``bulksync serve``) is pinned to core 0 and this generator to core 1 (``taskset``);
PostgreSQL runs on both. The client speaks HTTP/1.1 over raw keep-alive sockets (a pool of
connections) so it costs little CPU. The rate limit is off for the bench (one token would
otherwise be held to 1,000 requests/min). Each row also gives the server process's CPU time
(user + system, ``psutil``) per request over the run: on a shared machine the latency depends
on what the neighbours leave of core 0, the CPU per request much less.

The naive design is the one the service replaces: one transaction per contribution that inserts
its ledger row and updates the pool rows, from a pool of 32 connections, sent open-loop straight
to PostgreSQL (no HTTP at all, which favours it). The ceiling is this machine's limit for the
ledger writes themselves: one connection writing our transaction (1,000 ledger rows + one pool
update) back to back, closed-loop, no HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

TOKEN = "bench-token-0123456789abcdef"
PG = "postgresql://postgres@127.0.0.1:5432/postgres"
P95_TARGET_MS = 50.0


@dataclass
class Result:
    name: str
    rate_per_min: float  # contributions/min asked for
    achieved_per_min: float
    latencies_ms: list[float]
    errors: int
    rss_mb: float | None = None
    cpu_us: float | None = None  # the server's CPU (user + system) per request, µs

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# -- a tiny HTTP/1.1 keep-alive client --------------------------------------------------------------


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in raw.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.writer = None
            raise
        return int(raw[9:12])


def bodies(run: str, count: int, batch: int) -> list[bytes]:
    item = (
        '{{"contribution_id":"{}-{}","game_id":"g1","wager_amount":"2.50",'
        '"timestamp":"2026-12-03T12:00:00Z"}}'
    )
    if batch == 1:
        return [item.format(run, i).encode() for i in range(count)]
    return [
        ("[" + ",".join(item.format(run, i * batch + j) for j in range(batch)) + "]").encode()
        for i in range(count)
    ]


async def open_loop(
    port: int, payloads: list[bytes], per_s: float, *, conns: int = 64
) -> tuple[list[float], int]:
    """Send ``payloads`` at ``per_s`` requests a second; latencies (ms, from the due time), errors."""
    loop = asyncio.get_running_loop()
    free: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(conns):
        free.put_nowait(Conn(port))
    latencies: list[float] = []
    errors = 0

    async def one(body: bytes, due: float) -> None:
        nonlocal errors
        conn = await free.get()
        try:
            status = await conn.post("/api/jackpot/contributions", body)
            errors += status != 200
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            free.put_nowait(conn)
        latencies.append((loop.time() - due) * 1000)

    t0 = loop.time() + 0.1
    tasks = []
    for i, body in enumerate(payloads):
        due = t0 + i / per_s
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(body, due)))
    await asyncio.gather(*tasks)
    return latencies, errors


# -- the server -------------------------------------------------------------------------------------


class Served:
    """``bulksync serve`` with the jackpot on ``db_url``, pinned to core 0; its peak RSS sampled."""

    def __init__(self, db_url: str, port: int, workdir: Path, extra: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BULKSYNC_")}
        env.update({
            "BULKSYNC_CONNECTIONS__LEDGER": db_url, "BULKSYNC_JACKPOT_CONNECTION": "ledger",
            "BULKSYNC_JACKPOT_RATE_PER_MINUTE": "0", "BULKSYNC_API_TOKENS__BENCH__TOKEN": TOKEN,
            "BULKSYNC_API_TOKENS__BENCH__SCOPES": "*", "BULKSYNC_SERVE_THREADS": "0",
            "BULKSYNC_JOB_STORE": str(workdir / "jobs.db"), "BULKSYNC_JACKPOT_QUEUE_MAX": "1000000",
        })  # fmt: skip
        env.update(extra or {})
        run = [sys.executable, "-m", "bulksync"]
        subprocess.run([*run, "jackpot", "init"], env=env, check=True, capture_output=True)
        self.log = open(workdir / "serve.log", "wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", *run, "serve", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        self.peak = 0.0
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)

    def cpu_s(self) -> float:
        """The server process's CPU seconds so far (user + system, every thread)."""
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def sample(self) -> None:
        try:
            self.peak = max(self.peak, psutil.Process(self.proc.pid).memory_info().rss / 2**20)
        except psutil.Error:
            pass

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


async def sampled(served: Served, work: Any) -> Any:
    async def watch() -> None:
        while True:
            served.sample()
            await asyncio.sleep(0.2)

    watcher = asyncio.create_task(watch())
    try:
        return await work
    finally:
        watcher.cancel()


def run_http(served: Served, port: int, name: str, per_min: float, seconds: float, batch: int) -> Result:
    requests_per_s = per_min / 60 / batch
    count = max(1, int(requests_per_s * seconds))
    payloads = bodies(uuid.uuid4().hex[:8], count, batch)
    served.peak = 0.0
    cpu = served.cpu_s()
    started = time.perf_counter()
    latencies, errors = asyncio.run(sampled(served, open_loop(port, payloads, requests_per_s)))
    took = time.perf_counter() - started
    cpu_us = (served.cpu_s() - cpu) / count * 1e6
    return Result(name, per_min, count * batch / took * 60, latencies, errors, served.peak, cpu_us)


# -- the naive design and the ceiling, straight to PostgreSQL ----------------------------------------

NAIVE_DDL = """
DROP SCHEMA IF EXISTS naive CASCADE;
CREATE SCHEMA naive;
CREATE TABLE naive.pools (name text PRIMARY KEY, rate_ppm int NOT NULL, amount_minor bigint NOT NULL);
INSERT INTO naive.pools VALUES ('mini', 5000, 1000), ('minor', 3000, 10000), ('major', 1500, 100000),
    ('grand', 500, 1000000);
CREATE TABLE naive.contributions (contribution_id text PRIMARY KEY, game_id text NOT NULL,
    wager_minor bigint NOT NULL, placed_at timestamptz NOT NULL);
"""


async def naive(db_url: str, per_min: float, seconds: float, *, conns: int = 32) -> Result:
    """One transaction per contribution: its ledger row, then the pool rows (the seed's design)."""
    options = "-c lock_timeout=5000 -c statement_timeout=10000"
    pool = [await psycopg.AsyncConnection.connect(db_url, options=options) for _ in range(conns)]
    free: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    for conn in pool:
        free.put_nowait(conn)
    loop = asyncio.get_running_loop()
    per_s, run = per_min / 60, uuid.uuid4().hex[:8]
    count = int(per_s * seconds)
    latencies: list[float] = []
    errors = 0

    async def one(i: int, due: float) -> None:
        nonlocal errors
        conn = await free.get()
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO naive.contributions VALUES (%s, 'g1', 250, now())", (f"{run}-{i}",)
                )
                await conn.execute(
                    "UPDATE naive.pools SET amount_minor = amount_minor + 250 * rate_ppm / 1000000"
                )
        except psycopg.Error:
            errors += 1
        finally:
            free.put_nowait(conn)
        latencies.append((loop.time() - due) * 1000)

    t0 = loop.time() + 0.1
    started = time.perf_counter()
    tasks = []
    for i in range(count):
        due = t0 + i / per_s
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        tasks.append(asyncio.create_task(one(i, due)))
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), seconds * 4 + 30)
    except TimeoutError:
        errors += sum(1 for t in tasks if not t.done())
    took = time.perf_counter() - started
    for conn in pool:
        await conn.close()
    return Result(f"naive: 1 txn/contribution, {conns} conns", per_min, count / took * 60, latencies, errors)


def ceiling(db_url: str, seconds: float, batch: int = 1000) -> float:
    """Contributions/min of our transaction shape alone: one connection, back to back, no HTTP."""
    run = uuid.uuid4().hex[:8]
    done = 0
    with psycopg.connect(db_url) as conn:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            ids = [f"{run}-c-{done + j}" for j in range(batch)]
            with conn.transaction():
                conn.execute("SELECT 1 FROM naive.pools ORDER BY name FOR UPDATE")
                conn.execute(
                    "INSERT INTO naive.contributions SELECT * FROM unnest(%s::text[], %s::text[], "
                    "%s::bigint[], %s::timestamptz[]) ON CONFLICT DO NOTHING RETURNING contribution_id",
                    (ids, ["g1"] * batch, [250] * batch, ["2026-12-03T12:00:00Z"] * batch),
                )
                conn.execute("UPDATE naive.pools SET amount_minor = amount_minor + 1")
            done += batch
        return done / (time.perf_counter() - started) * 60


# -- the run -----------------------------------------------------------------------------------------


def fresh_db(admin: str) -> str:
    name = f"bench_jackpot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + "/" + name


def drop_db(admin: str, url: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def drift(db_url: str) -> int:
    from bulksync.jackpot.audit import audit

    with psycopg.connect(db_url) as conn:
        found = audit(conn)
    return sum(abs(p.drift_minor) for p in found.pools) + len(found.bad_wins)


def row(r: Result, target: str, ceiling_per_min: float) -> str:
    ok = r.errors == 0
    return (
        f"| {r.name} | {r.rate_per_min:,.0f} | {r.achieved_per_min:,.0f} | {r.pct(0.5):.1f} "
        f"| {r.pct(0.95):.1f} "
        f"| {r.pct(0.99):.1f} | {max(r.latencies_ms, default=float('nan')):.1f} | {r.errors} "
        f"| {'' if r.rss_mb is None else f'{r.rss_mb:.0f}'} "
        f"| {'' if r.cpu_us is None else f'{r.cpu_us:,.0f}'} | {target} "
        f"| {r.achieved_per_min / r.rate_per_min:.2f} | {r.achieved_per_min / ceiling_per_min:.3f} "
        f"| {'' if ok else 'errors'} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg", default=PG, help="admin URL; a fresh database is made and dropped")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--port", type=int, default=8799)
    p.add_argument("--find-max", default="150000,200000,300000", help="single-contribution rates/min to try")
    p.add_argument("--keep", action="store_true", help="keep the database")
    p.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="a setting of the server, e.g. BULKSYNC_JACKPOT_COMMIT_GATHER_MS=0 (repeatable)",
    )  # fmt: skip
    args = p.parse_args()
    os.sched_setaffinity(0, {1})  # the generator on core 1, the server on core 0
    db = fresh_db(args.pg)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-jackpot-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    served = Served(db, args.port, workdir, dict(kv.split("=", 1) for kv in args.set))
    results: list[tuple[Result, str]] = []

    def note(r: Result, target: str) -> Result:
        results.append((r, target))
        said = f"{r.name} at {r.rate_per_min:,.0f}/min: achieved {r.achieved_per_min:,.0f}/min, "
        cpu = "" if r.cpu_us is None else f", server CPU {r.cpu_us:,.0f} µs/request"
        print(f"{said}p95 {r.pct(0.95):.1f} ms, p99 {r.pct(0.99):.1f} ms, errors {r.errors}{cpu}", flush=True)
        return r

    try:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(NAIVE_DDL)
        top = ceiling(db, min(args.seconds, 10.0))
        print(f"ceiling: {top:,.0f} contributions/min", flush=True)
        s = args.seconds
        note(run_http(served, args.port, "(a) single contributions", 10_000, s, 1), "p95 < 50 ms")
        note(run_http(served, args.port, "(b) single contributions", 100_000, s, 1), "p95 < 50, p99 < 100 ms")
        note(run_http(served, args.port, "(c) batches of 1,000", 2_000_000, s, 1000), "p95 < 250 ms/batch")
        for rate in [float(x) for x in args.find_max.split(",") if x]:
            found = note(run_http(served, args.port, "(e) single contributions", rate, s, 1), "p95 < 50 ms?")
            if found.pct(0.95) >= P95_TARGET_MS or found.errors:
                break
        for rate in (10_000, 100_000):
            note(asyncio.run(naive(db, rate, s)), "(d) baseline")
        left = drift(db)
    finally:
        served.stop()
        if not args.keep:
            drop_db(args.pg, db)
    load = os.getloadavg()
    print(f"\njackpot bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {s:g} s per row")  # fmt: skip
    print(f"ceiling (our ledger transaction alone, 1 connection, no HTTP): {top:,.0f} contributions/min\n")
    print("| scenario | asked /min | achieved /min | p50 ms | p95 ms | p99 ms | max ms | errors "
          "| server RSS MB | server CPU µs/request | target | achieved ÷ asked "
          "| achieved ÷ ceiling | |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
    for r, target in results:
        print(row(r, target, top))
    print(f"\naudit drift after every scenario: {left}")
    best = [
        r
        for r, t in results
        if r.name.startswith(("(b)", "(e)")) and r.pct(0.95) < P95_TARGET_MS and not r.errors
    ]
    if best:
        fastest = max(r.rate_per_min for r in best)
        print(f"highest single-contribution rate tried with p95 < 50 ms: {fastest:,.0f}/min")


if __name__ == "__main__":
    main()
