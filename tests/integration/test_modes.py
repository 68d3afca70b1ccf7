"""Every mode in every direction: the destination ends up holding exactly the source's rows."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from bulksync import Filter, Mode, SyncResult, SyncSpec, TableSpec, sync
from bulksync.connectors.base import PartitionState
from bulksync.connectors.registry import open_connector
from bulksync.connectors.sql_transaction import SqlTransaction
from bulksync.engine.progress import ProgressEvent
from bulksync.schema import TableSchema
from helpers import (
    BASE_TIME,
    bet_rows,
    bets_schema,
    expected_rows,
    make_bets,
    merged,
    pg_column_types,
    pg_indexes,
    pg_primary_key,
    pg_tables,
    sqlite_indexes,
    sqlite_primary_key,
    sqlite_tables,
    table_rows,
    updated_at_of,
    write_bets,
)

pytestmark = pytest.mark.integration

ROWS = 2000
DIRECTIONS = ["sqlite->pg", "pg->sqlite", "pg->pg", "sqlite->sqlite"]


@pytest.fixture(params=DIRECTIONS)
def ends(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(source URL, destination URL) for one direction; each database starts empty."""
    src_kind, dst_kind = request.param.split("->")
    src = request.getfixturevalue("pg_db") if src_kind == "pg" else str(tmp_path / "src.db")
    # the destination SQLite file is named by URL, the source by plain path: both forms work
    dst = request.getfixturevalue("pg_db2") if dst_kind == "pg" else f"sqlite:///{tmp_path}/dst.db"
    return src, dst


def run(
    src: str, dst: str, mode: Mode = Mode.APPEND, *, table: TableSpec | None = None, **options: Any
) -> SyncResult:
    """One sync of ``bets`` with small batches (several per table) and the counters checked."""
    if table is None:
        table = TableSpec(name="bets", cursor="updated_at" if mode == Mode.INCREMENTAL else None)
    options.setdefault("batch_mb", 0.05)
    result = sync(SyncSpec(source=src, destination=dst, tables=(table,), mode=mode, **options))
    assert result.status == "succeeded"
    for t in result.tables:
        assert t.status == "succeeded", t.error
        assert t.rows_read == t.rows_written + t.rows_rejected
    return result


def test_upsert_updates_changed_rows_and_inserts_new_ones(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    first = run(src, dst, Mode.UPSERT)
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))
    assert (first.processed_rows, first.failed_rows) == (ROWS, 0)
    assert first.batch_count > 1
    assert merged(first) == (ROWS, 0, 0)
    write_bets(src, range(100, 200), version=1)  # updates
    write_bets(src, range(ROWS + 1, ROWS + 51))  # inserts

    second = run(src, dst, Mode.UPSERT)

    assert second.processed_rows == ROWS + 50  # upsert reads everything; only changes land
    assert merged(second) == (50, 100, ROWS - 100)
    third = run(src, dst, Mode.UPSERT)
    assert merged(third) == (0, 0, ROWS + 50)  # a re-run with nothing new changes nothing
    assert table_rows(dst, "bets") == [
        *expected_rows(range(1, 100)),
        *expected_rows(range(100, 200), version=1),
        *expected_rows(range(200, ROWS + 51)),
    ]


def test_upsert_over_islands_of_existing_rows_writes_each_row_once(ends: tuple[str, str]) -> None:
    """Plain inserts are tried first and refused where keys exist: runs of new rows, runs of
    existing (changed) rows and a table ending in new rows all end as the upsert's result."""
    src, dst = ends
    make_bets(src, ROWS)
    make_bets(dst, 0)
    write_bets(dst, [*range(1, 301), *range(1201, 1261)], version=1)  # islands of stale rows

    result = run(src, dst, Mode.UPSERT, chunk_rows=40, workers=1)

    assert result.batch_count == ROWS // 40
    assert merged(result) == (ROWS - 360, 360, 0)
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))


def test_incremental_copies_only_rows_past_the_watermark(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    first = run(src, dst, Mode.INCREMENTAL)
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))
    assert (first.processed_rows, first.failed_rows) == (ROWS, 0)
    assert first.batch_count > 1  # chunk boundaries fall inside groups of tied updated_at
    # new rows share the watermark's updated_at (a tie, broken by the larger id) ...
    assert updated_at_of(ROWS + 1) == updated_at_of(ROWS)
    write_bets(src, range(ROWS + 1, ROWS + 21))
    # ... and updated rows moved their cursor forward
    write_bets(src, range(10, 20), version=1)

    second = run(src, dst, Mode.INCREMENTAL)

    assert (second.rows_read, second.processed_rows) == (30, 30)
    assert merged(second) == (20, 10, 0)
    assert table_rows(dst, "bets") == [
        *expected_rows(range(1, 10)),
        *expected_rows(range(10, 20), version=1),
        *expected_rows(range(20, ROWS + 21)),
    ]

    third = run(src, dst, Mode.INCREMENTAL)
    assert (third.rows_read, third.processed_rows) == (0, 0)


def test_append_rerun_copies_only_new_rows(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    first = run(src, dst, Mode.APPEND)
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))
    assert (first.processed_rows, first.failed_rows) == (ROWS, 0)
    assert first.batch_count > 1
    write_bets(src, range(ROWS + 1, ROWS + 101))

    second = run(src, dst, Mode.APPEND)
    third = run(src, dst, Mode.APPEND)

    assert second.processed_rows == 100
    assert third.processed_rows == 0
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 101))


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.INCREMENTAL])
def test_a_rerun_after_the_destination_table_was_dropped_copies_every_row_again(
    ends: tuple[str, str], mode: Mode
) -> None:
    """The checkpoints say "delivered up to key N"; with the table gone, so are those rows."""
    src, dst = ends
    make_bets(src, ROWS)
    run(src, dst, mode)
    conn = open_connector(dst)
    try:
        conn.drop_table("bets")
    finally:
        conn.close()

    again = run(src, dst, mode)

    assert again.processed_rows == ROWS
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.INCREMENTAL])
@pytest.mark.parametrize("deleted", ["id > 0", f"id > {ROWS - 10}"])  # emptied; its newest rows
def test_a_rerun_says_so_when_rows_it_delivered_were_deleted(
    ends: tuple[str, str], mode: Mode, deleted: str
) -> None:
    """Rows deleted from the destination are not copied again (a consumer may drain a table it
    is fed on purpose), but the run no longer reports "up to date" in silence."""
    src, dst = ends
    make_bets(src, ROWS)
    intact = run(src, dst, mode)
    assert intact.tables[0].warnings == []
    conn = open_connector(dst)
    try:
        with conn.transaction():
            conn._execute(f"DELETE FROM bets WHERE {deleted}")
    finally:
        conn.close()
    write_bets(src, range(ROWS + 1, ROWS + 6))

    again = run(src, dst, mode)

    assert again.processed_rows == 5  # only what is new since
    (warning,) = again.tables[0].warnings
    assert "'bets' no longer holds the last row an earlier run copied (id=" in warning
    assert "--restart copies every row" in warning
    assert run(src, dst, mode).tables[0].warnings == []  # its newest row is there again


def _stale_destination(dst: str) -> None:
    """An older ``bets`` in the destination: other rows, other values, no secondary index."""
    conn = open_connector(dst, create=True)
    try:
        old = bets_schema()
        conn.create_table(TableSchema(old.name, old.columns, old.primary_key), with_indexes=False)
        with conn.transaction() as tx:
            tx.write("bets", bet_rows(range(ROWS - 5, ROWS + 20), version=7))
    finally:
        conn.close()


@pytest.mark.parametrize("ends", ["sqlite->pg", "pg->pg"], indirect=True)
def test_replace_into_postgres_swaps_in_a_table_with_mapped_types(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    _stale_destination(dst)
    old = table_rows(dst, "bets")
    seen: list[int] = []

    def peek(event: ProgressEvent) -> None:
        if event.phase == "copying":
            with psycopg.connect(dst) as conn:
                seen.append(conn.execute("SELECT count(*) FROM bets").fetchone()[0])

    result = sync(
        SyncSpec(
            source=src, destination=dst, tables=(TableSpec(name="bets"),), mode=Mode.REPLACE, batch_mb=0.05
        ),
        listeners=[peek],
    )

    assert (result.status, result.processed_rows, result.failed_rows) == ("succeeded", ROWS, 0)
    assert len(seen) > 1
    assert set(seen) == {len(old)}
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))
    assert "bets__bulksync_new" not in pg_tables(dst)
    assert pg_primary_key(dst, "bets") == ["id"]
    definitions = pg_indexes(dst, "bets")
    assert "bets_pkey" in definitions
    assert any(d.endswith("(channel)") and "UNIQUE" not in d for d in definitions.values())
    assert pg_column_types(dst, "bets") == {
        "id": "bigint",
        "player": "text",
        "channel": "text",
        "stake": "numeric(12,2)",
        "placed_at": "timestamp without time zone",
        "updated_at": "timestamp without time zone",
        "settled": "boolean",
    }


@pytest.mark.parametrize("ends", ["pg->sqlite", "sqlite->sqlite"], indirect=True)
def test_replace_into_sqlite_keeps_indexes_and_key(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    _stale_destination(dst)

    run(src, dst, Mode.REPLACE)
    run(src, dst, Mode.REPLACE)  # a second replace swaps again, it does not add

    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))
    assert "bets__bulksync_new" not in sqlite_tables(dst)
    assert sqlite_primary_key(dst, "bets") == ["id"]
    assert ("channel",) in sqlite_indexes(dst, "bets").values()


def test_replace_into_sqlite_waits_for_another_writer(tmp_path: Path) -> None:
    """SQLite has one writer at a time: the swap must wait for it (busy timeout), not fail."""
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    make_bets(src, ROWS)
    setup = open_connector(dst, create=True)
    setup.create_table(bets_schema("audit"), with_indexes=False)
    setup.close()
    writers: list[threading.Thread] = []

    def write_audit_row(locked: threading.Event) -> None:
        other = open_connector(dst)
        try:
            with other.transaction() as tx:
                tx.write("audit", bet_rows([1]))
                locked.set()
                time.sleep(0.3)  # holds SQLite's write lock while the swap starts
        finally:
            other.close()

    def on_swap(event: ProgressEvent) -> None:
        if event.phase == "swapping":
            locked = threading.Event()
            writers.append(threading.Thread(target=write_audit_row, args=(locked,)))
            writers[0].start()
            assert locked.wait(5)

    try:
        result = sync(
            SyncSpec(source=src, destination=dst, tables=(TableSpec(name="bets"),), mode=Mode.REPLACE),
            listeners=[on_swap],
        )
    finally:
        for writer in writers:
            writer.join()

    assert (result.status, result.processed_rows) == ("succeeded", ROWS)
    assert table_rows(dst, "bets") == expected_rows(range(1, ROWS + 1))
    assert table_rows(dst, "audit") == expected_rows([1])


@pytest.mark.parametrize(
    ("ends", "mode"), [("sqlite->pg", Mode.APPEND), ("pg->sqlite", Mode.REPLACE)], indirect=["ends"]
)
def test_dest_table_names_the_destination(ends: tuple[str, str], mode: Mode) -> None:
    src, dst = ends
    make_bets(src, ROWS)

    run(src, dst, mode, table=TableSpec(name="bets", dest_name="bets_copy"))

    assert table_rows(dst, "bets_copy") == expected_rows(range(1, ROWS + 1))
    if dst.startswith("postgresql"):
        assert "bets" not in pg_tables(dst)
        assert pg_primary_key(dst, "bets_copy") == ["id"]
        assert any(d.endswith("(channel)") for d in pg_indexes(dst, "bets_copy").values())
    else:
        assert "bets" not in sqlite_tables(dst)
        assert sqlite_primary_key(dst, "bets_copy") == ["id"]
        assert ("channel",) in sqlite_indexes(dst, "bets_copy").values()


@pytest.mark.parametrize("ends", ["sqlite->pg", "pg->sqlite"], indirect=True)
def test_filters_copy_exactly_the_matching_rows(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, ROWS)
    # both bounds fall exactly on a whole-second VN row: 603 is in (>=), 2403 is out (<)
    lo, hi = BASE_TIME + dt.timedelta(seconds=603), BASE_TIME + dt.timedelta(seconds=2403)
    filters = (
        Filter(column="channel", op="eq", value="VN"),
        Filter(column="placed_at", op="ge", value="2024-01-01T00:10:03"),
        Filter(column="placed_at", op="lt", value="2024-01-01 00:40:03"),
    )

    result = run(src, dst, table=TableSpec(name="bets", filters=filters))

    wanted = [r for r in expected_rows(range(1, ROWS + 1)) if r[2] == "VN" and r[4] and lo <= r[4] < hi]
    assert wanted[0][0] == 603 and wanted[-1][0] < 2403
    assert table_rows(dst, "bets") == wanted
    assert result.processed_rows == len(wanted)


@pytest.mark.parametrize("ends", ["sqlite->pg", "pg->sqlite"], indirect=True)
def test_partitions_copy_every_row_exactly_once(ends: tuple[str, str]) -> None:
    src, dst = ends
    make_bets(src, 5000)

    result = run(src, dst, workers=2, partition_min_rows=1000)

    assert result.tables[0].partitions == 2
    assert (result.rows_read, result.processed_rows, result.failed_rows) == (5000, 5000, 0)
    assert table_rows(dst, "bets") == expected_rows(range(1, 5001))


def test_refused_rows_are_counted_as_rejected(pg_db: str, tmp_path: Path) -> None:
    src = str(tmp_path / "src.db")
    make_bets(src, ROWS)
    with psycopg.connect(pg_db) as conn:  # the destination refuses ids ending in ...07 (a CHECK)
        conn.execute(
            "CREATE TABLE bets (id bigint PRIMARY KEY CHECK (id % 100 <> 7), player text, "
            "channel text NOT NULL, stake numeric(12,2), placed_at timestamp, "
            "updated_at timestamp NOT NULL, settled boolean)"
        )

    result = run(src, pg_db)

    refused = [i for i in range(1, ROWS + 1) if i % 100 == 7]
    assert table_rows(pg_db, "bets") == expected_rows(set(range(1, ROWS + 1)) - set(refused))
    assert (result.rows_read, result.processed_rows, result.failed_rows) == (ROWS, ROWS - 20, 20)
    with psycopg.connect(pg_db) as conn:
        keys = conn.execute("SELECT row_key FROM bulksync.rejects WHERE tbl = 'bets' ORDER BY 1").fetchall()
    assert sorted(json.loads(k)[0] for (k,) in keys) == refused


def test_sqlite_cursor_mixing_whole_and_fractional_seconds_is_read_once(tmp_path: Path) -> None:
    """A SQLite batch with any sub-second timestamp stores its whole seconds as '…:SS.000000'."""
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    conn = open_connector(src, create=True)
    try:
        conn.create_table(bets_schema(), with_indexes=True)
        batch = bet_rows(range(1, ROWS + 1))
        cursor = [
            updated_at_of(i) + dt.timedelta(microseconds=int(i % 1000 == 999)) for i in range(1, ROWS + 1)
        ]
        with conn.transaction() as tx:
            tx.write("bets", batch.set_column(5, "updated_at", pa.array(cursor, pa.timestamp("us"))))
    finally:
        conn.close()

    result = run(src, dst, Mode.INCREMENTAL)

    assert (result.rows_read, result.processed_rows) == (ROWS, ROWS)
    assert len(table_rows(dst, "bets")) == ROWS


def test_created_postgres_table_has_no_invented_defaults(tmp_path: Path, pg_db: str) -> None:
    """No default the source lacks; SQLite's INTEGER PRIMARY KEY (the rowid, which numbers new
    rows) becomes an identity column, and only it has a sequence."""
    src = str(tmp_path / "src.db")
    make_bets(src, 10)
    sync(SyncSpec(source=src, destination=pg_db, tables=(TableSpec(name="bets"),)))
    with psycopg.connect(pg_db) as conn:
        defaults = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'bets' AND (column_default IS NOT NULL OR is_identity = 'YES')"
        ).fetchall()
        sequences = conn.execute("SELECT relname FROM pg_class WHERE relkind = 'S'").fetchall()
    assert (defaults, sequences) == ([("id",)], [("bets_id_seq",)])


@pytest.mark.parametrize("source_kind", ["pg", "sqlite"])  # Arrow batches; SQLite's own pull
def test_a_cancel_commits_nothing_new_while_partitions_wait_for_sqlites_one_writer(
    source_kind: str, pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite takes one writer at a time: partitions holding a batch queue for it. A cancel
    while they wait must drop their batches, not commit each on its turn. The cancel lands
    inside the first batch's transaction (while every other partition waits for the writer),
    so exactly that one batch commits. (Cancelling from a progress listener raced: the listener
    runs after the writer is released, and a loaded machine let two more batches in first.)"""
    src = pg_db if source_kind == "pg" else str(tmp_path / "src.db")
    make_bets(src, 40_000)
    cancel = threading.Event()
    save_state = SqlTransaction.save_state

    def cancel_in_the_first_batch(self: SqlTransaction, state: PartitionState) -> None:
        save_state(self, state)
        if state.rows:
            cancel.set()

    monkeypatch.setattr(SqlTransaction, "save_state", cancel_in_the_first_batch)
    spec = SyncSpec(
        source=src, destination=f"sqlite:///{tmp_path}/dst.db", tables=(TableSpec(name="bets"),),
        workers=8, chunk_rows=2_000, partition_min_rows=5_000,
    )  # fmt: skip
    result = sync(spec, cancel=cancel)

    assert result.status == "cancelled"
    assert result.batch_count == 1, result.batch_count
    assert len(table_rows(f"sqlite:///{tmp_path}/dst.db", "bets")) == result.processed_rows
