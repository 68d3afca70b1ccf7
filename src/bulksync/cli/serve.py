"""``bulksync serve``: the HTTP API with its embedded worker threads, under uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer


def serve(
    host: Annotated[
        str, typer.Option("--host", envvar="BULKSYNC_HOST", help="address to listen on")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="BULKSYNC_PORT", min=1, max=65535, help="port to listen on")
    ] = 8000,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            "--workers",
            envvar="BULKSYNC_SERVE_THREADS",
            min=0,
            max=64,
            show_default="2",
            help="embedded worker threads that run jobs (0: the API only); --workers is its deprecated name",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", envvar="BULKSYNC_LOG_LEVEL", help="debug, info, warning, error")
    ] = "info",
) -> None:
    """Serve the dashboard (/) and the HTTP API (/docs), running jobs on worker threads; Ctrl-C stops.

    Tokens: BULKSYNC_API_TOKENS__<NAME>__TOKEN and __SCOPES (jobs:read, jobs:write or *).
    """
    import uvicorn

    from bulksync import logs
    from bulksync.api import create_app
    from bulksync.settings import get_settings

    settings = get_settings()
    if threads is not None:
        if any(a == "--workers" or a.startswith("--workers=") for a in sys.argv[1:]):
            print("warning: serve --workers is deprecated: use --threads (the same number)", file=sys.stderr)
        settings = settings.model_copy(update={"serve_threads": threads})
    logs.configure_for(settings, level=log_level)
    app = create_app(settings)
    # uvicorn's access log has method, path and status only: never a header, so never a token;
    # log_config=None: its lines go through logs.configure's handler like every other
    asgi = getattr(app.state, "asgi", app)  # the jackpot's fast path in front of the app, when on
    uvicorn.run(asgi, host=host, port=port, log_level=log_level.lower(), server_header=False, log_config=None)
    running = app.state.jobs_left_running
    if running:
        # the engine's partition threads would keep the interpreter alive until the job ends
        logging.getLogger("bulksync.api").warning(
            "%d job(s) were running: they continue from their last checkpoint once their lease "
            "(BULKSYNC_JOB_LEASE_SECONDS=%.0f) expires, on the next bulksync serve or any runner",
            running,
            settings.job_lease_seconds,
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
