"""REALs next to text in a SQLite float/decimal column keep every digit on every read path.

The ADBC driver reads such a chunk as text with 7 significant digits; the SQLite connector reads
a clean chunk as it is and re-reads a chunk whose float or decimal column came back as text
(``connectors/sqlite_reals.py``). These tests put the first text value at each place a chunk
can meet it: the table's first row, deep inside a chunk, the last and first rows of two chunks,
the last row; and go through each reader of SQLite rows: keyset chunks, the keyless rowid
pages, SQLite → SQLite's fallback when the destination refuses a pulled chunk, and verify.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulksync import Mode, SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.connectors.base import ChunkQuery
from bulksync.connectors.sqlite import SqliteConnector

pytestmark = pytest.mark.integration

ROWS = 3000
CHUNK = 1000


def price(i: int) -> Decimal:
    return Decimal(f"{1_000_000 + i}.25")  # 10 digits: 7 would print 1000123.25 as 1000123


def ratio(i: int) -> float:
    return i + 0.123456789


def prices_db(path: Path, text_at: set[int], *, keyless: bool = False) -> str:
    """``prices`` with ids 1..ROWS; the rows in ``text_at`` hold '' and 'n/a' instead of numbers."""
    key = "" if keyless else " PRIMARY KEY"
    rows = [
        (i, "" if i in text_at else price(i), "n/a" if i in text_at else ratio(i)) for i in range(1, ROWS + 1)
    ]
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"CREATE TABLE prices (id INTEGER{key}, price DECIMAL(12,2), ratio REAL)")
        conn.executemany("INSERT INTO prices VALUES (?, ?, ?)", [(i, str(p), r) for i, p, r in rows])
        conn.commit()
    return str(path)


def expected(text_at: set[int]) -> list[tuple[Any, ...]]:
    return [(i, price(i), ratio(i)) for i in range(1, ROWS + 1) if i not in text_at]


@pytest.mark.parametrize("text_at", [1, 500, CHUNK, CHUNK + 1, ROWS], ids=lambda i: f"text-at-{i}")
def test_keyset_chunks_keep_every_digit_wherever_the_first_text_is(tmp_path: Path, text_at: int) -> None:
    conn = SqliteConnector(prices_db(tmp_path / "p.db", {text_at}))
    try:
        schema = conn.describe("prices")
        rows: list[tuple[Any, ...]] = []
        after = None
        while True:
            batch = conn.read_chunk(ChunkQuery(schema, ("id",), CHUNK, after))
            rows += zip(*(batch.column(c).to_pylist() for c in ("id", "price", "ratio")), strict=True)
            if batch.num_rows < CHUNK:
                break
            after = (rows[-1][0],)
    finally:
        conn.close()

    assert [r for r in rows if r[0] != text_at] == expected({text_at})
    assert [r for r in rows if r[0] == text_at] == [(text_at, None, None)]  # the bad values


@pytest.mark.parametrize("keyless", [False, True], ids=["keyset", "keyless"])
def test_a_copy_to_postgres_keeps_every_digit(tmp_path: Path, pg_db: str, keyless: bool) -> None:
    text_at = {1200, 2999}
    src = prices_db(tmp_path / "p.db", text_at, keyless=keyless)

    result = sync(
        SyncSpec(source=src, destination=pg_db, tables=["prices"], mode=Mode.REPLACE, batch_mb=0.02)
    )

    assert result.status == "succeeded" and result.tables[0].rows_rejected == len(text_at)
    with psycopg.connect(pg_db) as conn:
        rows = conn.execute("SELECT id, price, ratio FROM prices ORDER BY id").fetchall()
    assert rows == expected(text_at)


def test_sqlite_to_sqlite_fallback_of_a_refused_chunk_keeps_every_digit(tmp_path: Path) -> None:
    """The destination refuses a row: the pulled chunk is read through Arrow instead."""
    text_at = {1500}
    src = prices_db(tmp_path / "p.db", text_at)
    dst = str(tmp_path / "d.db")
    with closing(sqlite3.connect(dst)) as conn:
        conn.execute(
            "CREATE TABLE prices (id INTEGER PRIMARY KEY CHECK (id <> 1700), price DECIMAL(12,2), ratio REAL)"
        )
        conn.commit()

    result = sync(SyncSpec(source=src, destination=dst, tables=(TableSpec(name="prices"),)))

    assert result.failed_rows == 2  # 1500 ('' is no decimal) and 1700 (refused by the CHECK)
    with closing(sqlite3.connect(dst)) as conn:
        rows = conn.execute("SELECT id, CAST(price AS TEXT), ratio FROM prices ORDER BY id").fetchall()
    assert [(i, Decimal(p), r) for i, p, r in rows] == expected({1500, 1700})


def test_verify_sees_a_digit_the_7_digit_text_would_hide(tmp_path: Path, pg_db: str) -> None:
    src = prices_db(tmp_path / "p.db", set())
    sync(SyncSpec(source=src, destination=pg_db, tables=["prices"]))
    with closing(sqlite3.connect(src)) as conn:  # one text value: its chunk is read as text
        conn.execute("UPDATE prices SET ratio = 'n/a' WHERE id = 1233")
        conn.commit()
    with psycopg.connect(pg_db) as conn:  # 1234.123456789 → 1234.12 (as '1.234123e+03' reads)
        conn.execute("UPDATE prices SET ratio = 1234.123 WHERE id = 1234")

    spec = VerifySpec(source=src, destination=pg_db, tables=(TableSpec(name="prices"),), chunk_rows=CHUNK)
    (verdict,) = verify(spec).tables

    assert 1234 in [k[0] for k in verdict.findings["different"].examples]


def test_only_a_column_that_needs_it_is_cast_until_a_chunk_shows_text(tmp_path: Path) -> None:
    """Casting every REAL cost a fifth of a copy's CPU: a clean typed table is read as stored."""
    path = tmp_path / "m.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, price DECIMAL(12,2), name VARCHAR(9), v)")
        conn.executemany("INSERT INTO m VALUES (?, ?, ?, ?)", [(1, 1.5, "a", 2.5), (2, "n/a", "b", "x")])
        conn.commit()
    c = SqliteConnector(str(path))
    try:
        schema = c.describe("m")
        clean = ChunkQuery(schema, ("id",), 1)
        assert [name for name in ("price", "name", "v") if f'CAST("{name}"' in c.chunk_sql(clean)[0]] == ["v"]

        assert c.read_chunk(ChunkQuery(schema, ("id",), 5)).column(1).to_pylist() == [Decimal("1.50"), None]

        assert [name for name in ("price", "name", "v") if f'CAST("{name}"' in c.chunk_sql(clean)[0]] == [
            "price",
            "v",
        ]
    finally:
        c.close()


def test_an_integer_column_holding_a_real_and_text_neither_rounds_nor_loses_big_integers(
    tmp_path: Path, pg_db: str
) -> None:
    """A REAL among integers makes the driver read the chunk's column as doubles (2**53 + 1
    comes back as 2**53) or, with text there too, as 7-digit text (1234567.89 → 1234568): the
    chunk is re-read exactly, so the integers arrive as stored and the REALs are rejected rows."""
    path = tmp_path / "ints.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, big INTEGER)")
        conn.executemany(
            "INSERT INTO t VALUES (?, ?, ?)",
            [(1, 5, 2**53 + 1), (2, 1234567.89, 2**53 + 3), (3, "abc", 2.5), (4, 7, 1)],
        )
        conn.commit()
    sync(SyncSpec(source=str(path), destination=pg_db, tables=(TableSpec(name="t"),)))
    with psycopg.connect(pg_db) as conn:
        loaded = conn.execute("SELECT id, n, big FROM t ORDER BY id").fetchall()
        rejected = conn.execute("SELECT row_key FROM bulksync.rejects WHERE tbl = 't' ORDER BY 1").fetchall()
    assert loaded == [(1, 5, 2**53 + 1), (4, 7, 1)]
    assert [r[0] for r in rejected] == ["[2]", "[3]"]


AMOUNTS = {1: 19.99, 2: 12.345, 3: 0.1 + 0.2, 4: 0.00001, 5: 2.675, 6: -0.0, 7: 99999999.99}
KEPT = {1: Decimal("19.99"), 3: Decimal("0.30"), 6: Decimal("0.00"), 7: Decimal("99999999.99")}


@pytest.mark.parametrize("dest", ["pg_db", "mariadb_db"])
def test_a_real_with_a_digit_its_decimal_column_does_not_keep_is_rejected_not_rounded(
    tmp_path: Path, dest: str, request: pytest.FixtureRequest
) -> None:
    """SQLite stores 12.345 as a REAL in a DECIMAL(10,2) column; it landed as 12.35 (0.00001 as
    0.00) with exit 0, and verify, converting the same way, called the copy equal. Now such a
    row is rejected with its reason and verify finds it missing; a REAL that only carries a
    double's noise (0.1 + 0.2) is its decimal."""
    url = request.getfixturevalue(dest)
    src = tmp_path / "amounts.db"
    with closing(sqlite3.connect(src)) as conn:
        conn.execute("CREATE TABLE amounts (id INTEGER PRIMARY KEY, amount DECIMAL(10,2))")
        conn.executemany("INSERT INTO amounts VALUES (?, ?)", list(AMOUNTS.items()))
        conn.commit()
    result = sync(SyncSpec(source=str(src), destination=url, tables=["amounts"], mode=Mode.REPLACE))
    assert result.failed_rows == 3
    assert _rows(url, "SELECT id, amount FROM amounts ORDER BY id") == sorted(KEPT.items())
    reasons = dict(_rows(url, f"SELECT row_key, reason FROM {_rejects(dest)} ORDER BY row_key"))
    assert reasons["[2]"] == (
        "column 'amount': '12.345' is not a valid decimal "
        "(more decimals than the column's 2: it would be rounded)"
    )
    assert set(reasons) == {"[2]", "[4]", "[5]"}

    spec = VerifySpec(source=str(src), destination=url, tables=(TableSpec(name="amounts"),))
    (verdict,) = verify(spec).tables
    assert sorted(k[0] for k in verdict.findings["missing"].examples) == [2, 4, 5]


def _rejects(dest: str) -> str:
    return "bulksync.rejects" if dest == "pg_db" else "_bulksync_rejects"


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(query)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
    from helpers import mariadb_connect

    conn = mariadb_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()


def test_numbers_in_a_blob_column_arrive_as_sqlites_text_of_them(tmp_path: Path, pg_db: str) -> None:
    """A REAL first in a BLOB column made the driver read the batch's numbers as doubles and
    print them with %e: 1.5 became b'1.500000e+00' and 42 b'4.200000e+01', with exit 0."""
    src = tmp_path / "blobs.db"
    with closing(sqlite3.connect(src)) as conn:
        conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, v BLOB)")
        conn.executemany(
            "INSERT INTO blobs VALUES (?, ?)", [(1, 1.5), (2, 42), (3, b"\x00\xff"), (4, "txt"), (5, None)]
        )
        conn.commit()
    sync(SyncSpec(source=str(src), destination=pg_db, tables=["blobs"]))
    got = _rows(pg_db, "SELECT id, v FROM blobs ORDER BY id")
    assert [(i, None if v is None else bytes(v)) for i, v in got] == [
        (1, b"1.5"), (2, b"42"), (3, b"\x00\xff"), (4, b"txt"), (5, None)
    ]  # fmt: skip
    (verdict,) = verify(
        VerifySpec(source=str(src), destination=pg_db, tables=(TableSpec(name="blobs"),))
    ).tables
    assert verdict.equal


def test_a_real_with_a_fraction_into_an_existing_integer_column_rejects_its_row(
    tmp_path: Path, pg_db: str
) -> None:
    """2.5 into the user's own ``int`` column failed the whole table with exit 1, nothing copied."""
    src = tmp_path / "ints.db"
    with closing(sqlite3.connect(src)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, 2.0), (2, 2.5), (3, 7.0)])
        conn.commit()
    _rows(pg_db, "CREATE TABLE t (id int PRIMARY KEY, v int)")
    result = sync(SyncSpec(source=str(src), destination=pg_db, tables=["t"]))
    assert (result.processed_rows, result.failed_rows) == (2, 1)
    assert _rows(pg_db, "SELECT id, v FROM t ORDER BY id") == [(1, 2), (3, 7)]
