"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, a real ``bulksync
serve`` with one worker thread, and a folder of screenshots kept as test artefacts.

Chromium is never downloaded: Playwright launches ``/usr/bin/chromium`` (``.ci/services``
installs the Debian package when it is missing). Without it the tests skip loudly on a laptop
and fail with CI=true, like a missing service.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import crashkit
from serving import OPS, SECRET, Server, drop_pg, fresh_pg, server_env, with_password

CHROMIUM = os.environ.get("BULKSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("BULKSYNC_TEST_ARTIFACTS", Path(__file__).parents[2] / "artifacts" / "browser")
)
ROWS = 20_000
# a closed network: nothing to phone home to, and no wait for it
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


# Per module, not per session: while Playwright's sync API is open its event loop runs in this
# thread, and every later test that calls asyncio.run() (the HTTP source's) would fail.
@pytest.fixture(scope="module")
def browser(require_service: Callable[[str, Exception], None]) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        require_service("Chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium)"))
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:  # the dev extra was not installed
        require_service("Playwright", exc)
        raise
    expect.set_options(timeout=60_000)  # a slow, shared machine: waits are generous, never a measure
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots() -> Callable[[Any, str], Path]:
    """``shots(page, "03-job-running")`` saves a PNG under ``artifacts/browser/``; its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def databases(pg_admin: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """Two warehouses: one for jobs that run, one whose table a test can lock (a job held still)."""
    names = [f"bs_dash_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    urls = [fresh_pg(pg_admin, name) for name in names]
    yield urls[0], urls[1]
    for name in names:
        drop_pg(pg_admin, name)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, databases: tuple[str, str]) -> Iterator[Server]:
    """``bulksync serve`` with ONE worker thread: a second job waits, queued, behind the first."""
    workdir = tmp_path_factory.mktemp("dashboard")
    source = workdir / "source.db"
    crashkit.build_source(str(source), ROWS, seed=7)
    env = server_env(
        workdir,
        BULKSYNC_CONNECTIONS__SRC=str(source),
        BULKSYNC_CONNECTIONS__WH=with_password(databases[0]),
        BULKSYNC_CONNECTIONS__HELD=with_password(databases[1]),
        BULKSYNC_SERVE_THREADS="1",
    )
    srv = Server(workdir, env).start()
    yield srv
    srv.stop()
    log = srv.stderr()
    assert SECRET not in log and OPS not in log
    records = [json.loads(line) for line in log.splitlines()]  # off a terminal: JSON lines
    assert records and all({"timestamp", "level", "event"} <= set(r) for r in records)
    assert any(r.get("job") and r.get("table") == "t_live" for r in records), "no job/table context"


@pytest.fixture(scope="session")
def source_rows() -> int:
    """Rows of table ``t`` in the server's ``src`` connection."""
    return ROWS


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new browser tab of desktop size, in a context of its own (its own sessionStorage)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(60_000)
    tab = context.new_page()
    yield tab
    context.close()
