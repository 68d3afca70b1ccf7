"""The jackpot over HTTP, on a real ``bulksync serve`` and PostgreSQL: contributions counted once
however often they are sent, per-item batch answers, wins paid once, bad input refused whole with
one line, reads, auth, rate limits, a database that is away, and the audit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import jackpotkit as kit
from serving import OPS, PG_ADMIN, VIEWER, Server, drop_pg, fresh_pg

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
URL = "/api/jackpot/contributions"


@pytest.fixture(scope="module")
def ledger(pg_admin: psycopg.Connection) -> Iterator[str]:
    name = f"bs_jackpot_{uuid.uuid4().hex[:12]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


@pytest.fixture(scope="module")
def jp(tmp_path_factory: pytest.TempPathFactory, ledger: str) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("jackpot")
    srv = kit.start(
        workdir, ledger, BULKSYNC_JACKPOT_GAMES="starburst,gonzo", BULKSYNC_JACKPOT_RATE_PER_MINUTE="0"
    )
    yield srv
    assert srv.stop() == 0
    log = kit.clean_log(srv)
    assert OPS not in log and VIEWER not in log
    done = kit.audit(srv.env, workdir)
    assert done.returncode == 0, done.stdout + done.stderr  # drift 0 after every test here


def moved(before: dict[str, int], wagers_minor: list[int]) -> dict[str, int]:
    return {pool: before[pool] + add for pool, add in kit.shares(wagers_minor).items()}


def test_a_contribution_moves_every_pool_once_however_often_it_is_sent(jp: Server, ledger: str) -> None:
    before = kit.pools(ledger)
    body = kit.contribution(1, "123.45", prefix="once")
    with jp.client() as api:
        first = api.post(URL, json=body)
        again = api.post(URL, json=body)
    assert first.status_code == 200, first.text
    assert first.json()["results"] == [{"contribution_id": "once-1", "status": "applied"}]
    assert (again.status_code, again.json()["results"][0]["status"]) == (200, "duplicate")
    assert again.json()["processed"] == 1 and again.json()["applied"] == 0
    assert kit.pools(ledger) == moved(before, [12345])


def test_the_same_id_with_another_body_is_a_409_naming_it_and_changes_nothing(
    jp: Server, ledger: str
) -> None:
    with jp.client() as api:
        assert api.post(URL, json=kit.contribution(1, "10.00", prefix="clash")).status_code == 200
        before = kit.pools(ledger)
        answer = api.post(URL, json=kit.contribution(1, "10.01", prefix="clash"))
    assert answer.status_code == 409
    assert answer.json()["detail"] == (
        "contribution_id 'clash-1' was already applied with a different body; nothing changed"
    )
    assert kit.pools(ledger) == before


def test_a_batch_is_answered_per_item(jp: Server, ledger: str) -> None:
    with jp.client() as api:
        api.post(
            URL, json=[kit.contribution(0, "5.00", prefix="mix"), kit.contribution(1, "6.00", prefix="mix")]
        )
        before = kit.pools(ledger)
        batch = [kit.contribution(i, "20.00", prefix="mix") for i in range(2, 7)]
        batch += [kit.contribution(0, "5.00", prefix="mix"), kit.contribution(1, "7.00", prefix="mix")]
        answer = api.post(URL, json=batch)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["status"] for r in body["results"]] == ["applied"] * 5 + ["duplicate", "rejected"]
    assert (body["total"], body["processed"], body["applied"], body["duplicates"], body["failed"]) == (
        7, 6, 5, 1, 1,
    )  # fmt: skip
    assert body["errors"] == [{"contribution_id": "mix-1", "error": body["results"][6]["error"]}]
    assert kit.pools(ledger) == moved(before, [2000] * 5)


def _item(**changes: Any) -> dict[str, Any]:
    return {**kit.contribution(1, prefix="bad"), **changes}


BAD = {
    "malformed JSON": (b'{"contribution_id": ', 422, "body: malformed JSON"),
    "negative amount": (_item(wager_amount=-5), 422, "body.wager_amount: Input should be greater than 0"),
    "zero amount": (_item(wager_amount="0.00"), 422, "body.wager_amount: Input should be greater than 0"),
    "over-precise amount": (_item(wager_amount="1.005"), 422, "body.wager_amount: Decimal input should have"),
    "absurd amount": (_item(wager_amount="1e30"), 422, "body.wager_amount: Input should be less than"),
    "above the largest wager": (_item(wager_amount="100000.01"), 422, "BULKSYNC_JACKPOT_MAX_WAGER"),
    "not a number": (_item(wager_amount="NaN"), 422, "body.wager_amount"),
    "a float, not text": (_item(wager_amount=1.0 / 3), 422, "body.wager_amount: Decimal input should have"),
    "no zone in the timestamp": (_item(timestamp="2026-12-03T12:00:00"), 422, "body.timestamp"),
    "missing field": (
        {k: v for k, v in _item().items() if k != "game_id"}, 422, "body.game_id: Field required",
    ),
    "unknown field": (_item(pool="mini"), 422, "body.pool: Extra inputs are not permitted"),
    "bad id": (_item(contribution_id="a b;drop"), 422, "body.contribution_id: String should match pattern"),
    "unknown game, in a batch": (
        [kit.contribution(1, prefix="bad"), _item(contribution_id="bad-2", game_id="nope")], 422,
        "body.1.game_id: unknown game 'nope'",
    ),
    "an id twice in one batch": (
        [kit.contribution(1, prefix="bad"), kit.contribution(1, prefix="bad")], 422,
        "body.1.contribution_id: 'bad-1' appears twice in this batch (first at item 0)",
    ),
    "a batch over 1,000": (
        [kit.contribution(i, prefix="bad") for i in range(1001)], 422,
        "body: List should have at most 1000 items",
    ),
    "an empty batch": ([], 422, "body: List should have at least 1 item"),
    "a body over the cap": (b"[" + b" " * 1_100_000 + b"]", 413, "request body larger than 1,048,576 bytes"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_4xx_line_naming_the_field_and_changes_nothing(
    jp: Server, ledger: str, case: str
) -> None:
    body, status, said = BAD[case]
    before, count = kit.pools(ledger), len(kit.ledger_ids(ledger))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with jp.client() as api:
        answer = api.post(URL, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert said in detail and "\n" not in detail
    assert kit.pools(ledger) == before and len(kit.ledger_ids(ledger)) == count
    assert not any(i.startswith("bad-") for i in kit.ledger_ids(ledger))


def test_a_win_pays_the_pool_once_and_resets_it_to_its_seed(jp: Server, ledger: str) -> None:
    with jp.client() as api:
        api.post(URL, json=[kit.contribution(i, "100.00", prefix="pre-win") for i in range(3)])
        before = kit.pools(ledger)
        win = {"win_id": "w-1", "pool": "mini", "user_id": "player-7"}
        paid = api.post("/api/jackpot/wins", json=win)
        again = api.post("/api/jackpot/wins", json=win)
        clash = api.post("/api/jackpot/wins", json={**win, "user_id": "player-8"})
        assert kit.pools(ledger)["mini"] == kit.SEEDS["mini"]
        api.post(URL, json=kit.contribution(9, "100.00", prefix="post-win"))  # after the win: the reset pool
        partial = api.post(
            "/api/jackpot/wins", json={"win_id": "w-2", "pool": "major", "user_id": "p9", "amount": "5.00"}
        )
        over = api.post(
            "/api/jackpot/wins",
            json={"win_id": "w-3", "pool": "minor", "user_id": "p9", "amount": "1000000.00"},
        )
        unknown = api.post("/api/jackpot/wins", json={"win_id": "w-4", "pool": "mega", "user_id": "p9"})
    assert paid.status_code == 200, paid.text
    assert paid.json() | {"won_at": None} == {
        "win_id": "w-1", "status": "paid", "pool": "mini", "user_id": "player-7",
        "paid_minor": before["mini"], "paid": f"{before['mini'] // 100}.{before['mini'] % 100:02d}",
        "pool_before_minor": before["mini"], "pool_after_minor": kit.SEEDS["mini"], "won_at": None,
    }  # fmt: skip
    assert again.json() == paid.json() | {"status": "duplicate"}
    assert clash.status_code == 409 and "win_id 'w-1' was already paid" in clash.json()["detail"]
    assert partial.json()["paid_minor"] == 500
    assert over.status_code == 422 and over.json()["detail"].startswith("body.amount: more than pool 'minor'")
    assert unknown.status_code == 422 and "unknown pool 'mega'" in unknown.json()["detail"]
    assert kit.pools(ledger)["mini"] == kit.SEEDS["mini"] + kit.shares([10_000])["mini"]
    assert kit.wins(ledger) == {"w-1": ("mini", before["mini"]), "w-2": ("major", 500)}


def test_pools_stats_and_metrics_are_readable_with_a_read_token(jp: Server, ledger: str) -> None:
    with jp.client() as api:  # one applied contribution of its own: the counter has its label
        assert api.post(URL, json=kit.contribution(1, prefix="metered")).status_code == 200
    with jp.client(VIEWER) as viewer:
        every = viewer.get("/api/jackpot/pools")
        mini = viewer.get("/api/jackpot/pools/mini")
        missing = viewer.get("/api/jackpot/pools/nope")
        stats = viewer.get("/api/jackpot/stats")
        refused = viewer.post(URL, json=kit.contribution(1, prefix="viewer"))
    assert [p["name"] for p in every.json()] == ["grand", "major", "mini", "minor"]
    assert mini.json()["amount_minor"] == kit.pools(ledger)["mini"] and mini.json()["currency"] == "EUR"
    assert missing.status_code == 404 and "pools: grand, major, mini, minor" in missing.json()["detail"]
    body = stats.json()
    assert {"pools", "contributions_per_s", "p95_ms", "error_rate", "queue_size", "cache_hit_rate"} <= set(
        body
    )
    assert {p["name"]: p["amount_minor"] for p in body["pools"]} == kit.pools(ledger)
    assert set(body["pools"][0]) >= {"name", "amount_minor", "seed_minor", "cap_minor", "currency"}
    assert body["queue_size"] == 0 and 0 <= body["error_rate"] <= 1
    assert refused.status_code == 403 and "jackpot:write" in refused.json()["detail"]
    assert httpx.post(jp.url + URL, json=kit.contribution(1, prefix="anon")).status_code == 401
    metrics = httpx.get(jp.url + "/metrics").text
    for name in (
        'bulksync_jackpot_contributions_total{outcome="applied"}', "bulksync_jackpot_request_seconds_bucket",
        'bulksync_jackpot_pool_amount_minor{pool="mini"}', "bulksync_jackpot_cache_hits_total",
        "bulksync_jackpot_cache_misses_total", "bulksync_jackpot_queue_depth", "bulksync_jackpot_commit_rows",
    ):  # fmt: skip
        assert name in metrics


def test_an_authorization_header_sent_twice_is_read_as_every_route_reads_it(jp: Server) -> None:
    """The contributions fast path took the last of two Authorization headers, the other routes
    (Starlette) the first: a request could be refused on one path and let in on the other."""
    with httpx.Client(base_url=jp.url, timeout=30) as api:
        viewer_first = [("authorization", f"Bearer {VIEWER}"), ("authorization", f"Bearer {OPS}")]
        ops_first = [("authorization", f"Bearer {OPS}"), ("authorization", f"Bearer {VIEWER}")]
        refused = api.post(URL, json=kit.contribution(1, prefix="twice-a"), headers=viewer_first)
        taken = api.post(URL, json=kit.contribution(1, prefix="twice-b"), headers=ops_first)
        route = api.post("/api/v1/jobs", json={}, headers=viewer_first)
    assert refused.status_code == 403 and "jackpot:write" in refused.json()["detail"]
    assert taken.status_code == 200
    assert route.status_code == 403  # the viewer's token, read first by the routes too


def test_a_database_that_is_away_is_a_fast_503_and_bursts_over_the_limit_a_429(tmp_path: Path) -> None:
    gone = PG_ADMIN.rsplit("/", 1)[0] + f"/bs_never_made_{uuid.uuid4().hex[:8]}"  # no such database
    env = kit.jackpot_env(tmp_path, gone, BULKSYNC_JACKPOT_RATE_PER_MINUTE="60", BULKSYNC_JACKPOT_BURST="3")
    srv = Server(tmp_path, env).start()
    try:
        with srv.client() as api:
            answers = [api.post(URL, json=kit.contribution(i, prefix="away")) for i in range(8)]
        codes = [a.status_code for a in answers]
        assert codes[:3] == [503, 503, 503], [a.text for a in answers]
        assert 429 in codes[3:]
        first, limited = answers[0], answers[codes.index(429)]
        assert first.headers["Retry-After"] == "1" and "retry with the same ids" in first.json()["detail"]
        assert (
            int(limited.headers["Retry-After"]) >= 1
            and "rate limit (60/min, burst 3)" in limited.json()["detail"]
        )
        assert "bs_never_made" not in "".join(a.text for a in answers)
    finally:
        assert srv.stop() == 0


def test_the_audit_finds_drift_and_init_refuses_to_change_a_running_pools_rules(
    tmp_path: Path, pg_admin: Any
) -> None:
    name = f"bs_jackpot_{uuid.uuid4().hex[:10]}"
    url = fresh_pg(pg_admin, name)
    try:
        env = kit.jackpot_env(tmp_path, url)
        assert kit.init_ledger(env, tmp_path).returncode == 0
        assert "pool mini exists, unchanged" in kit.init_ledger(env, tmp_path).stdout
        clean = kit.audit(env, tmp_path)
        assert clean.returncode == 0 and json.loads(clean.stdout)["clean"] is True
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE jackpot.pools SET amount_minor = amount_minor + 1 WHERE name = 'major'")
        drift = kit.audit(env, tmp_path)
        assert drift.returncode == 1
        found = {p["name"]: p["drift_minor"] for p in json.loads(drift.stdout)["pools"]}
        assert found == {"grand": 0, "major": 1, "mini": 0, "minor": 0}
        pools_json = '[{"name": "mini", "rate_percent": "0.6", "seed": "10.00"}]'
        refused = kit.init_ledger({**env, "BULKSYNC_JACKPOT_POOLS": pools_json}, tmp_path)
        assert refused.returncode == 2
        assert "pool 'mini' exists with another rate_ppm (5000, configured 6000)" in refused.stderr
    finally:
        drop_pg(pg_admin, name)
