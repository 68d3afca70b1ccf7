"""Into a table the user made, each value goes to the column of its name: another column order,
and columns the source does not have (they keep their default), in append and upsert alike."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bulksync import Mode, SyncSpec, TableSpec, sync
from bulksync.connectors.registry import open_connector
from helpers import table_rows

pytestmark = pytest.mark.integration

ROWS = [(i, f"a{i}", f"b{i}", i * 10) for i in range(1, 301)]
DDL = {  # the user's table: columns in another order, and one more with a default
    "postgresql": "CREATE TABLE o (n bigint, extra text DEFAULT 'kept', c text, id bigint PRIMARY KEY, "
    "b text)",
    "mariadb": "CREATE TABLE o (n BIGINT, extra VARCHAR(10) DEFAULT 'kept', c TEXT, id BIGINT PRIMARY KEY, "
    "b TEXT)",
    "sqlite": "CREATE TABLE o (n INTEGER, extra TEXT DEFAULT 'kept', c TEXT, id INTEGER PRIMARY KEY, b TEXT)",
}


@pytest.fixture(params=sorted(DDL))
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    kind = request.param
    url = (
        str(tmp_path / "dest.db")
        if kind == "sqlite"
        else request.getfixturevalue("pg_db" if kind == "postgresql" else "mariadb_db")
    )
    conn: Any = open_connector(url, create=True)
    try:
        conn._execute(DDL[kind])
    finally:
        conn.close()
    return kind, url


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_values_land_in_the_columns_of_their_names(tmp_path: Path, dest: tuple[str, str], mode: Mode) -> None:
    _, url = dest
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE o (id INTEGER PRIMARY KEY, b TEXT, c TEXT, n INTEGER)")
        conn.executemany("INSERT INTO o VALUES (?, ?, ?, ?)", ROWS)

    result = sync(
        SyncSpec(source=str(source), destination=url, tables=[TableSpec(name="o")], mode=mode, batch_rows=70)
    )

    assert (result.processed_rows, result.failed_rows) == (len(ROWS), 0)
    got = sorted((r[3], r[4], r[2], r[0], r[1]) for r in table_rows(url, "o"))  # (id, b, c, n, extra)
    assert got == [(i, b, c, n, "kept") for i, b, c, n in ROWS]
