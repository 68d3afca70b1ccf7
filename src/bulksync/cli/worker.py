"""``bulksync worker``: run distributed job tasks from the Dramatiq broker until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from bulksync.errors import UsageError

if TYPE_CHECKING:
    from bulksync.jobs.store import JobStore
    from bulksync.metrics.process import Metrics
    from bulksync.settings import Settings

ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        "-t",
        envvar="BULKSYNC_WORKER_THREADS",
        min=1,
        max=64,
        help="partition tasks this worker runs at once (default 2)",
    ),
]
LocalStoreOpt = Annotated[
    bool,
    typer.Option(
        "--allow-local-store",
        help="accept a SQLite job store (only workers on this machine can share it)",
    ),
]
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        envvar="BULKSYNC_WORKER_METRICS_PORT",
        min=1,
        max=65535,
        help="serve this worker's Prometheus metrics on http://0.0.0.0:PORT/metrics (default: none)",
    ),
]
STOP_WAIT_S = 120  # a task stops after its current batch; this bounds a stuck one


def worker(
    threads: ThreadsOpt = None, allow_local_store: LocalStoreOpt = False, metrics_port: MetricsPortOpt = None
) -> None:
    """Run partition tasks of distributed jobs (BULKSYNC_BROKER_URL, a shared
    BULKSYNC_JOB_STORE) until SIGTERM or Ctrl-C; start one on every machine that should help."""
    import dramatiq

    from bulksync.jobs.actors import Fleet, Sweeper
    from bulksync.jobs.broker import QUEUE, broker_url, make_broker, ping
    from bulksync.jobs.launch import open_store
    from bulksync.settings import get_settings

    settings = get_settings()
    where = broker_url(settings)  # a clear error when no broker is configured
    ping(settings)
    store = open_store(settings, create=True)
    try:
        _refuse_local(store, allow_local_store)
        _logging(settings)
        if store.created:
            logging.getLogger("bulksync.worker").info("created the job store %s", store.where)
        port = metrics_port or settings.worker_metrics_port
        fleet = Fleet(settings, store, make_broker(settings), listeners=_serve_metrics(port) if port else ())
        fleet.declare_actors()
        n = threads or settings.worker_threads or 2
        runner = dramatiq.Worker(fleet.broker, worker_threads=n, queues={QUEUE})
        runner.queue_prefetch = n  # no message waits on a busy worker while another is idle
        sweeper = Sweeper(fleet)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        runner.start()
        sweeper.start()
        logging.getLogger("bulksync.worker").info(
            "worker ready: %s, %d thread(s), broker %s", fleet.owner, n, where.split("://")[0]
        )
        stop.wait()
        logging.getLogger("bulksync.worker").info("worker stopping: running tasks stop after their batch")
        fleet.halt.set()  # tasks stop between batches and are handed back to the queue
        runner.stop(timeout=STOP_WAIT_S * 1000)
        sweeper.stop()
        fleet.broker.close()
    finally:
        store.close()
    logging.getLogger("bulksync.worker").info("worker stopped")


def _serve_metrics(port: int) -> tuple[Metrics]:
    """This worker's metrics (rows, batches, store API requests…) on ``port``, in a thread."""
    from prometheus_client import start_http_server

    from bulksync.metrics.process import Metrics

    metrics = Metrics(None)  # job counts come from serve: they are the same everywhere
    try:
        start_http_server(port, registry=metrics.registry)
    except OSError as exc:
        raise UsageError(f"--metrics-port {port}: cannot listen ({exc.strerror})") from exc
    logging.getLogger("bulksync.worker").info("metrics on http://0.0.0.0:%d/metrics", port)
    return (metrics,)


def _refuse_local(store: JobStore, allowed: bool) -> None:
    if store.engine.dialect.name == "sqlite" and not allowed:
        raise UsageError(
            "bulksync worker needs a job store every machine can reach: set "
            "BULKSYNC_JOB_STORE=postgresql://… (or pass --allow-local-store when all workers "
            "run on this machine)"
        )


def _logging(settings: Settings) -> None:
    from bulksync import logs

    logs.configure_for(settings)
    logging.getLogger("dramatiq").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.WARNING)
