"""A key that cannot page the source exactly is refused before anything is written: values
repeated (the rest of a tied group at a batch's end would be skipped) or NULL (never read), while
the summary would have counted every row as copied. So is an empty date range (a replace would
empty the table)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import psycopg
import pytest

from bulksync import Filter, Mode, SyncSpec, TableSpec, sync
from bulksync.errors import UsageError
from helpers import make_bets, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """``ev``: 1,000 rows, ``ts`` repeated (7 rows share each value), ``seq`` unique but NULL in
    one row, ``id`` a real key."""
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, ts INTEGER, seq INTEGER, payload TEXT)")
        conn.executemany(
            "INSERT INTO ev VALUES (?, ?, ?, ?)",
            [(i, i // 7, None if i == 500 else i, f"p{i}") for i in range(1, 1001)],
        )
    return path


def spec(source: str, dest: str, mode: Mode = Mode.APPEND, **table: object) -> SyncSpec:
    return SyncSpec(
        source=source, destination=dest, tables=[TableSpec(name="ev", **table)], batch_rows=50, mode=mode
    )


def test_a_repeated_key_is_refused_before_a_row_is_written(events: Path, pg_db: str) -> None:
    with pytest.raises(UsageError, match=r"the key \(ts\) is not unique \(ts=\d+ is in [67] rows\)"):
        sync(spec(str(events), pg_db, key=("ts",)))
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT to_regclass('ev')").fetchone() == (None,)


def test_a_key_with_nulls_is_refused(events: Path, pg_db: str) -> None:
    with pytest.raises(UsageError, match=r"the key \(seq\) is NULL in some rows"):
        sync(spec(str(events), pg_db, key=("seq",)))


@pytest.mark.parametrize("source_kind", ["sqlite", "pg"])
def test_an_incremental_cursor_with_nulls_is_refused(
    events: Path, pg_db: str, tmp_path: Path, source_kind: str
) -> None:
    """``(cursor, key) > last`` never reaches a NULL cursor: row 500 was left out of every run
    (the first one included) while the run said it succeeded."""
    source = str(events)
    if source_kind == "pg":
        sync(spec(source, pg_db))
        source = pg_db
    dest = str(tmp_path / "dest.db")
    with pytest.raises(
        UsageError, match=r"^table 'ev': the cursor seq is NULL in some rows \(id=500 is one\)"
    ):
        sync(spec(source, dest, Mode.INCREMENTAL, cursor="seq"))
    assert not Path(dest).exists()
    kept = (Filter(column="id", op="lt", value=500),)  # a filter that leaves the NULL out
    result = sync(spec(source, dest, Mode.INCREMENTAL, cursor="seq", filters=kept))
    assert result.processed_rows == 499


def test_only_the_filtered_rows_count(events: Path, tmp_path: Path) -> None:
    """The NULL is in row 500: a filter that leaves it out leaves a key that pages exactly."""
    dest = str(tmp_path / "dest.db")
    result = sync(
        spec(str(events), dest, key=("seq",), filters=(Filter(column="payload", op="eq", value="p9"),))
    )
    assert result.processed_rows == 1


def test_a_postgres_source_is_checked_the_same_way(events: Path, pg_db: str, tmp_path: Path) -> None:
    loaded = sync(spec(str(events), pg_db))
    assert loaded.processed_rows == 1000
    with pytest.raises(UsageError, match=r"is not unique"):
        sync(spec(pg_db, str(tmp_path / "back.db"), key=("ts",)))


def test_the_cli_says_it_in_one_line_and_exits_2(events: Path, pg_db: str) -> None:
    proc = run_cli("copy", str(events), pg_db, "--table", "ev", "--key", "ts")
    assert proc.returncode == 2, proc.stderr
    assert "is not unique" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("since", "until"), [("2026-07-01", "2026-06-01"), ("2026-06-01", "2026-06-01")])
def test_an_empty_date_range_is_refused_and_a_replace_keeps_the_table(
    tmp_path: Path, pg_db: str, since: str, until: str
) -> None:
    source = str(tmp_path / "bets.db")
    make_bets(source, 200)
    assert (
        sync(SyncSpec(source=source, destination=pg_db, tables=[TableSpec(name="bets")])).processed_rows
        == 200
    )
    proc = run_cli(
        "copy", source, pg_db, "--table", "bets", "--mode", "replace",
        "--date-column", "placed_at", "--since", since, "--until", until,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "is an empty range (--since must be before --until)" in proc.stderr
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT count(*) FROM bets").fetchone() == (200,)


def test_a_filtered_replace_that_selects_no_row_keeps_the_table(tmp_path: Path, pg_db: str) -> None:
    """A --where typo (a channel no row has) replaced the table with nothing, exit 0."""
    source = str(tmp_path / "bets.db")
    make_bets(source, 200)
    replace = ("copy", source, pg_db, "--table", "bets", "--mode", "replace")
    assert run_cli(*replace).returncode == 0
    proc = run_cli(*replace, "--where", "channel=XX")
    assert proc.returncode == 2, proc.stderr
    assert "no row of 'bets' matches channel = 'XX': --mode replace would leave 'bets' empty" in proc.stderr
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT count(*) FROM bets").fetchone() == (200,)
        assert conn.execute("SELECT to_regclass('bets__bulksync_new')").fetchone() == (None,)
    empty = str(tmp_path / "empty.db")
    make_bets(empty, 0)  # an unfiltered replace of an empty table still mirrors it
    assert run_cli("copy", empty, pg_db, "--table", "bets", "--mode", "replace").returncode == 0


@pytest.mark.parametrize(
    ("stored", "said"),
    [
        ([1_704_067_200 + i for i in range(20)], "holds a number ('1704067200' at id=1)"),
        (
            [f"2024-01-01 10:{i:02d}:00-05:00" for i in range(20)],
            "holds a time with a UTC offset ('2024-01-01 10:00:00-05:00' at id=1)",
        ),
    ],
    ids=["unix-seconds", "utc-offset"],
)
def test_a_sqlite_datetime_cursor_that_does_not_sort_as_time_is_refused(
    tmp_path: Path, pg_db: str, stored: list[object], said: str
) -> None:
    """The watermark is bound as UTC text: a Unix-time cursor (every number sorts before every
    text) never passed it, and '2024-01-01 11:00:00-05:00' (str() of an aware datetime) sorted
    below a watermark of 15:20 UTC: the next run said "already up to date", the rows were lost."""
    src = tmp_path / "times.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, updated_at DATETIME)")
        conn.executemany("INSERT INTO ev VALUES (?, ?)", list(enumerate(stored, start=1)))
    with pytest.raises(UsageError, match=r"^table 'ev': the cursor updated_at " + re.escape(said)):
        sync(spec(str(src), pg_db, Mode.INCREMENTAL, cursor="updated_at"))
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT to_regclass('ev')").fetchone() == (None,)
    with sqlite3.connect(src) as conn:  # UTC text (a 'T' and a 'Z' too) sorts as time
        conn.execute("UPDATE ev SET updated_at = '2024-01-01T15:' || printf('%02d', id) || ':00Z'")
    assert sync(spec(str(src), pg_db, Mode.INCREMENTAL, cursor="updated_at")).processed_rows == 20


def test_lag_seconds_on_a_text_cursor_is_refused_not_ignored(tmp_path: Path, pg_db: str) -> None:
    """A text cursor has no time window: --lag-seconds was dropped without a word."""
    src = tmp_path / "versions.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, ver TEXT NOT NULL)")
        conn.executemany("INSERT INTO ev VALUES (?, ?)", [(i, f"v{i:04d}") for i in range(1, 11)])
    assert sync(spec(str(src), pg_db, Mode.INCREMENTAL, cursor="ver")).processed_rows == 10
    lagged = spec(str(src), pg_db, Mode.INCREMENTAL, cursor="ver").model_copy(update={"lag_seconds": 3600})
    with pytest.raises(UsageError, match=r"^table 'ev': --lag-seconds needs a cursor of times or numbers"):
        sync(lagged)
