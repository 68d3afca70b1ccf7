"""The dashboard in a real browser (Debian's Chromium) against a real ``bulksync serve``.

A user pastes a token, watches a job's bar fill over the event stream without reloading,
cancels another job with the button, and a read-only token on a phone-sized screen sees every
job and no button; a wrong token sees nothing. Each step leaves a screenshot in
``artifacts/browser/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect

import crashkit
from bulksync.jobs.model import jobs, now
from bulksync.jobs.store import JobStore
from serving import OPS, VIEWER, Server, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
Shots = Callable[[Any, str], Path]


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(url)
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", token)
    page.click("#login button[type=submit]")


def urls_seen(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


@contextmanager
def held_table(url: str) -> Iterator[psycopg.Connection]:
    """Table ``t`` of ``url``, locked against writes until the block ends (or ``rollback``)."""
    crashkit.build_source(url, 0, seed=7)  # the table, empty
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE t IN SHARE MODE")  # reads go on; a job's first batch waits
        yield conn
        conn.rollback()


def test_no_token_or_a_wrong_token_sees_nothing(page: Page, server: Server, shots: Shots) -> None:
    page.goto(server.url)
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#jobs")).to_be_hidden()
    shots(page, "01-token-prompt")

    sign_in(page, server.url, "not-a-token-of-this-server")
    expect(page.locator("#notice")).to_contain_text("This token was refused: unknown bearer token")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#jobs")).to_be_hidden()
    assert page.locator("#job-list > *").count() == 0
    assert page.evaluate("sessionStorage.length") == 0  # a refused token is not kept
    shots(page, "02-wrong-token")


def test_a_job_fills_its_bar_live_and_another_is_cancelled_with_the_button(
    browser: Any, page: Page, server: Server, databases: tuple[str, str], source_rows: int, shots: Shots
) -> None:
    api = server.client(OPS)
    requests = urls_seen(page)
    with held_table(databases[1]) as lock:
        body = {"source": "src", "destination": "held", "tables": [{"name": "t", "dest_name": "t_free"}, "t"]}
        held = api.post("/api/v1/jobs", json=body)  # t_free goes through, t waits for the lock
        held_id = held.json()["job_id"]
        wait_for(api, held_id, until=("running",))  # it holds the server's one worker thread
        live = {"source": "src", "destination": "wh", "partitions": 1, "chunk_rows": 1000,
                "batch_rows": 1000, "tables": [{"name": "t", "dest_name": "t_live"}]}  # fmt: skip
        live_id = api.post("/api/v1/jobs", json=live).json()["job_id"]

        sign_in(page, server.url, OPS)
        rows = page.locator(".job")
        expect(rows).to_have_count(2)
        expect(page.locator(f'[data-job-id="{live_id}"] .status')).to_have_text("queued")
        expect(page.locator(f'[data-job-id="{held_id}"] .status')).to_have_text("running")
        expect(page.locator("#who")).to_have_text("token ops")
        expect(page.locator("#jackpot")).to_be_hidden()  # no jackpot service on this server
        shots(page, "03-jobs-list")

        # a second tab follows the queued job; it is never reloaded
        watcher = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        sign_in(watcher, f"{server.url}/#/jobs/{live_id}", OPS)
        expect(watcher.locator("#job-status")).to_have_text("queued")
        expect(watcher.locator("#job-live")).to_have_text("live")
        watcher.evaluate("window.notReloaded = true")
        shots(watcher, "04-job-queued")

        page.click(f'[data-job-id="{held_id}"]')
        expect(page.locator("#job-status")).to_have_text("running")
        expect(page.locator('[data-part="t_free"] .status')).to_have_text("done")
        expect(page.locator('[data-part="t"] .status')).not_to_have_text("done")
        expect(page.locator("[data-action]")).to_have_count(1)
        shots(page, "05-job-running")
        page.click('[data-action="cancel"]')
        expect(page.locator("#job-status")).to_have_text(re.compile("^(stopping|cancelled)$"))
        lock.rollback()  # its waiting batch goes through, and the job stops after it
    expect(page.locator("#job-status")).to_have_text("cancelled")
    expect(page.locator('[data-action="resume"]')).to_be_visible()
    expect(page.locator('[data-action="cancel"]')).to_have_count(0)
    shots(page, "06-job-cancelled")

    total = watcher.locator('[aria-label="job progress"]')
    expect(total).to_have_attribute("aria-valuenow", "100")
    expect(watcher.locator("#job-status")).to_have_text("succeeded")
    expect(watcher.locator('[data-part="t_live"] .status')).to_have_text("done")
    expect(watcher.locator("#job-live")).to_have_text("finished")
    assert watcher.evaluate("window.notReloaded") is True
    shots(watcher, "07-job-succeeded")
    watcher.context.close()

    with psycopg.connect(databases[0]) as conn:
        assert conn.execute("SELECT count(*) FROM t_live").fetchone() == (source_rows,)
    page.click("a.back")
    expect(page.locator(f'[data-job-id="{live_id}"] .status')).to_have_text("succeeded")
    expect(page.locator(f'[data-job-id="{held_id}"] .status')).to_have_text("cancelled")
    shots(page, "08-jobs-after")
    assert not [u for u in requests if OPS in u], "the token went into a URL"
    assert [u for u in requests if not u.startswith((server.url, "data:"))] == []  # nothing from outside
    assert api.get(f"/api/v1/jobs/{held_id}").json()["status"] == "cancelled"


def test_a_read_only_token_on_a_phone_sees_every_job_and_no_button(
    browser: Any, server: Server, shots: Shots
) -> None:
    api = server.client(OPS)
    body = {"source": "src", "destination": "wh", "tables": [{"name": "t", "dest_name": "t_phone"}]}
    job_id = api.post("/api/v1/jobs", json=body).json()["job_id"]
    assert wait_for(api, job_id)["status"] == "succeeded"

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_in(page, server.url, VIEWER)
    expect(page.locator("#who")).to_have_text("token viewer · read-only")
    row = page.locator(f'[data-job-id="{job_id}"]')
    expect(row.locator(".status")).to_have_text("succeeded")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than a phone"
    shots(page, "09-read-only-phone-list")

    row.click()
    expect(page.locator("#job-status")).to_have_text("succeeded")
    expect(page.locator('[data-part="t_phone"]')).to_be_visible()
    expect(page.locator("#job-live")).to_have_text("finished")
    assert page.locator("button[data-action]").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than a phone"
    shots(page, "10-read-only-phone-job")
    phone.close()


STATS = {
    "pools": [
        {
            "name": "mini",
            "amount_minor": 123456,
            "seed_minor": 100000,
            "cap_minor": 500000,
            "currency": "EUR",
        },
        {
            "name": "mega",
            "amount_minor": 98765432,
            "seed_minor": 1000000,
            "cap_minor": None,
            "currency": "EUR",
        },
    ],
    "contributions_per_s": 171.4,
    "p95_ms": 12.5,
    "error_rate": 0.001,
    "queue_size": 3,
    "cache_hit_rate": 0.97,
}


def test_the_jackpot_panel_shows_while_the_jackpot_stats_answer_and_hides_on_404(
    page: Page, server: Server, shots: Shots
) -> None:
    """The jackpot service is another part of the server: its stats endpoint is answered here by
    the browser itself, in the agreed shape, to see the panel appear and go."""
    answer = {"status": 200}

    def stats(route: Any) -> None:
        if answer["status"] == 200:
            route.fulfill(status=200, json=STATS)
        else:
            route.fulfill(status=404, json={"detail": "Not Found"})

    page.route("**/api/jackpot/stats", stats)
    sign_in(page, server.url, VIEWER)
    panel = page.locator("#jackpot")
    expect(panel).to_be_visible()
    expect(panel.locator('[data-pool="mini"] .amount')).to_have_text("€1,234.56")
    expect(panel.locator('[data-pool="mega"] .amount')).to_have_text("€987,654.32")
    expect(panel.locator('[data-pool="mini"] [role=progressbar]')).to_have_attribute("aria-valuenow", "25")
    expect(panel).to_contain_text("171.4")
    expect(panel).to_contain_text("12.5 ms")
    expect(panel).to_contain_text("97.0%")
    shots(page, "11-jackpot-panel")
    answer["status"] = 404
    expect(panel).to_be_hidden()


def test_a_job_of_another_kind_shows_a_bar_per_store_and_lists_the_failed_ones(
    page: Page, server: Server, shots: Shots
) -> None:
    """Any kind of job is drawn from its record alone: a store sync (its entries are stores)
    recorded as a job, two of its five stores failed, shows five bars and says why two failed."""

    def store(phase: str, done: int, total: int, message: str = "") -> dict[str, Any]:
        return {"phase": phase, "rows_done": done, "rows_total": total, "message": message}

    stores = {f"store-{n:03d}": store("done", 120, 120) for n in range(1, 4)}
    stores["store-004"] = store("failed", 40, 120, "HTTP 401: bad key")
    stores["store-005"] = store("failed", 0, 0, "timed out after 3 tries")
    at = now()
    record = JobStore(server.env["BULKSYNC_JOB_STORE"])
    with record.engine.begin() as conn:
        conn.execute(
            jobs.insert().values(
                id="job_storesync0000001", kind="stores", spec=json.dumps({"records": "users"}),
                status="failed",
                processed_records=400, estimated_records=480, percentage=83.33, rows_per_s=0.0, rss_mb=80.0,
                tables=json.dumps(stores), error="2 of 5 stores failed", attempts=1, max_attempts=1,
                created_at=at, updated_at=at, started_at=at, finished_at=at,
            )
        )  # fmt: skip
    record.close()

    sign_in(page, f"{server.url}/#/jobs/job_storesync0000001", OPS)
    expect(page.locator("#job-status")).to_have_text("failed")
    expect(page.locator("#parts-title")).to_have_text("Stores")
    expect(page.locator(".part")).to_have_count(5)
    expect(page.locator("#failed-title")).to_have_text("Failed stores (2)")
    expect(page.locator("#job-failed li")).to_have_text(
        ["store-004: HTTP 401: bad key", "store-005: timed out after 3 tries"]
    )
    expect(page.locator("#job-figures")).to_contain_text("3/5 stores")
    expect(page.locator('[data-action="resume"]')).to_be_visible()
    shots(page, "12-store-sync-failed-stores")
