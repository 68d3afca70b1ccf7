"""The global requests/second limit shared through Redis by two store syncs running at once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bulksync.connectors.http_pacing_redis import RedisRate
from bulksync.fakestores import FakeStores, FakeStoreServer
from bulksync.fakestores.buckets import Bucket
from bulksync.recipes.stores import sync_stores
from storekit import assert_exactly_once, expected_keys, job_for

REDIS = "redis://127.0.0.1:6379"


@pytest.fixture
def redis_url(require_service: Callable[[str, Exception], None]) -> Iterator[str]:
    """A Redis database index (8-15) no other test holds, flushed around (as tests/distributed)."""
    import redis

    admin = redis.Redis.from_url(REDIS + "/0", socket_connect_timeout=3)
    try:
        admin.ping()
    except redis.RedisError as exc:
        require_service("Redis", exc)
    token = uuid.uuid4().hex
    n = next((n for n in range(8, 16) if admin.set(f"bulksync-test-db:{n}", token, nx=True, ex=1800)), None)
    if n is None:
        pytest.fail("every Redis test database (8-15) is taken")
    db = redis.Redis.from_url(f"{REDIS}/{n}")
    db.flushdb()
    try:
        yield f"{REDIS}/{n}"
    finally:
        db.flushdb()
        db.close()
        admin.delete(f"bulksync-test-db:{n}")
        admin.close()


def test_two_jobs_share_one_global_limit_through_redis(pg_db: str, redis_url: str) -> None:
    """The API allows 20 requests/s in all; users and videos run at once, each configured with
    that 20/s: through Redis they share it, so the API never has to refuse one."""
    import redis

    catalog = FakeStores(stores=6, videos=(20, 60))
    results: dict[str, Any] = {}
    with FakeStoreServer(catalog, rate=20) as srv:

        def run(kind: str) -> None:
            job = job_for(srv, pg_db, kind=kind, rate=20, shared_limit_url=redis_url, rate_key="t:rate")
            results[kind] = sync_stores(job)

        threads = [threading.Thread(target=run, args=(kind,)) for kind in ("users", "videos")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        stats = srv.stats.as_dict()
    assert {k: r.status for k, r in results.items()} == {"users": "succeeded", "videos": "succeeded"}
    assert stats["over_limit"] == 0 and "429" not in stats["statuses"]
    assert stats["requests"] == sum(r.requests for r in results.values()) > 40
    assert redis.Redis.from_url(redis_url).exists("t:rate")
    for kind in ("users", "videos"):
        assert_exactly_once(pg_db, f"store_{kind}", expected_keys(catalog, kind))


def test_the_shared_window_spaces_requests_so_a_late_first_second_is_no_429(redis_url: str) -> None:
    """41 requests at 20/s through the Redis window, the first half second's delayed 80 ms on the
    way (as a network does now and then): an API's token bucket of 20/s (a second's burst)
    admits every one. A one-second window sent 20 at once and the next 20 a second (and 50 ms)
    later, so the API saw the second 20 within 0.97 s of the first and refused the last."""

    async def acquire_times() -> list[float]:
        rate = await RedisRate.open(redis_url, rate=20, key="t:spaced")
        try:
            times = []
            for _ in range(41):
                await rate.acquire()
                times.append(time.monotonic())
            return times
        finally:
            await rate.close()

    api = Bucket(20)
    sent = asyncio.run(acquire_times())
    arrivals = sorted(t + (0.08 if t - sent[0] < 0.5 else 0.0) for t in sent)
    refused = 0
    for at in arrivals:
        if api.wait(at) > 0:
            refused += 1
        else:
            api.take()
    assert refused == 0
    assert 1.9 < sent[-1] - sent[0] < 2.6  # 20/s held, not much slower: 41 requests take 2 s
