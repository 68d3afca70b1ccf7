"""Two real ``bulksync serve`` processes on one ledger and one Redis: one rate limit per token
for both, and a pool read on one server shows what the other just committed. Then Redis dies (a
private ``redis-server`` of this test, never the shared one): the service goes on per process,
says so once in its log, loses nothing, and shares again when Redis is back."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

import jackpotkit as kit
from serving import Server, drop_pg, free_port, fresh_pg

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
URL = "/api/jackpot/contributions"
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def ledger(pg_admin: psycopg.Connection) -> Iterator[str]:
    name = f"bs_jackpot_shared_{uuid.uuid4().hex[:10]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


@pytest.fixture
def prefix(require_service: Callable[[str, Exception], None]) -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys deleted afterwards."""
    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", exc)
    name = f"bs-test-jackpot:{uuid.uuid4().hex[:10]}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


def two_servers(tmp_path: Path, ledger: str, **extra: str) -> tuple[Server, Server]:
    first = kit.start(tmp_path / "a", ledger, **extra)
    env = kit.jackpot_env(tmp_path / "b", ledger, **extra)
    return first, Server(tmp_path / "b", env).start()


def test_two_servers_share_one_rate_limit_and_one_pool_cache(
    tmp_path: Path, ledger: str, prefix: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = two_servers(
        tmp_path, ledger, BULKSYNC_JACKPOT_REDIS_URL=REDIS, BULKSYNC_JACKPOT_REDIS_PREFIX=prefix,
        BULKSYNC_JACKPOT_RATE_PER_MINUTE="6", BULKSYNC_JACKPOT_BURST="10", BULKSYNC_JACKPOT_CACHE_TTL_S="60",
    )  # fmt: skip
    try:
        with a.client() as on_a, b.client() as on_b:
            warm = on_b.get("/api/jackpot/pools/mini").json()["amount_minor"]  # b's cache is warm
            started = time.monotonic()
            sent = [kit.contribution(i, "100.00", prefix="rl") for i in range(30)]
            codes = [(on_a if i % 2 else on_b).post(URL, json=c).status_code for i, c in enumerate(sent)]
            elapsed = time.monotonic() - started
            seen = [on_b.get("/api/jackpot/pools/mini").json()["amount_minor"] for _ in range(10)]
            stats = on_b.get("/api/jackpot/stats").json()
    finally:
        assert a.stop() == 0 and b.stop() == 0
    # one bucket of 10 (refilled at 6/min) for both servers, not 10 each
    assert set(codes) == {200, 429}
    assert codes.count(200) <= 10 + int(elapsed / 10) + 1, codes
    applied = codes.count(200)
    assert kit.pools(ledger)["mini"] == kit.SEEDS["mini"] + applied * 50
    assert warm == kit.SEEDS["mini"] and seen == [kit.pools(ledger)["mini"]] * 10  # b sees a's commits
    assert stats["cache_hit_rate"] > 0.9
    done = kit.audit(a.env, tmp_path / "a")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start (and restart) a redis-server of this test on a free port; killed at the end."""
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        return proc

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        proc.kill()
        proc.wait(10)


def test_redis_dying_leaves_the_service_running_per_process_and_nothing_lost(
    tmp_path: Path, ledger: str, private_redis: Callable[[], subprocess.Popen[bytes]]
) -> None:
    server = private_redis()
    url = f"redis://127.0.0.1:{private_redis.port}/0"  # type: ignore[attr-defined]
    srv = kit.start(
        tmp_path, ledger, BULKSYNC_JACKPOT_REDIS_URL=url, BULKSYNC_JACKPOT_RATE_PER_MINUTE="6",
        BULKSYNC_JACKPOT_BURST="10",
    )  # fmt: skip
    try:
        with srv.client() as api:
            before = [api.post(URL, json=kit.contribution(i, prefix="up")).status_code for i in range(4)]
            server.kill()
            server.wait(10)
            during = [api.post(URL, json=kit.contribution(i, prefix="down")).status_code for i in range(14)]
            read = api.get("/api/jackpot/pools/mini")
            private_redis()
            time.sleep(5.5)  # the service tries Redis again 5 s after it failed
            after = api.post(URL, json=kit.contribution(0, prefix="back"))
    finally:
        assert srv.stop() == 0
    assert before == [200] * 4
    # Redis away: this process's own bucket of 10 decides (a fresh one: 10 more, then 429)
    assert during == [200] * 10 + [429] * 4, during
    assert read.status_code == 200 and read.json()["amount_minor"] == kit.SEEDS["mini"] + 14  # 1 cent each
    assert after.status_code in (200, 429)
    log = kit.clean_log(srv)
    assert log.count("Redis is away") == 1, log
    assert "Redis is back" in log
    ids = kit.ledger_ids(ledger)
    assert sorted(ids) == sorted([f"up-{i}" for i in range(4)] + [f"down-{i}" for i in range(10)] + (
        ["back-0"] if after.status_code == 200 else []))  # fmt: skip
    done = kit.audit(srv.env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
