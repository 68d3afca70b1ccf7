"""Broker fixtures: a Redis database index of its own, or a RabbitMQ virtual host of its own, per
test (flushed/deleted afterwards), plus a two-table SQLite source and its row digests."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

import fleetkit

REDIS = "redis://127.0.0.1:6379"
RABBIT = "amqp://guest:guest@127.0.0.1:5672"
REDIS_DBS = range(8, 16)  # 0-7 are left to everything else on this server


Require = Callable[[str, Exception], None]


@pytest.fixture
def redis_url(require_service: Require) -> Iterator[str]:
    """``redis://127.0.0.1:6379/N`` for a database index no other test holds, flushed around."""
    import redis

    admin = redis.Redis.from_url(REDIS + "/0", socket_connect_timeout=3)
    try:
        admin.ping()
    except redis.RedisError as exc:
        require_service("Redis", exc)
    token = uuid.uuid4().hex
    for n in REDIS_DBS:
        if admin.set(f"bulksync-test-db:{n}", token, nx=True, ex=1800):
            break
    else:
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


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def amqp_url(require_service: Require) -> Iterator[str]:
    """``amqp://guest:guest@127.0.0.1:5672/<vhost>`` for a virtual host made for this test."""
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(RABBIT + "/%2F?connection_attempts=1")).close()
    except Exception as exc:
        require_service("RabbitMQ", exc)
    vhost = f"bs_test_{uuid.uuid4().hex[:10]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as exc:
        require_service("RabbitMQ (rabbitmqctl, to make a test virtual host)", exc)
    try:
        yield f"{RABBIT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> fleetkit.Source:
    return fleetkit.build_source(tmp_path_factory.mktemp("fleet") / "source.db")
