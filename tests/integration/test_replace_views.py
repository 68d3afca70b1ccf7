"""A replace over a table that views read: the views keep working where they name the table,
and where they hold on to the table itself (PostgreSQL) the replace is refused before any row."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulksync import Mode, SyncSpec, TableSpec, sync
from bulksync.connectors.registry import open_connector
from bulksync.errors import SchemaMismatchError
from helpers import expected_rows, make_bets, table_rows, write_bets

pytestmark = pytest.mark.integration

ROWS = 300


def _execute(url: str, *statements: str) -> None:
    conn = open_connector(url, create=True)
    try:
        with conn.transaction():
            for sql in statements:
                conn._execute(sql)
    finally:
        conn.close()


def _replace(src: str, dst: str) -> None:
    sync(SyncSpec(source=src, destination=dst, tables=(TableSpec(name="bets"),), mode=Mode.REPLACE))


@pytest.mark.parametrize("kind", ["sqlite", "mariadb"])
def test_a_view_over_the_replaced_table_reads_the_new_rows(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src = str(tmp_path / "src.db")
    dst = f"sqlite:///{tmp_path}/dst.db" if kind == "sqlite" else request.getfixturevalue("mariadb_db")
    make_bets(src, ROWS)
    _replace(src, dst)
    _execute(dst, "CREATE VIEW bets_view AS SELECT * FROM bets")
    write_bets(src, range(ROWS + 1, ROWS + 11))

    _replace(src, dst)  # before: SQLite failed at the swap, "error in view bets_view: no such table"

    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 11))
    assert table_rows(dst, "bets_view") == expected_rows(range(1, ROWS + 11))


@pytest.mark.parametrize("view", ["VIEW", "MATERIALIZED VIEW"])
def test_postgres_views_over_the_table_refuse_a_replace_before_any_row(
    view: str, tmp_path: Path, pg_db: str
) -> None:
    src = str(tmp_path / "src.db")
    make_bets(src, ROWS)
    _replace(src, pg_db)
    _execute(
        pg_db, f"CREATE {view} bets_view AS SELECT id FROM bets", 'CREATE VIEW "Odd" AS SELECT 1 FROM bets'
    )
    write_bets(src, range(ROWS + 1, ROWS + 11))

    with pytest.raises(SchemaMismatchError) as refused:
        _replace(src, pg_db)

    assert refused.value.message == (
        "destination table 'bets' is read by view(s) \"Odd\", bets_view: --mode replace would drop "
        "them with it; drop them first (and create them again after), or copy into it with --mode upsert"
    )
    assert table_rows(pg_db, "bets") == expected_rows(range(1, ROWS + 1))
    conn = open_connector(pg_db)
    try:
        assert conn.find("bets__bulksync_new") is None  # nothing loaded to be left behind
    finally:
        conn.close()
    _execute(pg_db, f"DROP {view} bets_view", 'DROP VIEW "Odd"')
    _replace(src, pg_db)
    assert table_rows(pg_db, "bets") == expected_rows(range(1, ROWS + 11))


def test_a_replace_says_which_columns_of_the_old_table_it_dropped(tmp_path: Path, pg_db: str) -> None:
    src = str(tmp_path / "src.db")
    make_bets(src, ROWS)
    _replace(src, pg_db)
    _execute(pg_db, "ALTER TABLE bets ADD COLUMN note TEXT DEFAULT 'kept by hand'")

    again = sync(SyncSpec(source=src, destination=pg_db, tables=(TableSpec(name="bets"),), mode=Mode.REPLACE))

    assert again.tables[0].warnings == [
        "'bets' had column(s) note that the source does not: --mode replace makes the table anew "
        "without them and their values (--mode upsert keeps them)"
    ]
    assert table_rows(pg_db, "bets") == expected_rows(range(1, ROWS + 1))
    assert (
        sync(SyncSpec(source=src, destination=pg_db, tables=(TableSpec(name="bets"),), mode=Mode.REPLACE))
        .tables[0]
        .warnings
        == []
    )
