"""The Dramatiq broker a worker fleet shares: Redis or RabbitMQ, from ``BULKSYNC_BROKER_URL``.

Choices, and why:

- **No time limit.** Dramatiq's ``TimeLimit`` middleware kills an actor after 10 minutes by
  default; a partition of a big table runs longer. It is left out: a stuck task is found by its
  lease (no heartbeat) instead, and ``--timeout`` on a job bounds each partition attempt.
- **Few broker retries.** An actor only raises when the job store itself is unreachable; Dramatiq
  retries that ``MAX_RETRIES`` times with backoff. The real cap is each task's attempts in the
  job store: a task that keeps killing its worker is failed after ``BULKSYNC_JOB_TRIES`` claims.
- **Redis redelivery.** A dead worker's unacked messages go back to the queue when another worker
  notices its Redis heartbeat is older than ``heartbeat_timeout`` (checked on a share of broker
  calls, ``maintenance_chance`` per million). Both are tightened from the defaults (60 s, 0.1 %)
  so redelivery is prompt; a worker busy on long partitions may look dead and have its messages
  redelivered early, which is harmless — the task's live lease makes the copy a no-op. The
  sweeper (actors.py) re-sends messages for expired leases anyway: messages are only hints.
- **Isolation.** Deployments sharing one server use a Redis database number (``redis://h/3``)
  or a RabbitMQ virtual host (``amqp://u:p@h/vhost``); the queue is always ``bulksync``.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import AgeLimit, Retries

from bulksync.errors import BrokerUnavailable, UsageError, redact
from bulksync.settings import Settings

QUEUE = "bulksync"
PLAN_JOB = "plan_job"
RUN_PARTITION = "run_partition"
MAX_RETRIES = 3
REDIS_MAINTENANCE_CHANCE = 100_000  # of a million broker calls: 10 %
SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://")


def broker_url(settings: Settings) -> str:
    if settings.broker_url is None:
        raise UsageError("no broker configured: set BULKSYNC_BROKER_URL=redis://… or amqp://…")
    url = settings.broker_url.get_secret_value()
    if not url.startswith(SCHEMES):
        raise UsageError(
            f"BULKSYNC_BROKER_URL must start with {', '.join(SCHEMES)}, not {redact(url)[:40]!r}"
        )
    return url


def make_broker(settings: Settings) -> dramatiq.Broker:
    """A Redis or RabbitMQ broker with bulksync's middleware (no time limit, capped retries)."""
    url = broker_url(settings)
    middleware: list[Any] = [
        AgeLimit(),
        Retries(max_retries=MAX_RETRIES, min_backoff=1_000, max_backoff=30_000),
    ]
    if url.startswith("redis"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(  # type: ignore[no-untyped-call]
            url=url,
            middleware=middleware,
            namespace="bulksync",
            heartbeat_timeout=int(max(10.0, 2 * settings.job_lease_seconds) * 1000),
            maintenance_chance=REDIS_MAINTENANCE_CHANCE,
        )
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)


def send(broker: dramatiq.Broker, actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
    """Put one message on the bulksync queue (the actors need not be declared to send)."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=QUEUE, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    try:
        broker.enqueue(message, delay=delay_ms)
    except Exception as exc:  # redis/pika errors: one line, no URL
        raise BrokerUnavailable(f"cannot send to the broker: {_why(exc)}") from exc


def ping(settings: Settings, *, timeout_s: float = 3.0) -> None:
    """Connect to the broker and back within ``timeout_s``; a one-line error without secrets."""
    url = broker_url(settings)
    try:
        if url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
            try:
                client.ping()
            finally:
                client.close()
        else:
            import pika  # type: ignore[import-untyped]

            params = pika.URLParameters(url)
            params.socket_timeout = timeout_s
            params.blocked_connection_timeout = timeout_s
            params.connection_attempts = 1
            pika.BlockingConnection(params).close()
    except Exception as exc:
        raise BrokerUnavailable(f"broker {_where(url)} is not reachable: {_why(exc)}") from exc


def _where(url: str) -> str:
    """``redis://host:6379/0``: scheme, host, port and path; never the user or password."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.rsplit('@', 1)[-1].split('?', 1)[0]}"


def _why(exc: BaseException) -> str:
    """``Type: message`` of the error that says something: pika's AMQPConnectionError carries
    no text, only the exception it wraps (whose own text may also be empty)."""
    inner = _cause(exc)
    text = " ".join(str(inner).split()) or type(inner).__name__
    return redact(f"{type(inner).__name__}: {text}")[:300]


def _cause(exc: BaseException) -> BaseException:
    for _ in range(5):  # wrappers of wrappers, never a loop
        if " ".join(str(exc).split()) not in ("", type(exc).__name__):
            return exc
        wrapped = next((a for a in exc.args if isinstance(a, BaseException)), None)
        wrapped = getattr(wrapped, "exception", None) or wrapped or exc.__cause__
        if not isinstance(wrapped, BaseException):
            return exc
        exc = wrapped
    return exc
