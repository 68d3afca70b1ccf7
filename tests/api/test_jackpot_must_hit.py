"""Must-hit-by on a real ``bulksync serve``: the contribution that takes a pool to its must-hit-by
amount wins it in the same commit, once, however often the batch is sent; the audit agrees."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import jackpotkit as kit
from serving import drop_pg, fresh_pg

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
URL = "/api/jackpot/contributions"
# hot: 10 % of each wager, seed 1.00, must hit by 5.00; steady: 1 %, no rule
POOLS = json.dumps([
    {"name": "hot", "rate_percent": "10", "seed": "1.00", "must_hit_by": "5.00"},
    {"name": "steady", "rate_percent": "1", "seed": "100.00"},
])  # fmt: skip


@pytest.fixture
def ledger(pg_admin: psycopg.Connection) -> Iterator[str]:
    name = f"bs_jackpot_mhb_{uuid.uuid4().hex[:10]}"
    yield fresh_pg(pg_admin, name)
    drop_pg(pg_admin, name)


def test_the_contribution_reaching_must_hit_by_wins_the_pool_once_and_the_rest_goes_on(
    tmp_path: Path, ledger: str
) -> None:
    srv = kit.start(tmp_path, ledger, BULKSYNC_JACKPOT_POOLS=POOLS, BULKSYNC_JACKPOT_RATE_PER_MINUTE="0")
    try:
        with srv.client() as api:
            # each 10.00 wager gives hot 1.00: 1 + 4 = 5.00 at the 4th, again at the 8th, 3.00 after 10
            batch = [kit.contribution(i, "10.00", prefix="mhb") for i in range(10)]
            first = api.post(URL, json=batch)
            again = api.post(URL, json=batch)
            pools = {p["name"]: p for p in api.get("/api/jackpot/pools").json()}
    finally:
        assert srv.stop() == 0
    assert first.status_code == 200 and first.json()["applied"] == 10, first.text
    assert again.json()["duplicates"] == 10
    with psycopg.connect(ledger) as conn:
        order = [r[0] for r in conn.execute("SELECT contribution_id FROM jackpot.contributions ORDER BY seq")]
        wins = conn.execute(
            "SELECT win_id, pool, user_id, before_minor, paid_minor, after_minor, kind FROM jackpot.wins"
            " ORDER BY id"
        ).fetchall()
    assert [w[1:] for w in wins] == [
        ("hot", order[3], 500, 500, 100, "must_hit_by"),
        ("hot", order[7], 500, 500, 100, "must_hit_by"),
    ]
    assert kit.pools(ledger) == {"hot": 300, "steady": 10_000 + 10 * 10}
    assert (pools["hot"]["amount_minor"], pools["hot"]["must_hit_by_minor"]) == (300, 500)
    done = kit.audit(srv.env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pool hot hit its must-hit-by amount" in kit.clean_log(srv)
