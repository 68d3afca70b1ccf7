"""The HTTP API of ``bulksync serve``.

app.py        create_app(): the FastAPI app, its lifespan (job store, embedded workers)
runtime.py    the job store (opened lazily: the server starts while it is down) and worker pool
deps.py       settings, store and bearer-token auth with scopes
schemas.py    request and response bodies (connection names only, never a DSN)
errors.py     every failure to a status code and one redacted line
routes/       jobs.py (/api/v1/jobs), bets.py (seed 000's /api/sync-bets), health.py (/healthz, /metrics)
"""

from bulksync.api.app import create_app

__all__ = ["create_app"]
