"""The dataset generator against a real PostgreSQL (``pg_db``: one fresh database per test)."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bulksync.datagen import TABLES, generate, iter_batches, make_plan

pytestmark = pytest.mark.integration

ROWS = {"players": 1_000, "matches": 2_000, "bets": 12_000, "odds": 3_000, "statcast": 2_000}


def test_generate_loads_every_table_with_its_indexes(pg_db: str) -> None:
    seen: list[tuple[str, int, int]] = []
    rows = generate(pg_db, rows_override=ROWS, batch_rows=5_000, on_progress=lambda *a: seen.append(a))
    assert rows == ROWS
    with psycopg.connect(pg_db) as db:
        for name, count in ROWS.items():
            assert db.execute(f"SELECT COUNT(*) FROM {name}").fetchone() == (count,)
        indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes")}
        stake = db.execute("SELECT SUM(stake) FROM bets").fetchone()
        mismatched = db.execute(
            "SELECT COUNT(*) FROM bets WHERE (settled_at IS NULL) <> (status = 'pending') "
            "OR updated_at < placed_at OR updated_at < settled_at"
        ).fetchone()
        backwards = db.execute(
            "SELECT COUNT(*) FROM (SELECT placed_at < lag(placed_at) OVER (ORDER BY id) AS back "
            "FROM bets) AS steps WHERE back"
        ).fetchone()
        orphans = db.execute(
            "SELECT COUNT(*) FROM bets b LEFT JOIN players p ON p.id = b.player_id "
            "LEFT JOIN matches m ON m.id = b.match_id WHERE p.id IS NULL OR m.id IS NULL"
        ).fetchone()
    assert {ix.name for t in TABLES.values() for ix in t.indexes} <= indexes
    plan = make_plan("small", rows_override=ROWS)
    bets = pa.Table.from_batches(list(iter_batches(plan, "bets", batch_rows=5_000)))
    assert stake == (pc.sum(bets["stake"]).as_py(),)  # decimals arrive exactly
    assert mismatched == (0,)
    assert backwards == (0,)  # bets are numbered in the order they were placed
    assert orphans == (0,)
    assert seen[-1] == ("statcast", 2_000, 2_000)


def test_generate_a_single_table_into_postgres(pg_db: str) -> None:
    assert generate(pg_db, tables=["odds"], rows_override={"odds": 7_500}) == {"odds": 7_500}
    with psycopg.connect(pg_db) as db:
        tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == {"odds"}
        assert db.execute("SELECT COUNT(DISTINCT id), MAX(id) FROM odds").fetchone() == (7_500, 7_500)
