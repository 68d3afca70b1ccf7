"""The dashboard's page and the endpoint it asks first, on a real server: the page is public and
loads nothing from elsewhere (its CSP says so); its data needs a token, and says what that token
may do by the token's name, never its value."""

from __future__ import annotations

import httpx
import pytest

from serving import OPS, VIEWER, Server

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_the_page_and_its_files_are_served_with_a_closed_content_security_policy(server: Server) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "http" not in page.text.replace(server.url, "")  # no outside address in the page
    for name in ("dashboard.js", "api.js", "jobs.js", "jackpot.js", "format.js", "dashboard.css"):
        asset = httpx.get(f"{server.url}/dashboard/{name}")
        assert asset.status_code == 200, name
        assert "http://" not in asset.text and "https://" not in asset.text, name  # no CDN, no font
    missing = httpx.get(server.url + "/dashboard/nothing.js")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}


def test_the_overview_names_the_token_and_what_it_may_do(server: Server) -> None:
    assert httpx.get(server.url + "/api/v1/dashboard").status_code == 401
    bad = httpx.get(server.url + "/api/v1/dashboard", headers={"Authorization": "Bearer nope-0123456789"})
    assert bad.status_code == 401 and bad.json() == {"detail": "unknown bearer token"}
    with server.client(OPS) as api:
        ops = api.get("/api/v1/dashboard").json()
    with server.client(VIEWER) as api:
        viewer = api.get("/api/v1/dashboard")
    assert (ops["token"], ops["can_write"], ops["scopes"]) == ("ops", True, ["*"])
    assert viewer.json()["token"] == "viewer" and viewer.json()["can_write"] is False
    assert set(viewer.json()["counts"]) == {
        "queued",
        "running",
        "stopping",
        "lost",
        "succeeded",
        "partial",
        "failed",
        "cancelled",
    }
    assert VIEWER not in viewer.text and OPS not in viewer.text
