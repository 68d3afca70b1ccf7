"""MariaDB as source and destination: every mode in every direction, types both ways, bad rows,
errors a user reads. Rows are read back with PyMySQL / psycopg / sqlite3, never through bulksync.
"""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

import crashkit
from bulksync import Filter, Mode, SyncResult, SyncSpec, TableSpec, sync
from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.connectors.registry import open_connector
from bulksync.errors import ConflictError, ConnectError, SyncError, UnknownTableError
from bulksync.modes import BadValue
from helpers import expected_rows, make_bets, mariadb_connect, merged, table_rows, write_bets

pytestmark = pytest.mark.integration

ROWS = 2000
DIRECTIONS = ["mariadb->pg", "pg->mariadb", "sqlite->mariadb", "mariadb->sqlite", "mariadb->mariadb"]


def connect(url: str) -> Any:
    return mariadb_connect(url)


def mdb(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def rows_of(url: str, table: str = "bets", key: str = "id") -> list[tuple[Any, ...]]:
    """Every row ordered by ``key``; TINYINT(1) as bool, as the other readers return them."""
    if not url.startswith("mysql://"):
        return table_rows(url, table, (key,))
    kinds = mdb(
        url,
        "SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = %s ORDER BY ordinal_position",
        [table],
    )
    fixes = [_bool if k[0] == "tinyint(1)" else _time if k[0].startswith("time(") else _keep for k in kinds]
    found = mdb(url, f"SELECT * FROM `{table}` ORDER BY `{key}`")
    return [tuple(f(v) for f, v in zip(fixes, r, strict=True)) for r in found]


def _keep(v: Any) -> Any:
    return v


def _bool(v: Any) -> Any:
    return None if v is None else bool(v)


def _time(v: Any) -> Any:
    return None if v is None else (dt.datetime.min + v).time()  # PyMySQL reads TIME as a timedelta


@pytest.fixture(params=DIRECTIONS)
def ends(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    src_kind, dst_kind = request.param.split("->")

    def url(kind: str, n: int) -> str:
        if kind == "pg":
            return str(request.getfixturevalue("pg_db" if n == 1 else "pg_db2"))
        if kind == "mariadb":
            return str(request.getfixturevalue("mariadb_db" if n == 1 else "mariadb_db2"))
        return f"sqlite:///{tmp_path}/{n}.db"

    return url(src_kind, 1), url(dst_kind, 2)


def run(src: str, dst: str, mode: Mode, **options: Any) -> SyncResult:
    table = TableSpec(name="bets", cursor="updated_at" if mode == Mode.INCREMENTAL else None)
    options.setdefault("batch_mb", 0.05)
    result = sync(SyncSpec(source=src, destination=dst, tables=(table,), mode=mode, **options))
    for t in result.tables:
        assert t.status == "succeeded", t.error
        assert t.rows_read == t.rows_written + t.rows_rejected
    return result


def test_append_then_append_again_copies_only_new_rows(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    first = run(src, dst, Mode.APPEND)
    write_bets(src, range(ROWS + 1, ROWS + 101))
    second = run(src, dst, Mode.APPEND)

    assert first.processed_rows == ROWS and first.batch_count > 1
    assert second.processed_rows == 100
    assert rows_of(dst) == expected_rows(range(1, ROWS + 101))


def test_upsert_updates_changed_rows_and_inserts_new_ones(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    run(src, dst, Mode.UPSERT)
    write_bets(src, range(100, 200), version=1)
    write_bets(src, range(ROWS + 1, ROWS + 51))

    second = run(src, dst, Mode.UPSERT)

    assert second.processed_rows == ROWS + 50
    assert merged(second) == (50, 100, ROWS - 100)  # MariaDB counts an update twice: not here
    assert merged(run(src, dst, Mode.UPSERT)) == (0, 0, ROWS + 50)
    assert rows_of(dst) == [
        *expected_rows(range(1, 100)),
        *expected_rows(range(100, 200), version=1),
        *expected_rows(range(200, ROWS + 51)),
    ]


def test_incremental_copies_only_rows_past_the_watermark(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    run(src, dst, Mode.INCREMENTAL)
    write_bets(src, range(ROWS + 1, ROWS + 21))
    write_bets(src, range(10, 20), version=1)

    second = run(src, dst, Mode.INCREMENTAL)
    third = run(src, dst, Mode.INCREMENTAL)

    assert (second.rows_read, third.rows_read) == (30, 0)
    assert rows_of(dst) == [
        *expected_rows(range(1, 10)),
        *expected_rows(range(10, 20), version=1),
        *expected_rows(range(20, ROWS + 21)),
    ]


def test_replace_swaps_in_the_new_table(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    make_bets(dst, 10)
    write_bets(dst, range(ROWS + 5, ROWS + 9), version=3)  # rows the source does not have

    run(src, dst, Mode.REPLACE)
    run(src, dst, Mode.REPLACE)

    assert rows_of(dst) == expected_rows(range(1, ROWS + 1))
    if dst.startswith("mysql://"):
        tables = {r[0] for r in mdb(dst, "SHOW TABLES")}
        assert "bets__bulksync_new" not in tables and "bets__bulksync_old" not in tables
        keys = {(r[2], r[4]) for r in mdb(dst, "SHOW INDEX FROM bets")}
        assert keys == {("PRIMARY", "id"), ("bets_channel_idx", "channel")}


# -- types --------------------------------------------------------------------------------------

TYPED = """CREATE TABLE typed (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    flag TINYINT(1), small TINYINT UNSIGNED, amount DECIMAL(38,10), money DECIMAL(12,2),
    at DATETIME(6), instant TIMESTAMP(6) NULL, day DATE, clock TIME(6), doc JSON,
    payload LONGBLOB, note LONGTEXT, code VARCHAR(20), ratio DOUBLE
) CHARACTER SET utf8mb4"""
BIG = decimal.Decimal("9999999999999999999999999999.9999999999")
NEG_BIG = decimal.Decimal("-9999999999999999999999999999.9999999999")  # not -BIG: that rounds to 28 digits
TYPED_ROWS: list[tuple[Any, ...]] = [
    (2**64 - 1, True, 255, BIG, decimal.Decimal("-9999999999.99"),
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(2038, 1, 19, 3, 14, 7, 999999),
     dt.date(1000, 1, 1), dt.time(23, 59, 59, 999999),
     '{"a": [1, "🎲"]}', bytes(range(256)), "emoji 🎲🏇 \t tab \\N \n newline", "Zoë", 1e-300),
    (1, False, 0, NEG_BIG, decimal.Decimal("0.01"), dt.datetime(1000, 1, 1), dt.datetime(1970, 1, 1, 0, 0, 1),
     dt.date(2024, 2, 29), dt.time(0, 0), "[]", b"", "", "", -0.5),
    (2, None, None, None, None, None, None, None, None, None, None, None, None, None),
]  # fmt: skip


def _make_typed(url: str) -> None:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            cur.execute(TYPED)
            cur.executemany(f"INSERT INTO typed VALUES ({', '.join(['%s'] * 14)})", TYPED_ROWS)
    finally:
        conn.close()


def _utc(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    value = row[at]
    return (*row[:at], value and value.replace(tzinfo=dt.UTC), *row[at + 1 :])


def test_every_type_round_trips_mariadb_to_mariadb(mariadb_db: str, mariadb_db2: str) -> None:
    _make_typed(mariadb_db)

    run_typed = sync(SyncSpec(source=mariadb_db, destination=mariadb_db2, tables=(TableSpec(name="typed"),)))

    assert run_typed.processed_rows == 3
    assert rows_of(mariadb_db2, "typed") == sorted(TYPED_ROWS, key=lambda r: r[0])
    types = dict(mdb(mariadb_db2, "SELECT column_name, column_type FROM information_schema.columns "
                                  "WHERE table_schema = DATABASE() AND table_name = 'typed'"))  # fmt: skip
    assert types == {
        "id": "bigint(20) unsigned", "flag": "tinyint(1)", "small": "smallint(6)",
        "amount": "decimal(38,10)", "money": "decimal(12,2)", "at": "datetime(6)",
        "instant": "timestamp(6)", "day": "date", "clock": "time(6)", "doc": "longtext",
        "payload": "longblob", "note": "longtext", "code": "varchar(20)", "ratio": "double",
    }  # fmt: skip


def test_every_type_round_trips_through_postgres_and_back(
    mariadb_db: str, pg_db: str, mariadb_db2: str
) -> None:
    _make_typed(mariadb_db)

    sync(SyncSpec(source=mariadb_db, destination=pg_db, tables=(TableSpec(name="typed"),)))
    in_pg = rows_of(pg_db, "typed")
    sync(SyncSpec(source=pg_db, destination=mariadb_db2, tables=(TableSpec(name="typed"),)))

    want = sorted(TYPED_ROWS, key=lambda r: r[0])
    assert [(decimal.Decimal(r[0]), *r[1:]) for r in [_utc(w, 6) for w in want]] == in_pg
    assert rows_of(mariadb_db2, "typed") == want


def _legacy(url: str, ddl: str, rows: str) -> None:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")  # a legacy server that allowed zero dates
            cur.execute(ddl)
            cur.execute(rows)
    finally:
        conn.close()


@pytest.mark.parametrize("on_bad_value", [BadValue.REJECT, BadValue.NULL])
def test_zero_dates_are_rejected_or_null_when_asked(
    on_bad_value: BadValue, mariadb_db: str, pg_db: str
) -> None:
    """A zero DATE or DATETIME has no value elsewhere: it was read as NULL without a word."""
    _legacy(
        mariadb_db,
        "CREATE TABLE legacy (id INT PRIMARY KEY, d DATE, at DATETIME, ts TIMESTAMP NULL)",
        "INSERT INTO legacy VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'), "
        "(2, '2024-00-15', '2024-05-00 10:00:00', NULL), (3, '2024-05-01', '2024-05-01 10:00:00', NULL), "
        "(4, '2024-05-02', '2024-05-02 10:00:00', '0000-00-00 00:00:00')",
    )

    spec = SyncSpec(
        source=mariadb_db, destination=pg_db, tables=(TableSpec(name="legacy"),), on_bad_value=on_bad_value
    )
    result = sync(spec)

    if on_bad_value is BadValue.REJECT:
        assert result.failed_rows == 3
        assert rows_of(pg_db, "legacy") == [(3, dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, 10), None)]
        return
    assert rows_of(pg_db, "legacy") == [
        (1, None, None, None),
        (2, None, None, None),
        (3, dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, 10), None),
        (4, dt.date(2024, 5, 2), dt.datetime(2024, 5, 2, 10), None),
    ]


def test_a_zero_date_in_a_not_null_column_is_a_rejected_row(mariadb_db: str, mariadb_db2: str) -> None:
    _legacy(
        mariadb_db,
        "CREATE TABLE legacy (id INT PRIMARY KEY, must DATE NOT NULL)",
        "INSERT INTO legacy VALUES (1, '2024-01-01'), (2, '0000-00-00'), (3, '2024-01-03')",
    )

    result = sync(SyncSpec(source=mariadb_db, destination=mariadb_db2, tables=(TableSpec(name="legacy"),)))

    assert (result.processed_rows, result.failed_rows) == (2, 1)
    assert rows_of(mariadb_db2, "legacy") == [(1, dt.date(2024, 1, 1)), (3, dt.date(2024, 1, 3))]
    rejects = mdb(mariadb_db2, "SELECT row_key, reason FROM _bulksync_rejects")
    assert len(rejects) == 1 and rejects[0][0] == "[2]" and "must" in rejects[0][1]


# -- bad rows and errors --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_bad_rows_go_to_the_reject_table_and_the_rest_lands_once(
    tmp_path: Path, mariadb_db: str, mode: Mode
) -> None:
    src = tmp_path / "bad.db"
    bad = {1, 77, 1234, 3000}
    crashkit.build_source(str(src), 3000, seed=9, bad_ids=bad, step=1000)
    conn = connect(mariadb_db)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE t (id BIGINT PRIMARY KEY, amount DECIMAL(12,2) CHECK (amount >= 0), "
                "odds DOUBLE, won TINYINT(1), placed_at DATETIME(6), note TEXT, "
                "updated_at DATETIME(6) NOT NULL)"
            )
    finally:
        conn.close()

    result = sync(SyncSpec(source=str(src), destination=mariadb_db, tables=(TableSpec(name="t"),),
                           mode=mode, batch_mb=0.05))  # fmt: skip

    landed = [r[0] for r in mdb(mariadb_db, "SELECT id FROM t ORDER BY id")]
    rejects = mdb(mariadb_db, "SELECT row_key, reason FROM _bulksync_rejects")
    assert (result.processed_rows, result.failed_rows) == (3000 - len(bad), len(bad))
    assert landed == [i for i in range(1, 3001) if i not in bad]
    assert sorted(int(k.strip("[]")) for k, _ in rejects) == sorted(bad)
    assert all("CONSTRAINT" in reason and "amount" in reason for _, reason in rejects)


def test_upsert_into_a_table_without_that_key_is_refused_not_doubled(tmp_path: Path, mariadb_db: str) -> None:
    src = str(tmp_path / "s.db")
    make_bets(src, 100)
    conn = connect(mariadb_db)
    try:
        with conn.cursor() as cur:  # the user's table: same columns, no key
            cur.execute(
                "CREATE TABLE bets (id BIGINT NOT NULL, player TEXT, channel VARCHAR(8) NOT NULL, "
                "stake DECIMAL(12,2), placed_at DATETIME(6), updated_at DATETIME(6) NOT NULL, settled BOOL)"
            )
    finally:
        conn.close()
    spec = SyncSpec(source=src, destination=mariadb_db, tables=(TableSpec(name="bets"),), mode=Mode.UPSERT)

    with pytest.raises(SyncError, match=r"no primary key or unique index on \(id\)"):
        sync(spec)

    assert mdb(mariadb_db, "SELECT count(*) FROM bets") == [(0,)]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bulksync", "copy", *args], capture_output=True, text=True, timeout=120,
        env=crashkit._env(), check=False,
    )  # fmt: skip


def test_wrong_password_unknown_host_and_unknown_table_are_one_clear_line(
    tmp_path: Path, mariadb_db: str
) -> None:
    src = tmp_path / "s.db"
    make_bets(str(src), 10)
    secret = "s3cr3t-pw"
    wrong = mariadb_db.replace("mysql://root@", f"mysql://root:{secret}@")
    closed = f"mysql://root:{secret}@127.0.0.1:1/test"
    nodb = mariadb_db.rsplit("/", 1)[0] + "/bs_no_such_db"

    for dest, words in ((wrong, "Access denied"), (closed, "connect"), (nodb, "Unknown database")):
        done = _cli(str(src), dest, "--table", "bets")
        assert done.returncode == 1, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert words in lines[0] and secret not in done.stderr + done.stdout
    with pytest.raises(ConnectError, match=r"\*\*\*") as caught:
        open_connector(wrong)
    assert secret not in str(caught.value)

    missing = _cli(mariadb_db.replace("mysql://root@", f"mysql://root:{secret}@"), str(tmp_path / "d.db"),
                   "--table", "nope")  # fmt: skip
    assert missing.returncode == 1 and secret not in missing.stderr
    conn = open_connector(mariadb_db)
    try:
        with pytest.raises(UnknownTableError, match="'nope'"):
            conn.describe("nope")
    finally:
        conn.close()


def test_a_lock_held_past_the_statement_timeout_is_a_transient_conflict(mariadb_db: str) -> None:
    make_bets(mariadb_db, 10)
    holder = connect(mariadb_db)
    conn = open_connector(mariadb_db, statement_timeout_s=1)
    try:
        with holder.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("SELECT * FROM bets WHERE id = 5 FOR UPDATE")
        with pytest.raises(ConflictError), conn.transaction() as tx:
            tx.write("bets", expected_batch([5]), upsert_key=("id",))
    finally:
        holder.close()
        conn.close()


def expected_batch(ids: list[int]) -> Any:
    from helpers import bet_rows

    return bet_rows(ids, version=1)


def test_concurrent_writers_into_one_table_both_land(mariadb_db: str) -> None:
    make_bets(mariadb_db, 0)
    errors: list[SyncError] = []

    def write(lo: int) -> None:
        try:
            write_bets(mariadb_db, range(lo, lo + 500))
        except SyncError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(lo,)) for lo in (1, 501)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert rows_of(mariadb_db) == expected_rows(range(1, 1001))


def test_pg_rows_read_back_with_psycopg(pg_db: str, mariadb_db: str) -> None:
    """The PostgreSQL side of MariaDB → PostgreSQL holds the types a PostgreSQL user expects."""
    make_bets(mariadb_db, 50)
    sync(SyncSpec(source=mariadb_db, destination=pg_db, tables=(TableSpec(name="bets"),)))
    with psycopg.connect(pg_db) as conn:
        kinds = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'bets'"
        ).fetchall())  # fmt: skip
    assert kinds["stake"] == "numeric" and kinds["settled"] == "boolean"
    assert kinds["placed_at"] == "timestamp without time zone"
    assert rows_of(pg_db) == expected_rows(range(1, 51))


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT])
def test_batch_rows_is_the_rows_per_load_statement(tmp_path: Path, mariadb_db: str, mode: Mode) -> None:
    """``batch_rows`` splits each committed batch into LOAD DATA statements of that many rows
    (an upsert stages them so, then merges the batch once): counted by the server."""
    src = str(tmp_path / "s.db")
    make_bets(src, 2_000)
    if mode is Mode.UPSERT:
        make_bets(mariadb_db, 0)
        write_bets(mariadb_db, range(1, 2_001), version=1)  # every key there: the upsert path

    def loads() -> int:
        return int(mdb(mariadb_db, "SHOW GLOBAL STATUS LIKE 'Com_load'")[0][1])

    before = loads()
    spec = SyncSpec(source=src, destination=mariadb_db, tables=(TableSpec(name="bets"),), mode=mode,
                    chunk_rows=1_000, batch_rows=300, workers=1)  # fmt: skip
    result = sync(spec)
    assert result.processed_rows == 2_000 and result.batch_count == 2
    # two batches of 1,000 rows, each in 300 + 300 + 300 + 100 (an upsert may first try a plain
    # load of its batch, refused at once: those tries are counted too)
    made = loads() - before
    assert made == 8 if mode is Mode.APPEND else 8 <= made <= 16, made
    assert table_rows(mariadb_db, "bets") == expected_rows(range(1, 2_001))


def test_a_big_unfiltered_table_is_planned_on_the_catalog_estimate_and_reports_exact_totals(
    mariadb_db: str, tmp_path: Path
) -> None:
    """No COUNT(*) scan before the first row: InnoDB's estimate plans it, the result is exact."""
    rows = 150_000
    mdb(mariadb_db, "CREATE TABLE big (id BIGINT PRIMARY KEY, v INT NOT NULL)")
    mdb(mariadb_db, f"INSERT INTO big SELECT seq, seq % 7 FROM seq_1_to_{rows}")
    mdb(mariadb_db, "ANALYZE TABLE big")
    estimate = mdb(
        mariadb_db,
        "SELECT TABLE_ROWS FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'big'",
    )[0][0]
    planned: list[int] = []

    def listen(event: Any) -> None:
        if event.phase == "planned":
            planned.append(event.rows_total)

    dst = f"sqlite:///{tmp_path}/big.db"
    spec = SyncSpec(source=mariadb_db, destination=dst, tables=(TableSpec(name="big"),))
    whole = sync(spec, listeners=[listen])
    assert planned == [estimate]
    assert (whole.total_rows, whole.rows_read, whole.tables[0].estimated_rows) == (rows, rows, rows)

    planned.clear()  # a filter is counted exactly: its rows are no catalog figure
    part = sync(
        SyncSpec(
            source=mariadb_db,
            destination=f"sqlite:///{tmp_path}/part.db",
            tables=(TableSpec(name="big", filters=(Filter(column="v", op="eq", value=3),)),),
        ),
        listeners=[listen],
    )
    exact = len([i for i in range(1, rows + 1) if i % 7 == 3])
    assert planned == [exact] and part.total_rows == part.rows_read == exact


def test_mariadb_to_mariadb_on_one_server_moves_rows_in_the_server_unless_types_differ(
    mariadb_db: str, mariadb_db2: str
) -> None:
    """Two databases of one server: INSERT … SELECT when the column types match, Arrow if not."""
    make_bets(mariadb_db, ROWS)
    dest = open_connector(mariadb_db2)
    source = open_connector(mariadb_db)
    try:
        assert dest.can_pull_from(mariadb_db)  # type: ignore[attr-defined]
        assert not dest.can_pull_from("mysql://root@127.0.0.1:1/nowhere")  # type: ignore[attr-defined]
        dest.attach_source(mariadb_db)  # type: ignore[attr-defined]
        first_db = parse_mysql_url(mariadb_db).database
        assert dest._local_name(source, "bets", "bets") is None  # type: ignore[attr-defined]  # no table yet
        dest._local_names.clear()  # type: ignore[attr-defined]
        mdb(mariadb_db2, f"CREATE TABLE bets LIKE `{first_db}`.bets")
        assert dest._local_name(source, "bets", "bets") == f'"{first_db}"."bets"'  # type: ignore[attr-defined]
    finally:
        dest.close()
        source.close()
    run(mariadb_db, mariadb_db2, Mode.APPEND)
    assert rows_of(mariadb_db2) == rows_of(mariadb_db)
    mdb(mariadb_db2, "DROP TABLE bets")  # wider decimals: another type, so the rows go through Arrow
    mdb(mariadb_db2, f"CREATE TABLE bets LIKE `{first_db}`.bets")
    mdb(mariadb_db2, "ALTER TABLE bets MODIFY stake DECIMAL(14,4)")
    mdb(mariadb_db2, "DROP TABLE IF EXISTS _bulksync_state")
    run(mariadb_db, mariadb_db2, Mode.APPEND)
    assert rows_of(mariadb_db2) == rows_of(mariadb_db)


def test_a_time_past_a_day_names_its_table(mariadb_db: str, pg_db: str) -> None:
    """A MariaDB TIME is a duration (up to 838:59:59); one past a day cannot be a time of day.
    The refusal named only the column, so a migrate of many tables did not say where."""
    name = mariadb_db.split("/")[-1]
    with pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name, autocommit=True) as conn:
        conn.cursor().execute("CREATE TABLE shifts (id INT PRIMARY KEY, t TIME)")
        conn.cursor().execute("INSERT INTO shifts VALUES (1, '08:00:00'), (2, '838:59:59')")
    done = subprocess.run(
        [sys.executable, "-m", "bulksync", "copy", mariadb_db, pg_db, "--table", "shifts"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "shifts.t holds a TIME outside 00:00:00" in done.stderr, done.stderr
