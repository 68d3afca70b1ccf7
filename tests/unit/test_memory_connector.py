"""The memory connector end to end through ``bulksync.sync``: memory → memory and memory → SQLite,
every mode, cancelling, and resuming after injected failures.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import crashkit
from bulksync import (
    Mode,
    PermanentError,
    ProgressEvent,
    SyncFailed,
    SyncResult,
    SyncSpec,
    TableSpec,
    TransientError,
    sync,
)
from bulksync.connectors.base import ChunkQuery, Merged
from bulksync.connectors.memory import MemoryConnector
from bulksync.connectors.registry import open_connector
from bulksync.connectors.sqlite import SqliteConnector
from bulksync.schema import Column, TableSchema

ROWS = 3_000
LATER = dt.timedelta(days=30)


@pytest.fixture
def source_url() -> Iterator[str]:
    name = f"src{uuid.uuid4().hex[:8]}"
    conn = MemoryConnector(f"memory://{name}")
    conn.create_table(crashkit.SCHEMA, with_indexes=False)
    with conn.transaction() as tx:
        tx.write("t", crashkit.make_batch(1, ROWS, seed=17))
    yield f"memory://{name}"
    MemoryConnector.drop_store(name)


@pytest.fixture(params=["memory", "sqlite"])
def dest_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "dest.db")
        return
    name = f"dst{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    MemoryConnector.drop_store(name)


def read_all(url: str) -> pa.Table:
    """Every row of ``t`` in key order, in the source's Arrow types."""
    conn = open_connector(url)
    try:
        schema = conn.describe("t")
        batch = conn.read_chunk(ChunkQuery(schema, ("id",), limit=10 * ROWS))
    finally:
        conn.close()
    return pa.Table.from_batches([batch]).cast(crashkit.SCHEMA.arrow_schema())


def assert_same(want: pa.Table, got: pa.Table) -> None:
    want_ids, got_ids = want.column("id").to_pylist(), got.column("id").to_pylist()
    assert len(got_ids) == len(set(got_ids)), f"{len(got_ids) - len(set(got_ids))} keys doubled"
    assert set(want_ids) <= set(got_ids), f"{len(set(want_ids) - set(got_ids))} rows lost"
    assert got_ids == want_ids, f"{len(set(got_ids) - set(want_ids))} unexpected rows"
    differ = [i for i, (a, b) in enumerate(zip(want.to_pylist(), got.to_pylist(), strict=True)) if a != b]
    assert not differ, f"{len(differ)} rows differ, first: {want.slice(differ[0], 1).to_pylist()} vs " + str(
        got.slice(differ[0], 1).to_pylist()
    )


def spec(source: str, dest: str, mode: Mode = Mode.APPEND, **kw: Any) -> SyncSpec:
    cursor = "updated_at" if mode is Mode.INCREMENTAL else None
    defaults: dict[str, Any] = {"batch_mb": 0.02, "workers": 2, "partition_min_rows": 500}
    return SyncSpec(
        source=source,
        destination=dest,
        tables=[TableSpec(name="t", cursor=cursor)],
        mode=mode,
        **{**defaults, **kw},
    )


def change_source(url: str) -> tuple[pa.Table, pa.Table]:
    """Update every 10th row (and bump its updated_at), add 500 new rows; (updated, added)."""
    before = read_all(url)
    changed = before.take(pa.array(range(0, ROWS, 10)))
    changed = changed.set_column(5, "note", pa.array(["changed"] * changed.num_rows))
    changed = _later(changed)
    added = _later(pa.Table.from_batches([crashkit.make_batch(ROWS + 1, 500, seed=18)]))
    conn = MemoryConnector(url)
    with conn.transaction() as tx:
        for part in (changed, added):
            tx.write("t", part.to_batches()[0], upsert_key=("id",))
    return changed, added


def _later(table: pa.Table) -> pa.Table:
    bumped = pc.add(table.column("updated_at"), pa.scalar(LATER, pa.duration("us")))
    return table.set_column(6, "updated_at", bumped.cast(pa.timestamp("us")))


@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_copies_exactly_and_a_second_run_applies_the_changes(
    source_url: str, dest_url: str, mode: Mode
) -> None:
    first = sync(spec(source_url, dest_url, mode))
    assert first.status == "succeeded" and first.processed_rows == ROWS
    before = read_all(source_url)
    assert_same(before, read_all(dest_url))

    changed, added = change_source(source_url)
    second = sync(spec(source_url, dest_url, mode))
    assert second.status == "succeeded"
    if mode is Mode.APPEND:
        # append continues after the last key it delivered: new rows only, old ones untouched
        want = pa.concat_tables([before, added.cast(before.schema)])
        assert second.rows_read == added.num_rows
    else:
        want = read_all(source_url)
    if mode is Mode.INCREMENTAL:
        assert second.rows_read == changed.num_rows + added.num_rows  # only what moved past the watermark
    assert_same(want, read_all(dest_url))
    conn = open_connector(dest_url)
    try:
        assert conn.list_tables() == ["t"], "a staging table was left behind"
    finally:
        conn.close()


def cancel_after_first_batch(cancel: threading.Event) -> Callable[[ProgressEvent], None]:
    def listen(event: ProgressEvent) -> None:
        if event.phase == "copying":
            cancel.set()

    return listen


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT, Mode.INCREMENTAL])
def test_cancel_stops_between_batches_and_a_rerun_finishes_the_copy(
    source_url: str, dest_url: str, mode: Mode
) -> None:
    cancel = threading.Event()
    stopped = sync(
        spec(source_url, dest_url, mode), listeners=[cancel_after_first_batch(cancel)], cancel=cancel
    )
    assert stopped.status == "cancelled"
    assert all(t.status == "cancelled" for t in stopped.tables)
    partial = read_all(dest_url).num_rows
    assert 0 < partial < ROWS and stopped.processed_rows == partial

    done = sync(spec(source_url, dest_url, mode))
    assert done.status == "succeeded"
    assert done.tables[0].resumed_rows == partial
    assert done.rows_read == ROWS - partial, "the re-run copied rows the cancelled run had committed"
    assert_same(read_all(source_url), read_all(dest_url))


def _flaky(monkeypatch: pytest.MonkeyPatch, dest_url: str, *, fail_on: int, error: Exception) -> list[int]:
    """Make the destination's n-th batch write raise ``error`` (once); returns the call log."""
    calls: list[int] = []
    if dest_url.startswith("memory://"):
        original: Any = MemoryConnector.write

        def write(self: MemoryConnector, table: str, batch: pa.RecordBatch, **options: Any) -> Merged:
            calls.append(batch.num_rows)
            if len(calls) == fail_on:
                raise error
            return original(self, table, batch, **options)

        monkeypatch.setattr(MemoryConnector, "write", write)
    else:
        original = SqliteConnector.write_batch

        def write_batch(self: SqliteConnector, table: str, batch: pa.RecordBatch, *args: Any) -> Merged:
            calls.append(batch.num_rows)
            if len(calls) == fail_on:
                raise error
            return original(self, table, batch, *args)

        monkeypatch.setattr(SqliteConnector, "write_batch", write_batch)
    return calls


def test_a_transient_error_is_retried_and_the_copy_is_exact(
    source_url: str, dest_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _flaky(monkeypatch, dest_url, fail_on=3, error=TransientError("connection reset"))
    result = sync(spec(source_url, dest_url))
    assert result.status == "succeeded" and result.processed_rows == ROWS
    assert len(calls) == result.batch_count + 1, "the failed batch was not written again"
    assert_same(read_all(source_url), read_all(dest_url))


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.INCREMENTAL])
def test_a_permanent_error_fails_with_a_partial_result_and_the_rerun_resumes(
    source_url: str, dest_url: str, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    with monkeypatch.context() as patch:
        _flaky(patch, dest_url, fail_on=4, error=PermanentError("disk full"))
        with pytest.raises(SyncFailed, match="disk full") as failed:
            sync(spec(source_url, dest_url, mode))
    partial: SyncResult = failed.value.result
    committed = read_all(dest_url).num_rows
    assert partial.status == "failed" and partial.tables[0].status == "failed"
    assert partial.tables[0].error == "disk full"
    assert 0 < committed < ROWS
    assert partial.processed_rows == committed, (
        f"the failed run reports {partial.processed_rows} rows written, the destination holds {committed}"
    )

    done = sync(spec(source_url, dest_url, mode))
    assert done.status == "succeeded"
    assert done.tables[0].resumed_rows == committed
    assert done.rows_read == ROWS - committed, "the re-run did not continue from the checkpoint"
    assert_same(read_all(source_url), read_all(dest_url))


# -- a SQLite source written by bulksync in several batches ------------------------------------


def test_incremental_from_a_sqlite_file_reads_each_row_once(tmp_path: Path) -> None:
    """Cursor ties spread over batches that bulksync wrote with and without fractions."""
    at = dt.datetime(2026, 3, 29, 2, 30)
    schema = TableSchema(
        "t", (Column("id", pa.int64(), False), Column("u", pa.timestamp("us"), False)), ("id",)
    )
    source = str(tmp_path / "source.db")
    conn = open_connector(source, create=True)
    conn.create_table(schema, with_indexes=False)
    tied = [
        (range(1_000, 2_000), [at] * 1_000),
        (range(1, 601), [at] * 599 + [at + dt.timedelta(microseconds=1)]),
    ]
    for ids, stamps in tied:
        with conn.transaction() as tx:
            tx.write(
                "t",
                pa.record_batch({"id": pa.array(ids, pa.int64()), "u": pa.array(stamps, pa.timestamp("us"))}),
            )
    conn.close()
    dest = f"memory://inc{uuid.uuid4().hex[:8]}"
    run = spec(source, dest, Mode.INCREMENTAL, batch_mb=0.01, workers=1).model_copy(
        update={"tables": (TableSpec(name="t", cursor="u"),)}
    )
    try:
        result = sync_with_deadline(run, seconds=30)
        assert result.status == "succeeded", "the copy did not end by itself within 30 s"
        assert result.rows_read == 1_600, (
            f"read {result.rows_read} rows of 1,600 ({result.batch_count} batches)"
        )
        assert read_all_ids(dest) == [*range(1, 601), *range(1_000, 2_000)]
    finally:
        MemoryConnector.drop_store(dest.removeprefix("memory://"))


def sync_with_deadline(spec: SyncSpec, *, seconds: float) -> SyncResult:
    """Run ``sync`` in a thread and cancel it after ``seconds`` (a keyset walking backwards never ends)."""
    cancel = threading.Event()
    outcome: list[SyncResult | BaseException] = []

    def run() -> None:
        try:
            outcome.append(sync(spec, cancel=cancel))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(seconds)
    cancel.set()
    thread.join()
    (got,) = outcome
    if isinstance(got, BaseException):
        raise got
    return got


def read_all_ids(url: str) -> list[int]:
    conn = MemoryConnector(url)
    schema = conn.describe("t")
    return list(conn.read_chunk(ChunkQuery(schema, ("id",), limit=10_000)).column(0).to_pylist())


def test_two_transactions_on_one_store_keep_both_commits() -> None:
    """Partitions write through separate connectors to one store; no commit may undo another."""
    url = f"memory://tx{uuid.uuid4().hex[:8]}"
    first, second = MemoryConnector(url), MemoryConnector(url)
    first.create_table(crashkit.SCHEMA, with_indexes=False)
    written = threading.Event()

    def write_slowly() -> None:
        with first.transaction() as tx:
            tx.write("t", crashkit.make_batch(1, 10, seed=1))
            written.set()
            time.sleep(0.3)  # the other transaction begins meanwhile (unless it has to wait)

    def write_after() -> None:
        written.wait(5)
        with second.transaction() as tx:
            tx.write("t", crashkit.make_batch(11, 10, seed=1))

    try:
        threads = [threading.Thread(target=write_slowly), threading.Thread(target=write_after)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert read_all_ids(url) == list(range(1, 21)), "one transaction's commit overwrote the other's"
    finally:
        MemoryConnector.drop_store(url.removeprefix("memory://"))


def test_first_batch_counts_from_the_syncs_start_not_the_process(source_url: str, dest_url: str) -> None:
    """A server or a worker runs syncs for days: a sync's time to its first batch is its own,
    never the age of the process (a job record once said 1599 s)."""
    time.sleep(0.3)  # this process is already older than the sync will take to its first batch
    began = time.time()
    result = sync(spec(source_url, dest_url))
    took = time.time() - began
    assert result.first_batch_s is not None and result.first_commit_at is not None
    assert 0 < result.first_batch_s <= took  # the process is seconds older
    assert began < result.first_commit_at <= began + took
    assert result.to_dict()["first_batch_s"] == round(result.first_batch_s, 3)
