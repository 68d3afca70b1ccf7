"""SQLite never enforces ``VARCHAR(n)``: text longer than declared arrives whole in a table the
sync creates (its column widened when a batch brings such text, never scanned for before the
first row), and is refused as before by a table the user already had.

Every test copies for real and reads both ends through their own drivers (sqlite3, psycopg,
PyMySQL); ``chunk_rows`` fixes the batches, two partitions split the key range in halves.
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from test_migrate_types import mariadb_conn, pg_run
from test_migrate_zoo import mariadb, pg

import crashkit
from bulksync import Mode, SyncResult, SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.connectors.sqlite import SqliteConnector
from helpers import run_cli

pytestmark = pytest.mark.integration

ROWS = 20_000  # partition 0: ids 1..10,000; partition 1: 10,001..20,000; 500 rows a batch
PEOPLE = (
    "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(10) NOT NULL DEFAULT 'anon', "
    "code VARCHAR(5), city VARCHAR(8), pad VARCHAR(4), ok VARCHAR(6))"
)
LONG = {
    1: ("name", "N" * 40),  # the first batch
    10_001: ("name", "M" * 25),  # and the second partition's first: both widen it at once
    9_000: ("code", "é" * 7),  # a late batch of the first partition; 14 bytes, 7 characters
    19_000: ("city", "c" * 30),  # only in the second partition
    12_000: ("pad", "ab" + " " * 10),  # trailing spaces: PostgreSQL would cut them silently
}
WIDENED = ("name", "code", "city", "pad")


def people(path: Path, rows: int = ROWS, long: dict[int, tuple[str, str]] = LONG) -> str:
    columns = ["name", "code", "city", "pad", "ok"]
    data = []
    for i in range(1, rows + 1):
        row: dict[str, Any] = {
            "name": f"n{i % 1000}",
            "code": "ab",
            "city": "Oslo",
            "pad": "x",
            "ok": "short",
        }
        if i % 97 == 0:
            row["code"] = None
        if i in long:
            column, value = long[i]
            row[column] = value
        data.append((i, *(row[c] for c in columns)))
    with sqlite3.connect(path) as conn:
        conn.execute(PEOPLE)
        conn.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)", data)
    return str(path)


def source_rows(path: str, table: str = "people") -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def dest_rows(url: str, table: str = "people") -> list[tuple[Any, ...]]:
    read = mariadb if url.startswith("mysql") else pg
    return [tuple(row) for row in read(url, f"SELECT * FROM {table} ORDER BY 1")]


def run(url: str, sql: str) -> None:
    if not url.startswith("mysql"):
        return pg_run(url, sql)
    conn = mariadb_conn(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.commit()
    finally:
        conn.close()


def text_types(url: str, table: str = "people") -> dict[str, str]:
    if url.startswith("mysql"):
        sql = (
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
        )
        return {name: kind for name, kind in mariadb(url, sql) if "char" in kind or "text" in kind}
    sql = (
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        f"WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped"
    )
    return {name: kind for name, kind in pg(url, sql) if "char" in kind or kind == "text"}


def copy(src: str, dst: str, mode: Mode, table: str = "people", **options: Any) -> SyncResult:
    spec = SyncSpec(
        source=src,
        destination=dst,
        tables=(TableSpec(name=table, cursor=options.pop("cursor", None)),),
        mode=mode,
        chunk_rows=500,
        workers=2,
        partition_min_rows=1_000,
        **options,
    )
    return sync(spec)


@pytest.fixture(params=["postgresql", "mariadb"])
def dest(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_db" if request.param == "postgresql" else "mariadb_db"))


def note(column: str, length: int, outcome: str = "the column has no length") -> str:
    return (
        f"{column}: length {length} not carried (SQLite never enforced it and a value is longer): {outcome}"
    )


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.REPLACE])
def test_longer_text_anywhere_in_any_partition_arrives_whole(tmp_path: Path, dest: str, mode: Mode) -> None:
    src = people(tmp_path / "people.db")

    result = copy(src, dest, mode)

    (table,) = result.tables
    assert result.status == "succeeded", table.error
    assert table.partitions == 2 and table.rows_rejected == 0
    assert dest_rows(dest) == source_rows(src)
    unbounded = "longtext" if dest.startswith("mysql") else "text"
    fits = "varchar(6)" if dest.startswith("mysql") else "character varying(6)"
    assert text_types(dest) == {**dict.fromkeys(WIDENED, unbounded), "ok": fits}  # ok: kept
    lengths = {"name": 10, "code": 5, "city": 8, "pad": 4}
    assert sorted(n for n in table.not_carried if "length" in n) == sorted(
        note(c, lengths[c]) for c in WIDENED
    )
    assert verify(VerifySpec(source=src, destination=dest, tables=(TableSpec(name="people"),))).equal


def test_the_widened_column_keeps_not_null_and_its_default(tmp_path: Path, dest: str) -> None:
    src = people(tmp_path / "people.db", rows=600)

    copy(src, dest, Mode.REPLACE)

    assert text_types(dest)["name"] in ("text", "longtext")
    run(dest, "INSERT INTO people (id) VALUES (1000)")
    if dest.startswith("mysql"):
        nullable = "SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
    else:
        nullable = "SELECT is_nullable FROM information_schema.columns WHERE true "
    assert dest_rows(dest)[-1][:2] == (1000, "anon")
    assert (mariadb if dest.startswith("mysql") else pg)(
        dest, nullable + "AND table_name = 'people' AND column_name = 'name'"
    ) == [("NO",)]


def test_a_key_and_an_indexed_column_keep_a_length_a_key_can_have(tmp_path: Path, dest: str) -> None:
    """MariaDB cannot key LONGTEXT: such a column becomes VARCHAR(255), as a keyed text column
    without a length is created; its index, built after the load, then works."""
    path = tmp_path / "tags.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tags (tag VARCHAR(3) PRIMARY KEY, label VARCHAR(4))")
        conn.execute("CREATE INDEX tags_label ON tags (label)")
        conn.executemany(
            "INSERT INTO tags VALUES (?, ?)", [(f"t{i:02}", "ok") for i in range(99)] + [("t" * 40, "l" * 90)]
        )

    result = copy(str(path), dest, Mode.REPLACE, table="tags")

    (table,) = result.tables
    assert result.status == "succeeded", table.error
    assert table.rows_rejected == 0
    assert dest_rows(dest, "tags") == source_rows(str(path), "tags")
    if dest.startswith("mysql"):
        assert text_types(dest, "tags") == {"tag": "varchar(255)", "label": "varchar(255)"}
        assert mariadb(dest, "SHOW INDEX FROM tags WHERE Key_name = 'tags_label'")
        held = "the column's length is 255"
    else:
        assert text_types(dest, "tags") == {"tag": "text", "label": "text"}
        held = "the column has no length"
    assert [n for n in table.not_carried if "length" in n] == [note("tag", 3, held), note("label", 4, held)]


def test_an_upsert_stages_its_rows_in_a_table_widened_with_the_real_one(tmp_path: Path, dest: str) -> None:
    """Incremental writes go through a staging table made LIKE the table: left at the old type,
    the long value was a rejected row (and trailing spaces were cut without a word)."""
    path = tmp_path / "events.db"
    rows = [(i, i // 10, "note") for i in range(1, 5_001)]
    rows[2_999] = (3_000, 299, "x" * 20)
    rows[4_499] = (4_500, 449, "ab" + " " * 9)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, updated_at INTEGER, note VARCHAR(5))")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)

    result = copy(str(path), dest, Mode.INCREMENTAL, table="events", cursor="updated_at")

    (table,) = result.tables
    assert result.status == "succeeded", table.error
    assert table.rows_rejected == 0 and table.batches > 5
    assert dest_rows(dest, "events") == source_rows(str(path), "events")


def test_into_a_table_the_user_already_had_a_longer_value_stays_a_rejected_row(
    tmp_path: Path, dest: str
) -> None:
    src = people(tmp_path / "people.db", rows=600, long={5: ("name", "N" * 40)})
    create = (
        "CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR(10) NOT NULL, code VARCHAR(5), "
        "city VARCHAR(8), pad VARCHAR(4), ok VARCHAR(6))"
    )
    run(dest, create)
    before = text_types(dest)

    result = copy(src, dest, Mode.APPEND)

    (table,) = result.tables
    assert table.rows_rejected == 1 and table.rows_written == 599
    assert text_types(dest) == before
    assert not [n for n in table.not_carried if "length" in n]


def test_planning_reads_no_value_of_the_source_table(
    tmp_path: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MAX(LENGTH()) scan cost ~2 s at 10 M rows before the first row moved."""
    src = people(tmp_path / "people.db", rows=600)
    asked: list[str] = []
    query = SqliteConnector._query

    def recording(self: SqliteConnector, sql: str, params: Any = ()) -> Any:
        asked.append(sql)
        return query(self, sql, params)

    monkeypatch.setattr(SqliteConnector, "_query", recording)

    copy(src, pg_db, Mode.APPEND)

    assert asked, "the SQLite source was read some other way: this test sees nothing"
    assert not [sql for sql in asked if "LENGTH(" in sql.upper()]


def test_the_json_summary_names_each_widened_column(tmp_path: Path, pg_db: str) -> None:
    src = people(tmp_path / "people.db", rows=600, long={5: ("name", "N" * 40)})

    done = run_cli("copy", src, pg_db, "--table", "people", "--json")

    assert done.returncode == 0, done.stderr
    (table,) = json.loads(done.stdout)["tables"]
    assert note("name", 10) in table["not_carried"]


CRASH_ROWS = 150_000


def test_kill9_after_a_widen_then_the_same_command_ends_equal_and_says_so(tmp_path: Path, pg_db: str) -> None:
    """The first run widens ``name`` (first batch) and is killed mid-copy; ``city`` is too long
    only near the end. The second run resumes from the checkpoints (the table is still this
    sync's: ``created_table``), widens ``city`` and reports both."""
    src = people(
        tmp_path / "people.db",
        rows=CRASH_ROWS,
        long={3: ("name", "N" * 40), CRASH_ROWS - 10: ("city", "c" * 30), 70_000: ("pad", "z" + " " * 9)},
    )
    cmd = [sys.executable, "-m", "bulksync", "copy", src, pg_db, "--table", "people", "--batch-mb", "0.5"]
    probe = crashkit.PgProbe(pg_db)
    try:
        rng = random.Random(15)
        kill = crashkit.run_and_kill(
            [*cmd, "--partitions", "2"],
            count=lambda: probe.count("people"),
            settle=probe.settle,
            threshold=int(CRASH_ROWS * rng.uniform(0.2, 0.4)),
            delay_s=rng.uniform(0, 0.05),
        )
        assert 0 < kill.after < CRASH_ROWS
        assert text_types(pg_db)["name"] == "text", "the killed run had not widened yet"
        done = crashkit.run_to_end([*cmd, "--partitions", "2", "--json"])
    finally:
        probe.close()

    (table,) = json.loads(done.stdout)["tables"]
    assert table["resumed_rows"] > 0
    assert dest_rows(pg_db) == source_rows(src)
    assert [n for n in table["not_carried"] if "length" in n] == [
        note("name", 10),
        note("city", 8),
        note("pad", 4),
    ]
    assert verify(VerifySpec(source=src, destination=pg_db, tables=(TableSpec(name="people"),))).equal


def test_a_row_wider_than_mariadb_allows_lands_with_its_widest_varchars_as_longtext(
    tmp_path: Path, mariadb_db: str
) -> None:
    """Thirty ``VARCHAR(1000)`` declare 120,000 bytes of utf8mb4; MariaDB refuses more than 65,535
    (``CREATE: Row size too large``, exit 1, no table named). The widest columns outside keys
    become LONGTEXT until the row fits, said once in ``not carried``; the key keeps its VARCHAR,
    a value longer than declared lands whole, and ``verify`` finds the copy equal."""
    path = tmp_path / "wide.db"
    columns = [f"c{i:02d}" for i in range(30)]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE wide (id INTEGER PRIMARY KEY, code VARCHAR(1000) UNIQUE, "
            + ", ".join(f"{c} VARCHAR(1000)" for c in columns)
            + ")"
        )
        rows = [(i, f"k{i}", *(f"{c}-{i}" for c in columns)) for i in range(1, 201)]
        rows[7] = (8, "k8", "é" * 1500, *rows[7][3:-1], "é" * 1500)  # longer than declared
        conn.executemany(f"INSERT INTO wide VALUES ({', '.join('?' * 32)})", rows)

    done = run_cli("migrate", str(path), mariadb_db, "--json")

    assert done.returncode == 0, done.stderr
    (table,) = json.loads(done.stdout)["tables"]
    types = text_types(mariadb_db, "wide")
    moved = columns[:15]  # 124,074 bytes declared: 15 of 3,990 bytes each made it fit
    assert sorted(c for c, kind in types.items() if kind == "longtext") == [*moved, "c29"]
    assert types["code"] == "varchar(1000)"
    assert sorted(table["not_carried"]) == [
        ", ".join(f"{c} (1000)" for c in moved) + ": length not carried (MariaDB holds 65,535 declared "
        "bytes per row: the widest VARCHAR columns are LONGTEXT)",
        note("c29", 1000),  # widened by its longer value, as any column
    ]
    assert dest_rows(mariadb_db, "wide") == [tuple(r) for r in source_rows(str(path), "wide")]
    checked = run_cli("verify", str(path), mariadb_db, "--table", "wide")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_postgres_text_key_longer_than_mariadbs_key_length_is_a_rejected_row_that_says_so(
    pg_db: str, mariadb_db: str
) -> None:
    """PostgreSQL's ``text`` key becomes ``VARCHAR(255)`` in MariaDB (a key needs a length): a
    longer key is a rejected row, whose reason was MariaDB's "Data truncated for column 'code'
    at row 1"."""
    run(pg_db, "CREATE TABLE k (code text PRIMARY KEY, v int)")
    run(pg_db, "INSERT INTO k VALUES ('short', 1), (repeat('x', 300), 2)")

    done = run_cli("migrate", pg_db, mariadb_db, "--json")

    assert done.returncode == 3, done.stderr
    assert dest_rows(mariadb_db, "k") == [("short", 1)]
    (reason,) = [r[0] for r in mariadb(mariadb_db, "SELECT reason FROM _bulksync_rejects")]
    assert reason == "write to 'k': a value of column 'code' is longer than its 255 characters (VARCHAR(255))"
