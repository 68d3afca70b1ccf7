"""``create_app()``: the FastAPI application of ``bulksync serve`` (OpenAPI at /docs, /openapi.json).

Settings are read once here (or passed in) and handed down through ``app.state``; the lifespan
opens the job store and starts the embedded worker threads, and stops them on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI

from bulksync import dashboard
from bulksync.api import errors
from bulksync.api.deps import NO_TOKENS
from bulksync.api.limits import BodyLimit
from bulksync.api.routes import bets, health, jackpot, jobs
from bulksync.api.routes import stores as store_routes
from bulksync.api.runtime import Runtime
from bulksync.jobs.store import JobStore
from bulksync.metrics.process import Metrics
from bulksync.settings import BetSyncSettings, Settings, get_bet_settings, get_settings

log = logging.getLogger("bulksync.api")


def create_app(
    settings: Settings | None = None,
    *,
    bet_settings: BetSyncSettings | None = None,
    store: JobStore | None = None,
    workers: bool = True,
) -> FastAPI:
    """The API app; ``workers`` starts the embedded worker threads (``BULKSYNC_SERVE_THREADS``).

    ``store`` is used as given (and not closed); by default the app opens BULKSYNC_JOB_STORE.
    """
    settings = settings or get_settings()
    threads, note = settings.embedded_threads()
    if note:
        log.warning(note)
    runtime = Runtime(settings, store=store, threads=threads if workers else 0)
    metrics = Metrics(runtime.store)
    runtime.listeners = (metrics,)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not settings.api_tokens:
            log.warning(NO_TOKENS)
        runtime.start()
        try:
            yield
        finally:
            app.state.jobs_left_running = runtime.stop()

    app = FastAPI(
        title="bulksync",
        version=version("bulksync"),
        summary="Sync jobs between configured connections, seed 000's bet sync, health and metrics.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bet_settings = bet_settings or get_bet_settings()
    app.state.runtime = runtime
    app.state.metrics = metrics
    app.state.jobs_left_running = 0
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)  # outermost: before any parsing
    for router in (jobs.router, bets.router, health.router):
        app.include_router(router)
    app.include_router(store_routes.router)  # POST /api/v1/jobs/stores
    dashboard.mount(app)  # the page at / and its files
    jackpot.install(app, settings)
    return app
