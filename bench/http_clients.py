"""Client CPU per page of the HTTP sources' candidate clients, in one run, against the fake API.

    python -m bench.http_clients                 # 200 stores, 20 at a time, each client 3 times

Each client reads every store's pages (20 records a page, cursor pagination) as
``connectors/http.py`` does — a bearer token, a timeout, the body as bytes, then JSON — with no
latency and no limits, so the client's own CPU is what differs. The fake API runs in a process of
its own: the CPU figures are this process's alone.

- ``httpx``: one client per window slot, ``stream`` per request (the store syncs until 2026-12-03)
- ``httpx-shared``: one client for all slots, its pool sized to them, timeout and token on the client
- ``aiohttp``: one session (``connectors/http_session.py``), JSON by the stdlib
- ``aiohttp+orjson``: the same, JSON by orjson (when installed)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from bench.stores import fake_api
from bulksync.connectors.http_session import open_session, request_timeout

AUTH = {"Authorization": "Bearer fake-api-key"}
Loads = Callable[[bytes], Any]


async def _httpx_pages(client: httpx.AsyncClient, url: str) -> int:
    cursor, pages = None, 0
    while True:
        params = {"limit": 20, **({"cursor": cursor} if cursor else {})}
        async with client.stream("GET", url, params=params, headers=AUTH, timeout=30.0) as resp:
            raw = b"".join([chunk async for chunk in resp.aiter_bytes()])
        pages += 1
        if not (cursor := json.loads(raw).get("next_cursor")):
            return pages


async def _aiohttp_pages(session: aiohttp.ClientSession, url: str, loads: Loads) -> int:
    cursor, pages = None, 0
    while True:
        params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
        async with session.get(url, params=params, headers=AUTH, timeout=request_timeout(30.0)) as resp:
            raw = await resp.read()
        pages += 1
        if not (cursor := loads(raw).get("next_cursor")):
            return pages


async def _window(urls: list[str], slots: int, read: Callable[[int, str], Awaitable[int]]) -> int:
    free: asyncio.Queue[int] = asyncio.Queue()
    for slot in range(slots):
        free.put_nowait(slot)

    async def one(url: str) -> int:
        slot = await free.get()
        try:
            return await read(slot, url)
        finally:
            free.put_nowait(slot)

    return sum(await asyncio.gather(*(one(u) for u in urls)))


async def read_all(kind: str, urls: list[str], slots: int) -> int:
    """Every page of every store with the ``kind`` client; pages read."""
    if kind == "httpx":
        clients = [httpx.AsyncClient() for _ in range(slots)]
        try:
            return await _window(urls, slots, lambda s, u: _httpx_pages(clients[s], u))
        finally:
            for client in clients:
                await client.aclose()
    if kind == "httpx-shared":
        limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
        async with httpx.AsyncClient(limits=limits) as shared:
            return await _window(urls, slots, lambda s, u: _httpx_pages(shared, u))
    loads: Loads = json.loads
    if kind == "aiohttp+orjson":
        import orjson  # optional: only this variant needs it (listed only when installed)

        loads = orjson.loads
    async with open_session(connections=slots) as session:
        return await _window(urls, slots, lambda s, u: _aiohttp_pages(session, u, loads))


def _cpu_s() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stores", type=int, default=200)
    p.add_argument("--slots", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    every = "httpx,httpx-shared,aiohttp" + (",aiohttp+orjson" if importlib.util.find_spec("orjson") else "")
    p.add_argument("--clients", default=every)
    args = p.parse_args()
    # no latency, limits no client reaches (bench.stores' server always has some)
    api = argparse.Namespace(kind="videos", stores=args.stores, latency_ms=0.001, rate=1e9, store_rate=1e9)
    with fake_api(api) as base:
        urls = [f"{base}/cursor/stores/s{i:04d}/videos" for i in range(1, args.stores + 1)]
        print(f"{'client':<16}{'pages':>7}{'wall s':>8}{'CPU ms/page':>13}")
        for _ in range(args.rounds):
            for kind in args.clients.split(","):
                started, cpu = time.monotonic(), _cpu_s()
                pages = asyncio.run(read_all(kind, urls, args.slots))
                per_page = (_cpu_s() - cpu) / pages * 1000
                print(f"{kind:<16}{pages:>7}{time.monotonic() - started:>8.2f}{per_page:>13.2f}")


if __name__ == "__main__":
    main()
