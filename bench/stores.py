"""Seed 004 side by side: 300 store APIs, sequential vs the seed's batches of 30 vs bulksync.

    python -m bench.stores --kind users            # ~30 ms a page, a few pages per store
    python -m bench.stores --kind videos           # ~70 ms a page, more pages

One fake store API (a real HTTP server, latencies varying 0.5-1.5x per store) with a global and
a per-store token bucket. The seed's two designs only fetch (no database writes: that favours
them); the sequential one is timed on a sample of stores and scaled to all of them. bulksync
fetches and upserts into PostgreSQL with the same limits configured as the API's, and the
bound it is measured against is T* = max(slowest store's pages x max(L, 1/R), all pages / G,
sum of pages x max(L, 1/R) / C): a store's page holds its slot for its latency, and for at least
1/R when the store's own limit R is the slower of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr

from bulksync.connectors.http import RetryPolicy
from bulksync.connectors.http_errors import retry_after_seconds
from bulksync.fakestores import FakeStores
from bulksync.fakestores.server import store_latency
from bulksync.recipes.store_list import Store
from bulksync.recipes.stores import StoreJob, sync_stores

SEED_DELAY_S = {"users": 1.0, "videos": 2.0}  # the seed's pause after each store, sequentially
SIZES = {"users": (20, 60), "videos": (60, 200)}
LATENCY_MS = {"users": 30.0, "videos": 70.0}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=["users", "videos"], default="users")
    p.add_argument("--stores", type=int, default=300)
    p.add_argument("--page-size", type=int, default=20)
    p.add_argument("--latency-ms", type=float, default=None)
    p.add_argument("--rate", type=float, default=200.0, help="the API's global requests/second")
    p.add_argument("--store-rate", type=float, default=10.0, help="the API's per-store requests/second")
    p.add_argument("--concurrency", type=int, default=None, help="default: 30 users, 20 videos")
    p.add_argument("--sequential-sample", type=int, default=10)
    # bulksync alone, run with each build's src on PYTHONPATH in turn: an A/B of two builds
    p.add_argument("--designs", default="sequential,batches,bulksync", help="which to run, comma-separated")
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return p.parse_args()


def catalog_for(args: argparse.Namespace) -> FakeStores:
    size = SIZES[args.kind]
    return FakeStores(stores=args.stores, users=size, videos=size)


def latency(args: argparse.Namespace) -> float:
    return (args.latency_ms or LATENCY_MS[args.kind]) / 1000


@contextmanager
def fake_api(args: argparse.Namespace) -> Iterator[str]:
    """A fresh fake API (fresh buckets and counters) in a process of its own; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    low, high = SIZES[args.kind]
    cmd = [
        sys.executable, "-m", "bulksync", "fake-stores", "serve", "--stores", str(args.stores),
        "--port", str(port), "--latency-ms", str(latency(args) * 1000), "--rate", str(args.rate),
        "--store-rate", str(args.store_rate), "--records", f"{low}-{high}",
    ]  # fmt: skip
    child = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/_stats")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        child.terminate()
        child.wait()


def bound(args: argparse.Namespace, concurrency: int) -> float:
    """T* = max(max_s P_s·max(L_s, 1/R), ΣP/G, Σ P_s·max(L_s, 1/R) / C)."""
    cat = catalog_for(args)
    pages = {c: max(1, math.ceil(cat.count(c, args.kind) / args.page_size)) for c in cat.codes()}
    lat = {c: store_latency(cat, c, latency(args), vary=True) for c in cat.codes()}
    held = {c: p * max(lat[c], 1 / args.store_rate) for c, p in pages.items()}  # slot-seconds
    return max(max(held.values()), sum(pages.values()) / args.rate, sum(held.values()) / concurrency)


async def fetch_store(client: httpx.AsyncClient, base: str, code: str, args: argparse.Namespace) -> int:
    """The seed's syncStore, fetch only: page after page, sleeping Retry-After on a 429."""
    url, cursor, got = f"{base}/cursor/stores/{code}/{args.kind}", None, 0
    headers = {"Authorization": "Bearer fake-api-key"}
    while True:
        params: dict[str, Any] = {"limit": args.page_size, **({"cursor": cursor} if cursor else {})}
        resp = await client.get(url, params=params, headers=headers)
        if resp.status_code == 429:
            await asyncio.sleep(retry_after_seconds(resp.headers.get("Retry-After")) or 1.0)
            continue
        body = resp.json()
        got += len(body["data"])
        if not (cursor := body.get("next_cursor")):
            return got


async def seed_sequential(base: str, args: argparse.Namespace, codes: list[str]) -> None:
    async with httpx.AsyncClient() as client:
        for code in codes:
            await fetch_store(client, base, code, args)
            await asyncio.sleep(SEED_DELAY_S[args.kind])


async def seed_batches(base: str, args: argparse.Namespace, concurrency: int) -> None:
    codes = catalog_for(args).codes()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:
        for i in range(0, len(codes), concurrency):  # each batch waits for its slowest store
            await asyncio.gather(*(fetch_store(client, base, c, args) for c in codes[i : i + concurrency]))


def run_bulksync(base: str, args: argparse.Namespace, concurrency: int, url: str) -> Any:
    stores = [Store(c, f"{base}/cursor/stores/{c}", "main") for c in catalog_for(args).codes()]
    job = StoreJob(
        args.kind, stores, url, {"main": SecretStr("fake-api-key")}, concurrency=concurrency,
        rate=args.rate, store_rate=args.store_rate, page_size=args.page_size,
        policy=RetryPolicy(backoff_s=0.1),
    )  # fmt: skip
    return sync_stores(job)


def _cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def timed(args: argparse.Namespace, run: Callable[[str], Any]) -> tuple[float, dict[str, Any]]:
    """Wall seconds of ``run`` and the API's counters, with this process's CPU seconds in them
    (the fake API runs in a process of its own and is not counted)."""
    with fake_api(args) as base:
        started, cpu = time.monotonic(), _cpu_s()
        run(base)
        wall = time.monotonic() - started
        return wall, httpx.get(f"{base}/_stats").json() | {"cpu_s": _cpu_s() - cpu}


def main() -> None:
    args = parse_args()
    conc = args.concurrency or (30 if args.kind == "users" else 20)
    db = f"bs_bench_stores_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    url = args.pg.rsplit("/", 1)[0] + "/" + db
    try:
        report(args, conc, url)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def report(args: argparse.Namespace, conc: int, url: str) -> None:
    t_star = bound(args, conc)
    sample = catalog_for(args).codes()[: args.sequential_sample]
    designs: dict[str, Callable[[str], Any]] = {
        "sequential": lambda base: asyncio.run(seed_sequential(base, args, sample)),
        "batches": lambda base: asyncio.run(seed_batches(base, args, conc)),
        "bulksync": lambda base: run_bulksync(base, args, conc, url),
    }
    names = {
        "sequential": f"seed before: sequential (from {len(sample)} stores)",
        "batches": f"seed after: batches of {conc}, fetch only",
        "bulksync": "bulksync stores sync (fetch + upsert)",
    }
    walls: dict[str, float] = {}
    rows = []
    for design in args.designs.split(","):
        secs, stats = timed(args, designs[design])
        walls[design] = secs * (args.stores / len(sample) if design == "sequential" else 1)
        rows.append((names[design], walls[design], stats))
    print(f"{args.stores} stores, {args.kind}, concurrency {conc}, API limits {args.rate}/s global, "
          f"{args.store_rate}/s per store, {latency(args) * 1000:.0f} ms a page; T* = {t_star:.2f} s; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'design':<44}{'wall s':>9}{'x T*':>7}{'CPU s':>7}{'requests':>10}{'429s':>7}")
    for name, secs, st in rows:
        print(f"{name:<44}{secs:>9.2f}{secs / t_star:>7.2f}{st['cpu_s']:>7.2f}{st['requests']:>10}"
              f"{st['over_limit']:>7}")  # fmt: skip
    if "batches" in walls and "bulksync" in walls:
        print(f"bulksync vs the seed's batches: {walls['batches'] / walls['bulksync']:.2f}x faster")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
