"""``bulksync bets sync`` as seed 000's users run it: MariaDB ``dk`` → PostgreSQL ``bets``.

Idempotent re-runs (one copy of each bet), changes at the source carried over, the date filter
served by the source's date index, clear refusals that change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from typing import Any

import psycopg
import pymysql
import pytest

from bulksync.connectors.base import ChunkQuery
from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.connectors.registry import open_connector
from bulksync.datagen import generate
from bulksync.spec import Filter

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROWS = 30_000
START, END = "2025-11-10", "2025-12-09"  # 30 days of the generator's year from 2025-11-01


@pytest.fixture(scope="module")
def dk(mariadb_admin: Any) -> Iterator[str]:
    """A MariaDB source holding generated bets (with the generator's date and channel indexes)."""
    from dbkit import fresh_mariadb

    with fresh_mariadb(mariadb_admin) as url:
        generate(url, tables=["bets"], rows_override={"bets": ROWS}, seed=7)
        yield url


def _mysql(url: str) -> pymysql.connections.Connection[Any]:
    u = parse_mysql_url(url)
    return pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password, database=u.database,
                           autocommit=True)  # fmt: skip


def bets_sync(dk: str, dest: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BULKSYNC_", "BET_SYNC_"))}
    environ.update(BULKSYNC_CONNECTIONS__DK=dk, BULKSYNC_CONNECTIONS__DEFAULT=dest, COLUMNS="100", **env)
    return subprocess.run(
        [sys.executable, "-m", "bulksync", "bets", "sync", *args],
        capture_output=True, text=True, timeout=300, check=False, env=environ,
    )  # fmt: skip


def source_rows(dk: str, channel: str | None) -> dict[int, tuple[Any, ...]]:
    where = "placed_at >= %s AND placed_at < %s" + (" AND channel = %s" if channel else "")
    params: list[Any] = [START, "2025-12-10", *([channel] if channel else [])]
    with _mysql(dk) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, status, stake, updated_at, channel FROM bets WHERE {where}", params)
        return {r[0]: tuple(r[1:]) for r in cur.fetchall()}


def dest_rows(pg: str) -> dict[int, tuple[Any, ...]]:
    with psycopg.connect(pg) as conn:
        rows = conn.execute("SELECT id, status, stake, updated_at, channel FROM bets").fetchall()
    assert len(rows) == len({r[0] for r in rows}), "a bet landed twice"
    return {r[0]: tuple(r[1:]) for r in rows}


def test_a_range_twice_then_changes_at_the_source(dk: str, pg_db: str) -> None:
    first = bets_sync(dk, pg_db, "--start-date", START, "--end-date", END, "--channel", "VN", "--json")
    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    expected = source_rows(dk, "VN")
    assert 0 < len(expected) < ROWS
    assert dest_rows(pg_db) == expected
    data = body["data"]
    assert (data["start_date"], data["end_date"], data["channel"]) == (START, END, "VN")
    assert data["total_records"] == len(expected)
    assert data["performance"]["chunk_size"] == 1000 and data["performance"]["batch_size"] == 500

    again = bets_sync(dk, pg_db, "--start-date", START, "--end-date", END, "--channel", "VN", "--json")
    assert again.returncode == 0, again.stderr
    assert dest_rows(pg_db) == expected  # exactly one copy of each bet

    changed = sorted(expected)[:: max(1, len(expected) // 50)]
    with _mysql(dk) as conn, conn.cursor() as cur:
        cur.executemany(
            "UPDATE bets SET status = 'void', stake = stake + 1, updated_at = updated_at + INTERVAL 1 SECOND "
            "WHERE id = %s",
            [(i,) for i in changed],
        )
        cur.execute(
            "INSERT INTO bets SELECT id + 1000000, player_id, match_id, channel, bet_type, selection, stake, "
            "odds, potential_payout, status, placed_at, settled_at, updated_at, is_live FROM bets "
            "WHERE channel = 'VN' AND placed_at >= %s AND placed_at < %s LIMIT 25",
            [START, "2025-12-10"],
        )
    third = bets_sync(dk, pg_db, "--start-date", START, "--end-date", END, "--channel", "VN",
                      "--chunk-size", "5000", "--batch-size", "700", "--quiet")  # fmt: skip
    assert third.returncode == 0, third.stderr
    now = source_rows(dk, "VN")
    assert len(now) == len(expected) + 25
    assert dest_rows(pg_db) == now
    assert all(now[i][0] == "void" for i in changed)


def test_summary_names_the_seeds_fields(dk: str, pg_db: str) -> None:
    done = bets_sync(dk, pg_db, "--days-back", "3", "--channel", "ALL", "--chunk-size", "20000")
    assert done.returncode == 0, done.stderr
    for label in ("date range", "total records", "execution time", "records per second", "chunk size",
                  "batch size", "peak memory"):  # fmt: skip
        assert label in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start-date", "2025-11-20", "--end-date", "2025-11-01"], "is before --start-date"),
        (["--start-date", "2025-02-30"], "is not a date"),
        (["--channel", "KR"], "channel 'KR' is not allowed"),
        (["--days-back", "3", "--start-date", "2025-11-01"], "either --days-back or --start-date"),
    ],
)
def test_bad_requests_exit_2_and_write_nothing(dk: str, pg_db: str, args: list[str], message: str) -> None:
    done = bets_sync(dk, pg_db, *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT to_regclass('bets')").fetchone() == (None,)


def test_an_unknown_connection_names_the_setting(dk: str, pg_db: str) -> None:
    done = bets_sync(dk, pg_db, BET_SYNC_SOURCE_CONNECTION="warehouse")
    assert done.returncode == 2
    assert "unknown source connection (BET_SYNC_SOURCE_CONNECTION) 'warehouse'" in done.stderr
    assert "BULKSYNC_CONNECTIONS__WAREHOUSE" in done.stderr


def test_a_wrong_password_is_one_line_without_it(dk: str, pg_db: str) -> None:
    bad = dk.replace("root@", "root:Sup3rSecret@")
    done = bets_sync(bad, pg_db)
    assert done.returncode == 1
    assert "Sup3rSecret" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def _explain(conn: pymysql.connections.Connection[Any], sql: str) -> list[dict[str, Any]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("EXPLAIN " + sql)
        return list(cur.fetchall())


def test_the_date_filter_uses_the_sources_date_index(dk: str) -> None:
    """Every chunk of a day range is an ordered range scan of the date index: no table scan, no sort.

    EXPLAIN runs on the exact statements the connector sends (its select list included).
    """
    filters = (
        Filter(column="placed_at", op="ge", value=START),
        Filter(column="placed_at", op="lt", value="2025-12-10"),
        Filter(column="channel", op="eq", value="VN"),
    )
    order = ("placed_at", "id")
    source = open_connector(dk)
    try:
        schema = source.describe("bets")
        first = source.read_chunk(ChunkQuery(schema, order, 1000, None, None, filters))
        mid = (first.column("placed_at")[500].as_py(), first.column("id")[500].as_py())
        sqls = [
            source.chunk_statement(ChunkQuery(schema, order, 1000, after, None, filters))  # type: ignore[attr-defined]
            for after in (None, mid)
        ]
        count_where, count_params = source.where_sql(schema, filters)  # type: ignore[attr-defined]
    finally:
        source.close()
    with _mysql(dk) as conn:
        with conn.cursor() as cur:
            sqls.append(
                cur.mogrify(f"SELECT COUNT(*) FROM bets{count_where}".replace('"', "`"), count_params)
            )
        plans = [_explain(conn, sql)[0] for sql in sqls]
    for plan in plans:
        assert plan["key"] in ("ix_bets_channel_placed_at", "ix_bets_placed_at"), plan
        assert plan["type"] == "range", plan
        assert "filesort" not in (plan["Extra"] or ""), plan


def _plan_order(dk: str, tmp_path: Any, start: str, end_exclusive: str) -> tuple[str, ...]:
    """The order the engine's planner picks for a bet sync of [start, end)."""
    from bulksync.engine.plan import check_table, plan_table
    from bulksync.spec import Mode, SyncSpec, TableSpec

    filters = (Filter(column="placed_at", op="ge", value=start),
               Filter(column="placed_at", op="lt", value=end_exclusive))  # fmt: skip
    dest_url = str(tmp_path / f"plan-{start}.db")
    spec = SyncSpec(source=dk, destination=dest_url, mode=Mode.UPSERT,
                    tables=(TableSpec(name="bets", order_by="placed_at", filters=filters),))  # fmt: skip
    source, dest = open_connector(dk), open_connector(dest_url, create=True)
    try:
        return plan_table(spec, check_table(spec, spec.tables[0], source), source, dest).order
    finally:
        source.close()
        dest.close()


@pytest.fixture(scope="module")
def dk_big(mariadb_admin: Any) -> Iterator[str]:
    """A larger MariaDB source: enough commits for kills to land mid-sync."""
    from dbkit import fresh_mariadb

    with fresh_mariadb(mariadb_admin) as url:
        generate(url, tables=["bets"], rows_override={"bets": 150_000}, seed=11)
        yield url


def test_a_dense_range_reads_the_key_range_and_a_sparse_one_the_date_index(
    dk: str, dk_big: str, tmp_path: Any
) -> None:
    """Every day of the generator's year fills the id range: a primary-key range scan (no sort);
    30 days of it are a twelfth of the ids: the date index. Both plans checked with EXPLAIN."""
    assert _plan_order(dk_big, tmp_path, "2025-11-01", "2026-11-01") == ("id",)
    assert _plan_order(dk, tmp_path, START, "2025-12-10") == ("placed_at", "id")
    filters = (Filter(column="placed_at", op="ge", value="2025-11-01"),
               Filter(column="placed_at", op="lt", value="2026-11-01"))  # fmt: skip
    source = open_connector(dk_big)
    try:
        schema = source.describe("bets")
        sql = source.chunk_statement(ChunkQuery(schema, ("id",), 1000, (100,), (20_000,), filters))  # type: ignore[attr-defined]
    finally:
        source.close()
    with _mysql(dk_big) as conn:
        (plan,) = _explain(conn, sql)
    assert (plan["key"], plan["type"]) == ("PRIMARY", "range"), plan
    assert "filesort" not in (plan["Extra"] or ""), plan


def _all_rows(dk: str) -> dict[int, tuple[Any, ...]]:
    with _mysql(dk) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, status, stake, updated_at, channel FROM bets")
        return {r[0]: tuple(r[1:]) for r in cur.fetchall()}


def test_kill9_mid_sync_and_mid_resync_then_every_bet_is_there_once(dk_big: str, pg_db: str) -> None:
    """A first sync (fresh table: plain inserts) and a re-sync of changed bets (real upserts),
    each SIGKILLed twice mid-way and run again: the destination equals the source."""
    import crashkit

    env = [f"BULKSYNC_CONNECTIONS__DK={dk_big}", f"BULKSYNC_CONNECTIONS__DEFAULT={pg_db}"]
    cmd = ["env", *env, sys.executable, "-m", "bulksync", "bets", "sync", "--start-date", "2025-11-01",
           "--end-date", "2026-10-31", "--channel", "ALL", "--quiet"]  # fmt: skip
    probe = crashkit.PgProbe(pg_db)

    def landed(marker: int) -> int:  # bets committed by the run under test
        if probe.row("SELECT to_regclass('bets')") == (None,):
            return 0
        row = probe.row("SELECT count(*) FROM bets WHERE stake >= %s", [marker])
        return int(row[0]) if row else 0

    try:
        for marker in (0, 1_000_000):
            for fraction in (0.1, 0.45):
                crashkit.run_and_kill(cmd, count=partial(landed, marker), settle=probe.settle,
                                      threshold=int(150_000 * fraction), delay_s=0.02)  # fmt: skip
                assert landed(marker) < 150_000
            crashkit.run_to_end(cmd)
            assert dest_rows(pg_db) == _all_rows(dk_big)
            with _mysql(dk_big) as conn, conn.cursor() as cur:  # every bet changes before the re-sync
                cur.execute("UPDATE bets SET stake = stake + 1000000, status = 'void'")
        assert probe.count(probe.reject_table) == 0
    finally:
        probe.close()
