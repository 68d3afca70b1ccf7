"""verify over a text key the two sides sort differently: an equal copy is equal, and damage
is still found. Before, each source key range read other rows on the destination, and an equal
copy into an ICU PostgreSQL database was reported with 2,032 of 5,000 rows missing."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulksync import SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.connectors.registry import open_connector
from bulksync.connectors.text_order import CODE_POINT
from serving import PG_ADMIN

pytestmark = pytest.mark.integration

# Case, punctuation and spaces, which linguistic collations weigh last; unique ignoring case
# (a case-insensitive key holds one of 'ab' and 'AB')
CODES = [
    "".join(p).upper() if i % 3 == 0 else "".join(p)
    for i, p in enumerate(itertools.product("ab_- .", repeat=4))
]


@pytest.fixture
def icu_db(pg_admin: psycopg.Connection) -> Iterator[str]:
    """A PostgreSQL database whose text sorts by the ICU locale en-US (as en_US.UTF-8 would)."""
    name = f"bs_test_icu_{uuid.uuid4().hex[:8]}"
    icu = "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    pg_admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 {icu}')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _codes(path: Path, collate: str = "") -> str:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE codes (code TEXT {collate} PRIMARY KEY, v INTEGER)")
        conn.executemany("INSERT INTO codes VALUES (?, ?)", [(c, i) for i, c in enumerate(CODES)])
    return str(path)


def _execute(url: str, *statements: str) -> None:
    conn = open_connector(url)
    try:
        with conn.transaction():
            for sql in statements:
                conn._execute(sql)
    finally:
        conn.close()


def _verify(src: str, dst: str) -> Any:
    return verify(VerifySpec(source=src, destination=dst, tables=(TableSpec(name="codes"),), chunk_rows=200))


@pytest.mark.parametrize("kind", ["icu", "mariadb"])
def test_a_text_key_sorted_otherwise_is_compared_in_one_pass(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src = _codes(tmp_path / "codes.db")
    dst = request.getfixturevalue("icu_db" if kind == "icu" else "mariadb_db")
    if kind == "mariadb":  # MariaDB's default for a table made by hand: a case-insensitive collation
        _execute(dst, "CREATE TABLE codes (code VARCHAR(8) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)")
    sync(SyncSpec(source=src, destination=dst, tables=(TableSpec(name="codes"),)))

    equal = _verify(src, dst)

    (table,) = equal.tables
    assert table.equal, table.to_dict()
    assert table.notes == [
        "key code is text that the two sides sort differently (the source by code point, the destination "
        + (
            "by PostgreSQL's database collation en-US"
            if kind == "icu"
            else "by MariaDB's collation utf8mb4_general_ci"
        )
        + "): compared in one pass, rows paired on the key"
    ]
    _execute(dst, "DELETE FROM codes WHERE code = 'ab_b'", "UPDATE codes SET v = -1 WHERE code = 'B. A'")
    _execute(dst, "INSERT INTO codes VALUES ('zz', 0)")
    found = _verify(src, dst).tables[0].findings
    assert {k: (f.rows, f.examples) for k, f in found.items() if f.rows} == {
        "missing": (1, [("ab_b",)]),
        "unexpected": (1, [("zz",)]),
        "different": (1, [("B. A",)]),
    }


def test_the_same_order_on_both_sides_keeps_the_key_ranges(tmp_path: Path, icu_db: str) -> None:
    """Two databases of one collation need no one-pass comparison; nor do SQLite and MariaDB
    ``_bin`` (both code points); SQLite's NOCASE is told apart."""
    src = _codes(tmp_path / "codes.db")
    sync(SyncSpec(source=src, destination=icu_db, tables=(TableSpec(name="codes"),)))
    back = str(tmp_path / "back.db")
    nocase = _codes(tmp_path / "nocase.db", "COLLATE NOCASE")
    for a, b, notes in ((src, back, []), (icu_db, icu_db, None)):
        if b == back:
            sync(SyncSpec(source=a, destination=b, tables=(TableSpec(name="codes"),)))
        if notes is not None:
            assert _verify(a, b).tables[0].notes == notes
    conn = open_connector(nocase)
    try:
        assert conn.text_order("codes", "code") == "SQLite's collation NOCASE"  # type: ignore[attr-defined]
        assert conn.text_order("codes", "v") == CODE_POINT  # type: ignore[attr-defined]
    finally:
        conn.close()
