"""verify against real databases: equal copies pass, every kind of damage is found and located."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from bulksync import Mode, SyncSpec, TableSpec, VerifySpec, sync, verify
from bulksync.connectors.registry import open_connector, scheme_of
from bulksync.connectors.sqlite import sqlite_path
from bulksync.engine.progress import ProgressEvent
from bulksync.errors import SchemaMismatchError, UnknownTableError
from bulksync.schema import Column, TableSchema
from helpers import make_bets, write_bets

pytestmark = pytest.mark.integration

ROWS = 3000
CHUNK = 500  # several chunks per table: alignment across chunk boundaries is exercised
PAIRS = ["sqlite->sqlite", "sqlite->pg", "pg->pg"]


@pytest.fixture(params=PAIRS)
def ends(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    src_kind, dst_kind = request.param.split("->")
    src = request.getfixturevalue("pg_db") if src_kind == "pg" else str(tmp_path / "src.db")
    dst = request.getfixturevalue("pg_db2") if dst_kind == "pg" else f"sqlite:///{tmp_path}/dst.db"
    return src, dst


def execute(url: str, *statements: str) -> None:
    """Change a database behind bulksync's back (no bulksync connector open on it)."""
    if scheme_of(url) == "sqlite":
        conn = sqlite3.connect(sqlite_path(url))
        try:
            for sql in statements:
                conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        for sql in statements:
            pg.execute(sql)


def check(src: str, dst: str, table: str = "bets", **kw: Any) -> Any:
    spec = VerifySpec(source=src, destination=dst, tables=(TableSpec(name=table, **kw),), chunk_rows=CHUNK)
    result = verify(spec)
    (verdict,) = result.tables
    return verdict


def firsts(verdict: Any, kind: str) -> list[Any]:
    return [k[0] for k in verdict.findings[kind].examples]


def copied(ends: tuple[str, str]) -> tuple[str, str]:
    src, dst = ends
    make_bets(src, ROWS)
    sync(SyncSpec(source=src, destination=dst, tables=(TableSpec(name="bets"),)))
    return src, dst


def test_an_equal_copy_reports_nothing(ends: tuple[str, str]) -> None:
    src, dst = copied(ends)
    events: list[ProgressEvent] = []

    result = verify(
        VerifySpec(source=src, destination=dst, tables=(TableSpec(name="bets"),), chunk_rows=CHUNK),
        listeners=[events.append],
    )

    assert result.equal, result.to_dict()
    (t,) = result.tables
    assert (t.source_rows, t.dest_rows, t.chunks_differing) == (ROWS, ROWS, 0)
    assert t.chunks >= ROWS // CHUNK
    assert events[0].phase == "planned"
    assert "verifying" in {e.phase for e in events}
    assert events[-1].phase == "done" and events[-1].rows_done == ROWS


def test_deleted_rows_are_missing_with_their_keys(ends: tuple[str, str]) -> None:
    src, dst = copied(ends)
    execute(dst, "DELETE FROM bets WHERE id IN (1, 2, 3, 1500, 3000)")

    t = check(src, dst)

    assert firsts(t, "missing") == [1, 2, 3, 1500, 3000]
    assert t.findings["missing"].rows == 5
    assert [(lo[0], hi[0]) for lo, hi in t.findings["missing"].ranges] == [(1, 3), (1500, 1500), (3000, 3000)]
    assert all(t.findings[k].rows == 0 for k in ("unexpected", "duplicated", "different"))


def test_added_rows_are_unexpected_inside_and_past_the_source_range(ends: tuple[str, str]) -> None:
    src, dst = copied(ends)
    write_bets(dst, [ROWS + 1, ROWS + 2, ROWS + 5000])
    execute(dst, "DELETE FROM bets WHERE id = 700")  # a gap in the source's range, refilled below
    write_bets(src, [])  # nothing: the source is unchanged
    execute(src, "DELETE FROM bets WHERE id = 701")  # dest's 701 is now unexpected

    t = check(src, dst)

    assert firsts(t, "unexpected") == [701, ROWS + 1, ROWS + 2, ROWS + 5000]
    assert firsts(t, "missing") == [700]
    assert t.findings["different"].rows == t.findings["duplicated"].rows == 0


def test_a_changed_value_is_different(ends: tuple[str, str]) -> None:
    src, dst = copied(ends)
    execute(
        dst,
        "UPDATE bets SET stake = stake + 0.01 WHERE id = 42",
        "UPDATE bets SET player = NULL WHERE id = 2500",
        "UPDATE bets SET settled = NOT settled WHERE id = 9",
    )

    t = check(src, dst)

    assert firsts(t, "different") == [9, 42, 2500]
    assert all(t.findings[k].rows == 0 for k in ("missing", "unexpected", "duplicated"))


KEYLESS = TableSchema(
    "events",
    (Column("player", pa.string()), Column("amount", pa.decimal128(10, 2)), Column("at", pa.timestamp("us"))),
)


def _events(n: int) -> pa.RecordBatch:
    base = dt.datetime(2024, 5, 1)
    return pa.RecordBatch.from_pylist(
        [
            {
                "player": None if i % 9 == 0 else f"p{i % 13}",
                "amount": decimal.Decimal(i % 50) / 4,
                "at": base + dt.timedelta(minutes=i % 200),
            }
            for i in range(n)
        ],
        schema=KEYLESS.arrow_schema(),
    )


def _fill(url: str, batch: pa.RecordBatch, schema: TableSchema = KEYLESS) -> None:
    conn = open_connector(url, create=True)
    try:
        conn.create_table(schema, with_indexes=False)
        with conn.transaction() as tx:
            tx.write(schema.name, batch)
    finally:
        conn.close()


def test_keyless_tables_compare_whole_rows_and_find_a_duplicate(ends: tuple[str, str]) -> None:
    src, dst = ends
    rows = _events(1200)  # has identical rows already: the multiset must match, not the set
    _fill(src, rows)
    _fill(dst, rows)
    assert check(src, dst, "events").equal

    execute(dst, "INSERT INTO events SELECT * FROM events WHERE player = 'p5' AND amount = 1.25")
    t = check(src, dst, "events")

    assert t.key == ()
    dup = t.findings["duplicated"]
    assert dup.rows == sum(1 for r in rows.to_pylist() if r["player"] == "p5" and r["amount"] == 1.25)
    assert {k[0] for k in dup.examples} == {"p5"}
    assert all(t.findings[k].rows == 0 for k in ("missing", "unexpected", "different"))


def test_keyless_missing_and_unexpected_rows(ends: tuple[str, str]) -> None:
    src, dst = ends
    _fill(src, _events(900))
    _fill(dst, _events(900))
    execute(
        dst, "DELETE FROM events WHERE player IS NULL", "INSERT INTO events VALUES ('ghost', 1, '2030-01-01')"
    )

    t = check(src, dst, "events")

    assert t.findings["missing"].rows == 100  # every 9th of 900 has a NULL player
    assert t.findings["unexpected"].rows == 1 and t.findings["unexpected"].examples[0][0] == "ghost"


TYPES = TableSchema(
    "typed",
    (
        Column("id", pa.int64(), nullable=False),
        Column("ts", pa.timestamp("us")),
        Column("day", pa.date32()),
        Column("price", pa.decimal128(18, 6)),
        Column("ratio", pa.float64()),
        Column("flag", pa.bool_()),
        Column("note", pa.string()),
    ),
    primary_key=("id",),
)


def _typed_rows() -> pa.RecordBatch:
    notes = ["", "Zoë 🏇 “q”", "李小龍", "tab\tnl\n", "𝄞 4-byte", None]
    return pa.RecordBatch.from_pylist(
        [
            {
                "id": i,
                "ts": None
                if i % 7 == 0
                else dt.datetime(1969, 12, 31, 23, 59, 59, 999_999)
                + dt.timedelta(hours=i, microseconds=i * 37 if i % 2 else 0),
                "day": None if i % 5 == 0 else dt.date(2000, 2, 28) + dt.timedelta(days=i),
                "price": None if i % 6 == 0 else decimal.Decimal(i * 1_000_003 - 5_000_000).scaleb(-6),
                "ratio": [0.1, -0.0, 1e300, -2.5e-300, 1 / 3, None][i % 6],
                "flag": [True, False, None][i % 3],
                "note": notes[i % len(notes)],
            }
            for i in range(1, 601)
        ],
        schema=TYPES.arrow_schema(),
    )


def test_every_type_agrees_across_engines_after_a_copy(ends: tuple[str, str]) -> None:
    src, dst = ends
    conn = open_connector(src, create=True)
    try:
        conn.create_table(TYPES, with_indexes=False)
        with conn.transaction() as tx:
            tx.write("typed", _typed_rows())
    finally:
        conn.close()
    sync(SyncSpec(source=src, destination=dst, tables=(TableSpec(name="typed"),)))

    assert check(src, dst, "typed").equal

    execute(
        dst, "UPDATE typed SET ts = NULL WHERE id = 8", "UPDATE typed SET note = 'Zoe 🏇 “q”' WHERE id = 2"
    )
    assert firsts(check(src, dst, "typed"), "different") == [2, 8]


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.REPLACE, Mode.UPSERT, Mode.INCREMENTAL])
@pytest.mark.parametrize("pair", ["sqlite->pg", "pg->sqlite", "pg->pg", "sqlite->sqlite"])
def test_after_a_sync_in_every_mode_verify_passes(
    request: pytest.FixtureRequest, tmp_path: Path, pair: str, mode: Mode
) -> None:
    src_kind, dst_kind = pair.split("->")
    src = request.getfixturevalue("pg_db") if src_kind == "pg" else str(tmp_path / "src.db")
    dst = request.getfixturevalue("pg_db2") if dst_kind == "pg" else str(tmp_path / "dst.db")
    make_bets(src, 2000)
    cursor = "updated_at" if mode is Mode.INCREMENTAL else None
    spec = SyncSpec(
        source=src, destination=dst, tables=(TableSpec(name="bets", cursor=cursor),), mode=mode, batch_mb=0.05
    )
    sync(spec)
    changed = range(2001, 2100) if mode is Mode.APPEND else range(1990, 2100)  # append: new rows only
    write_bets(src, changed, version=1)
    sync(spec)

    result = verify(spec)

    assert result.equal, result.to_dict()
    assert result.tables[0].source_rows == 2099


def test_filters_compare_only_matching_rows(ends: tuple[str, str]) -> None:
    src, dst = copied(ends)
    execute(dst, "DELETE FROM bets WHERE id = 3", "DELETE FROM bets WHERE id = 4")  # channel of 3: VN

    t = check(src, dst, filters=({"column": "channel", "op": "eq", "value": "VN"},))

    assert firsts(t, "missing") == [3]
    assert t.source_rows == ROWS // 3


def _file_digest(path: Path) -> str:
    return hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    ).hexdigest()


def test_verify_writes_nothing_and_works_on_a_read_only_postgres(
    pg_db: str, pg_db2: str, tmp_path: Path
) -> None:
    make_bets(pg_db, 1000)
    sync(SyncSpec(source=pg_db, destination=pg_db2, tables=(TableSpec(name="bets"),)))
    read_only = pg_db2 + "?options=-c%20default_transaction_read_only%3Don"
    execute(pg_db2, "DELETE FROM bets WHERE id = 10")

    t = check(pg_db, read_only)

    assert firsts(t, "missing") == [10]
    sqlite_src, sqlite_dst = tmp_path / "a.db", tmp_path / "b.db"
    make_bets(str(sqlite_src), 1000)
    make_bets(str(sqlite_dst), 999)
    before = (_file_digest(sqlite_src), _file_digest(sqlite_dst))
    assert firsts(check(str(sqlite_src), str(sqlite_dst)), "missing") == [1000]
    assert (_file_digest(sqlite_src), _file_digest(sqlite_dst)) == before


def test_unknown_table_and_missing_columns_are_refused(tmp_path: Path, pg_db: str) -> None:
    make_bets(pg_db, 10)
    with pytest.raises(UnknownTableError, match="nope"):
        check(pg_db, pg_db, "nope")
    other = str(tmp_path / "o.db")
    conn = open_connector(other, create=True)
    try:
        conn.create_table(
            TableSchema("bets", (Column("id", pa.int64(), nullable=False),), ("id",)), with_indexes=False
        )
    finally:
        conn.close()
    with pytest.raises(SchemaMismatchError, match="player"):
        check(pg_db, other)


CODED = TableSchema(
    "coded",
    (Column("id", pa.int64(), nullable=False), Column("code", pa.string()), Column("v", pa.int64())),
    primary_key=("id",),
)


def test_destination_rows_with_a_null_key_are_counted_as_unexpected(ends: tuple[str, str]) -> None:
    src, dst = ends
    rows = pa.RecordBatch.from_pylist(
        [{"id": i, "code": f"c{i:04}", "v": i} for i in range(1, 1201)], schema=CODED.arrow_schema()
    )
    for url in (src, dst):
        _fill(url, rows, CODED)
    assert check(src, dst, "coded", key=("code",)).equal

    execute(dst, "INSERT INTO coded VALUES (5000, NULL, 1)")  # no key range reaches it
    t = check(src, dst, "coded", key=("code",))

    assert t.findings["unexpected"].rows == 1
    assert t.notes == ["1 destination rows have NULL in code: counted as unexpected"]
    assert (t.source_rows, t.dest_rows) == (1200, 1200)


def test_sqlite_dates_written_as_their_midnight_verify_equal_and_a_non_date_is_missing(
    tmp_path: Path, pg_db: str
) -> None:
    """A SQLite DATE of ``2024-02-29T00:00:00`` or ``2024-03-02 00:00:00`` is copied as that date,
    but verify's canonical form cast the text with Arrow alone and stopped with a traceback
    ('Failed to parse string … as a scalar of type date32'), exit 1. Text that is no date
    (a rejected row) is compared as its text: missing, never equal and never a crash."""
    from helpers import run_cli

    src = tmp_path / "dates.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, d DATE)")
        rows = [(1, "2024-02-29T00:00:00"), (2, "2024-03-01"), (3, "2024-03-02 00:00:00"), (4, None)]
        conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    done = run_cli("migrate", str(src), pg_db, "--verify", "--quiet")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(src) as conn:
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(5, "garbage"), (6, "2024-03-05 10:00:00")])
    assert run_cli("copy", str(src), pg_db, "--table", "t", "--quiet").returncode == 3  # both rejected
    result = verify(VerifySpec(source=str(src), destination=pg_db, tables=(TableSpec(name="t"),)))
    (table,) = result.tables
    found = {kind: table.findings[kind].rows for kind in ("missing", "unexpected", "duplicated", "different")}
    assert found == {"missing": 2, "unexpected": 0, "duplicated": 0, "different": 0}
