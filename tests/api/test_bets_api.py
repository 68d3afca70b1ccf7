"""Seed 000's API replayed against the real server: its requests, and its responses compared field
by field (every field the seed shows is there, with the seed's type and fixed words); the bets that
land equal the source's; above BET_SYNC_BACKGROUND_THRESHOLD a sync request becomes a job."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulksync.datagen import generate
from serving import SECRET, Server, drop_pg, fresh_pg, no_secret, server_env, with_password

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# the seed's examples, as its README shows them (shared/seeds/000_*.txt, "API Endpoints")
SEED_SYNC = {
    "success": True,
    "message": "Bets synced successfully",
    "data": {
        "date": "2025-11-21",
        "total_records": 15420,
        "execution_time_seconds": 45.23,
        "performance": {"records_per_second": 340.85, "chunk_size": 1000, "batch_size": 500},
    },
}
SEED_RANGE_REQUEST = {"start_date": "2025-11-01", "end_date": "2025-11-20", "channel": "VN"}
SEED_BACKGROUND_REQUEST = {"start_date": "2025-10-01", "end_date": "2025-11-20", "channel": "VN"}
SEED_BACKGROUND = {
    "success": True,
    "message": "Background sync job started successfully",
    "data": {
        "job_id": "sync_bets_673f8a1b2c4d5",
        "estimated_records": 250000,
        "status_check_url": "/api/sync-bets/status/sync_bets_673f8a1b2c4d5",
        "note": "Use the status_check_url to monitor progress",
    },
}
SEED_STATUS = {
    "success": True,
    "data": {
        "job_id": "sync_bets_673f8a1b2c4d5",
        "status": "processing",
        "started_at": "2025-11-21T10:30:00Z",
        "processed_records": 125000,
        "estimated_records": 250000,
        "progress_percentage": 50.0,
        "updated_at": "2025-11-21T10:45:00Z",
    },
}
FIXED_WORDS = {"success", "message", "note", "chunk_size", "batch_size"}
SEED_JOB_ID = re.compile(r"^sync_bets_[0-9a-f]{13}$")  # the seed's sync_bets_673f8a1b2c4d5
SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
THRESHOLD = 600  # above the seed's date-range example here (451 bets), below wider ranges


def same_shape(seed: dict[str, Any], ours: dict[str, Any], where: str = "") -> None:
    """Every field of the seed's example is in ours, with the same JSON type (and fixed words equal)."""
    for key, want in seed.items():
        at = f"{where}{key}"
        assert key in ours, f"{at} missing from {ours}"
        got = ours[key]
        if isinstance(want, dict):
            same_shape(want, got, at + ".")
        elif isinstance(want, bool):
            assert got is want, at
        elif isinstance(want, int):
            assert isinstance(got, int) and not isinstance(got, bool), at
        elif isinstance(want, float):
            assert isinstance(got, int | float) and not isinstance(got, bool), at
        else:
            assert isinstance(got, str), at
        if key in FIXED_WORDS and not isinstance(want, int):
            assert got == want, at


@pytest.fixture(scope="module")
def dk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dk") / "dk.db"
    generate(str(path), tables=["bets"], rows_override={"bets": 20_000}, seed=3)
    return path


@pytest.fixture(scope="module")
def bets_pg(pg_admin: Any) -> Iterator[str]:
    name = f"bs_api_bets_{uuid.uuid4().hex[:10]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


@pytest.fixture(scope="module")
def bets_server(tmp_path_factory: pytest.TempPathFactory, dk: Path, bets_pg: str) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve-bets")
    env = server_env(
        workdir,
        BULKSYNC_CONNECTIONS__DK=str(dk),
        BULKSYNC_CONNECTIONS__DEFAULT=with_password(bets_pg),
        BET_SYNC_BACKGROUND_THRESHOLD=str(THRESHOLD),
    )
    srv = Server(workdir, env).start()
    yield srv
    assert srv.stop() == 0
    assert SECRET not in srv.stderr()


def source_ids(dk: Path, start: str, end_excl: str, channel: str | None) -> set[int]:
    sql = "SELECT id FROM bets WHERE placed_at >= ? AND placed_at < ?" + (
        " AND channel = ?" if channel else ""
    )
    with sqlite3.connect(f"file:{dk}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute(sql, [start, end_excl, *([channel] if channel else [])])}


def dest_ids(pg: str, start: str, end_excl: str) -> list[int]:
    with psycopg.connect(pg) as conn:
        sql = "SELECT id FROM bets WHERE placed_at >= %s AND placed_at < %s"
        return [r[0] for r in conn.execute(sql, [start, end_excl])]


def follow(api: Any, url: str) -> dict[str, Any]:
    for _ in range(1800):
        status = no_secret(api.get(url))
        assert status.status_code == 200, status.text
        if status.json()["data"]["status"] in ("completed", "failed", "cancelled"):
            return dict(status.json())
        time.sleep(0.1)
    raise AssertionError(f"{url} never ended")


def test_sync_today_answers_in_the_seeds_shape(bets_server: Server, dk: Path) -> None:
    with bets_server.client() as api:
        got = no_secret(api.post("/api/sync-bets"))
    assert got.status_code == 200, got.text
    body = got.json()
    same_shape(SEED_SYNC, body)
    today = dt.datetime.now(dt.UTC).date()
    assert body["data"]["date"] == today.isoformat() and body["data"]["channel"] == "VN"
    assert body["data"]["total_records"] == len(
        source_ids(dk, today.isoformat(), (today + dt.timedelta(days=1)).isoformat(), "VN")
    )


def test_date_range_syncs_the_seeds_request(bets_server: Server, dk: Path, bets_pg: str) -> None:
    with bets_server.client() as api:
        got = no_secret(api.post("/api/sync-bets/date-range", json=SEED_RANGE_REQUEST))
    assert got.status_code == 200, got.text
    body = got.json()
    same_shape({k: v for k, v in SEED_SYNC.items() if k != "data"}, body)
    same_shape({k: v for k, v in SEED_SYNC["data"].items() if k != "date"}, body["data"])  # type: ignore[union-attr]
    want = source_ids(dk, "2025-11-01", "2025-11-21", "VN")
    assert 0 < len(want) <= THRESHOLD
    assert (body["data"]["start_date"], body["data"]["end_date"]) == ("2025-11-01", "2025-11-20")
    assert body["data"]["total_records"] == len(want)
    landed = dest_ids(bets_pg, "2025-11-01", "2025-11-21")
    assert sorted(landed) == sorted(want)


def test_background_answers_and_status_follow_the_seed(bets_server: Server, dk: Path, bets_pg: str) -> None:
    with bets_server.client() as api:
        got = no_secret(api.post("/api/sync-bets/background", json=SEED_BACKGROUND_REQUEST))
        assert got.status_code == 202, got.text
        body = got.json()
        same_shape(SEED_BACKGROUND, body)
        data = body["data"]
        assert SEED_JOB_ID.match(data["job_id"]), data
        assert data["status_check_url"] == f"/api/sync-bets/status/{data['job_id']}"
        want = source_ids(dk, "2025-10-01", "2025-11-21", "VN")
        assert data["estimated_records"] == len(want)

        status = follow(api, data["status_check_url"])
    same_shape(SEED_STATUS, status)
    s = status["data"]
    assert (s["job_id"], s["status"], s["error"]) == (data["job_id"], "completed", None)
    assert s["processed_records"] == s["estimated_records"] == len(want)
    assert s["progress_percentage"] == 100.0
    assert SEED_TIME.match(s["started_at"]) and SEED_TIME.match(s["updated_at"])
    assert set(want) <= set(dest_ids(bets_pg, "2025-10-01", "2025-11-21"))


def test_a_range_above_the_threshold_goes_to_the_background(
    bets_server: Server, dk: Path, bets_pg: str
) -> None:
    request = {"start_date": "2025-11-01", "end_date": "2026-01-31", "channel": "ALL", "chunk_size": 300}
    want = source_ids(dk, "2025-11-01", "2026-02-01", None)
    assert len(want) > THRESHOLD
    with bets_server.client() as api:
        got = no_secret(api.post("/api/sync-bets/date-range", json=request))
        assert got.status_code == 202, got.text
        same_shape(SEED_BACKGROUND, got.json())
        assert got.json()["data"]["estimated_records"] == len(want)
        status = follow(api, got.json()["data"]["status_check_url"])
    assert status["data"]["status"] == "completed" and status["data"]["processed_records"] == len(want)
    assert sorted(dest_ids(bets_pg, "2025-11-01", "2026-02-01")) == sorted(want)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start_date": "2025-11-20", "end_date": "2025-11-01"}, "end_date 2025-11-01 is before start_date"),
        ({"start_date": "2025-11-01", "channel": "KR"}, "channel 'KR' is not allowed"),
        ({"start_date": "2025-02-30"}, "body.start_date: Input should be a valid date"),
        ({"days_back": 3, "start_date": "2025-11-01"}, "use either days_back or start_date/end_date"),
        ({"end_date": "2025-11-01"}, "start_date: required for a date range"),
    ],
)
def test_bad_requests_are_422_in_the_seeds_error_shape(
    bets_server: Server, body: dict[str, Any], message: str
) -> None:
    with bets_server.client() as api:
        got = api.post("/api/sync-bets/date-range", json=body)
    assert got.status_code == 422, got.text
    assert got.json()["success"] is False and message in got.json()["message"], got.json()


def test_status_of_an_unknown_job_is_404(bets_server: Server) -> None:
    with bets_server.client() as api:
        got = api.get("/api/sync-bets/status/sync_bets_0000000000000")
    assert got.status_code == 404 and got.json()["success"] is False
