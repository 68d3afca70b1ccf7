"""A PostgreSQL ``json`` column arrives as ``json``, its documents as written.

``jsonb`` parses a document: whitespace goes, keys are reordered and a repeated key keeps its
last value. A PostgreSQL → PostgreSQL copy used to create every JSON column as ``jsonb``, so
``{"b": 1,  "a": 2, "a": 3}`` arrived as ``{"a": 3, "b": 1}`` with exit 0. ``json`` has no
equality operator, so an upsert compares such documents as text: an unchanged one is not
rewritten, a changed one is. ``jsonb`` stays ``jsonb``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from helpers import run_cli

pytestmark = pytest.mark.integration

DOCS = [
    (1, '{"b": 1,  "a": 2, "a": 3}', '{"b": 1, "a": 2}'),
    (2, '[1,  2, {"z": null}]', None),
    (3, None, "{}"),
    (4, '"just text"', '{"k": [1, 2]}'),
]


def fill(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE docs (id int PRIMARY KEY, j json, jb jsonb)")
        for row in DOCS:
            conn.execute("INSERT INTO docs VALUES (%s, %s, %s)", row)


def held(url: str, table: str = "docs") -> tuple[dict[str, str], list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        types = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
        rows = conn.execute(f"SELECT id, j::text, jb::text FROM {table} ORDER BY id").fetchall()
    return dict(types), rows


def copy(*args: str) -> dict[str, object]:
    done = run_cli("copy", *args, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_json_arrives_as_written_and_upserts_compare_its_text(pg_db: str, pg_db2: str) -> None:
    fill(pg_db)
    copy(pg_db, pg_db2, "--table", "docs")
    types, rows = held(pg_db2)
    assert types["j"] == "json" and types["jb"] == "jsonb"
    assert rows == held(pg_db)[1]
    assert rows[0][1] == '{"b": 1,  "a": 2, "a": 3}'  # whitespace, key order and both "a" kept

    again = copy(pg_db, pg_db2, "--table", "docs", "--mode", "upsert")
    assert (again["rows_updated"], again["rows_unchanged"]) == (0, len(DOCS))
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("""UPDATE docs SET j = '{"a": 3, "b": 1}' WHERE id = 1""")  # the same jsonb
    changed = copy(pg_db, pg_db2, "--table", "docs", "--mode", "upsert")
    assert (changed["rows_updated"], changed["rows_unchanged"]) == (1, len(DOCS) - 1)
    assert held(pg_db2)[1] == held(pg_db)[1]
    verified = run_cli("verify", pg_db, pg_db2, "--table", "docs")
    assert verified.returncode == 0 and "equal" in verified.stderr, verified.stderr


def test_within_one_database_and_through_migrate(pg_db: str, pg_db2: str) -> None:
    fill(pg_db)
    copy(pg_db, pg_db, "--table", "docs", "--dest-table", "docs_copy")
    assert held(pg_db, "docs_copy") == held(pg_db)
    done = run_cli("migrate", pg_db, pg_db2)
    assert done.returncode == 0, done.stderr
    assert held(pg_db2) == held(pg_db)


def test_documents_from_sqlite_keep_their_text_in_a_json_column(pg_db: str, tmp_path: Path) -> None:
    source = tmp_path / "docs.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, j JSON, jb JSON)")
        conn.executemany("INSERT INTO docs VALUES (?, ?, ?)", DOCS)
    fill(pg_db)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("TRUNCATE docs")
    copy(str(source), pg_db, "--table", "docs", "--mode", "upsert")
    _, rows = held(pg_db)
    assert [r[1] for r in rows] == [d[1] for d in DOCS]  # into json: as written
    assert rows[0][2] == '{"a": 2, "b": 1}'  # into jsonb: parsed, as PostgreSQL does
    again = copy(str(source), pg_db, "--table", "docs", "--mode", "upsert")
    assert (again["rows_updated"], again["rows_unchanged"]) == (0, len(DOCS))


def test_a_json_key_is_refused_in_one_line_and_replace_copies_the_table_whole(
    pg_db: str, pg_db2: str
) -> None:
    """A table keyed by a jsonb column failed with 'read: function min(jsonb) does not exist'
    (and left an empty table behind): JSON has no order to read ranges by."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE jk (k jsonb PRIMARY KEY, v int)")
        conn.execute("""INSERT INTO jk VALUES ('{"a": 1}', 1), ('[2]', 2)""")
    refused = run_cli("copy", pg_db, pg_db2, "--table", "jk")
    assert refused.returncode == 2 and "key column 'k' is a JSON document" in refused.stderr, refused.stderr
    with psycopg.connect(pg_db2) as conn:
        assert conn.execute("SELECT to_regclass('jk')").fetchone() == (None,)
    copy(pg_db, pg_db2, "--table", "jk", "--mode", "replace")
    with psycopg.connect(pg_db2) as conn:
        assert conn.execute("SELECT k::text, v FROM jk ORDER BY v").fetchall() == [
            ('{"a": 1}', 1),
            ("[2]", 2),
        ]
        key = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'jk'::regclass AND contype = 'p'"
        )
        assert key.fetchone() == (1,), "the table lost its primary key"
    verified = run_cli("verify", pg_db, pg_db2, "--table", "jk")
    assert verified.returncode == 2 and "is a JSON document" in verified.stderr
    by_another = run_cli("verify", pg_db, pg_db2, "--table", "jk", "--key", "v")
    assert by_another.returncode == 0 and "equal" in by_another.stderr, by_another.stderr


def test_verify_of_a_table_whose_first_column_is_a_document(pg_db: str, pg_db2: str) -> None:
    """verify counted rows with the span of the table's first column: 'read: function
    min(jsonb) does not exist' for any table that starts with a JSON column."""
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE ev (payload jsonb, id int PRIMARY KEY)")
        conn.execute("""INSERT INTO ev VALUES ('{"a": 1}', 1), ('[2]', 2)""")
    copy(pg_db, pg_db2, "--table", "ev")
    verified = run_cli("verify", pg_db, pg_db2, "--table", "ev")
    assert verified.returncode == 0 and "equal" in verified.stderr, verified.stderr
