"""The global requests/second limit shared through Redis by two store syncs running at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bulksync.fakestores import FakeStores, FakeStoreServer
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
