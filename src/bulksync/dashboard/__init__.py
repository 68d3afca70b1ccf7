"""The dashboard at ``/``: one page (static HTML, CSS and JavaScript shipped in the package, no
build step, nothing from outside the server) on top of the public job API.

``mount(app)`` adds the page, its static files and ``GET /api/v1/dashboard`` (the token's name and
scopes, and the job counts the page's header shows). The page keeps the token in the tab's
``sessionStorage`` and sends it as an ``Authorization`` header on every call, the job event stream
included (read with ``fetch``, not ``EventSource``, which cannot send headers).
"""

from __future__ import annotations

from bulksync.dashboard.routes import mount

__all__ = ["mount"]
