"""Write a generated dataset into any destination: drop and create the tables, stream the
batches (one transaction each), then build each table's indexes once its rows are in.

A generator thread fills a two-slot queue while the calling thread writes, so numpy work and
database work overlap (a table's indexes build while the next table is being generated); the
destination is only ever used by the calling thread. SQLite files take a faster path
(``sqlite_file``): same tables, same rows.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import closing

import pyarrow as pa

from bulksync.connectors.base import Connector
from bulksync.connectors.registry import open_connector, scheme_of
from bulksync.datagen.plan import BATCH_ROWS, Plan, iter_batches, make_plan
from bulksync.datagen.tables import TABLES
from bulksync.errors import UsageError

Progress = Callable[[str, int, int], None]
Convert = Callable[[pa.RecordBatch], pa.RecordBatch]
Item = tuple[str, pa.RecordBatch] | BaseException | None  # None: every batch was produced


def generate(
    url: str,
    *,
    scale: str = "small",
    seed: int = 42,
    tables: Sequence[str] | None = None,
    rows_override: Mapping[str, int] | None = None,
    replace: bool = True,
    on_progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
    until: dt.date | None = None,
) -> dict[str, int]:
    """Generate a betting dataset into ``url``; return the rows written per table.

    ``on_progress(table, rows_done, rows_total)`` runs in the calling thread after each batch.
    ``until``: the last day with bets (``make_plan``; the CLI's default is today).
    Without ``replace``, an existing table is an error rather than being dropped. A SQLite file
    that does not exist yet is built under a temporary name and renamed when complete: a failed
    run leaves no file behind.
    """
    plan = make_plan(scale, seed=seed, tables=tables, rows_override=rows_override, until=until)
    if batch_rows < 1:
        raise UsageError(f"batch_rows must be at least 1, got {batch_rows}")
    if scheme_of(url) == "sqlite":
        from bulksync.datagen.sqlite_file import generate_sqlite

        generate_sqlite(url, plan, replace=replace, batch_rows=batch_rows, on_progress=on_progress)
        return dict(plan.rows)
    conn = open_connector(url, create=True)
    try:
        prepare(conn, plan, replace=replace)

        def write(name: str, batch: pa.RecordBatch) -> None:
            with conn.transaction() as tx:
                tx.write(name, batch)

        load(
            plan,
            write=write,
            index=lambda name: conn.create_indexes(TABLES[name]),
            batch_rows=batch_rows,
            on_progress=on_progress,
        )
    finally:
        conn.close()
    return dict(plan.rows)


def prepare(conn: Connector, plan: Plan, *, replace: bool) -> None:
    """Create every selected table without indexes (they are cheaper to build after the load)."""
    if not replace:
        for name in plan.rows:
            if conn.find(name) is not None:
                raise UsageError(
                    f"table {name!r} already exists in the destination; "
                    "generate with replace to drop and recreate it"
                )
    for name in plan.rows:
        conn.drop_table(name)
        conn.create_table(TABLES[name], with_indexes=plan.rows[name] == 0)


def load(
    plan: Plan,
    *,
    write: Callable[[str, pa.RecordBatch], None],
    index: Callable[[str], None],
    batch_rows: int,
    on_progress: Progress | None,
    convert: Convert | None = None,
) -> None:
    """``write`` every batch of the plan, then ``index`` each table once all its rows are in.

    ``convert`` runs on the generator thread (off the writer's path) before a batch is queued.
    """
    done = dict.fromkeys(plan.rows, 0)
    with closing(_ahead(plan, batch_rows=batch_rows, convert=convert)) as batches:
        for name, batch in batches:
            if done[name] == 0 and on_progress is not None:
                on_progress(name, 0, plan.rows[name])  # the clock for this table's rate starts now
            write(name, batch)
            done[name] += batch.num_rows
            if on_progress is not None:
                on_progress(name, done[name], plan.rows[name])
            if done[name] == plan.rows[name]:
                index(name)


def _ahead(plan: Plan, *, batch_rows: int, convert: Convert | None) -> Generator[tuple[str, pa.RecordBatch]]:
    """Every batch of the plan in load order, generated on a thread at most two batches ahead."""
    slots: queue.Queue[Item] = queue.Queue(maxsize=2)
    stop = threading.Event()
    worker = threading.Thread(
        target=_produce, args=(plan, batch_rows, convert, slots, stop), name="datagen", daemon=True
    )
    worker.start()
    try:
        while (item := slots.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _produce(
    plan: Plan,
    batch_rows: int,
    convert: Convert | None,
    slots: queue.Queue[Item],
    stop: threading.Event,
) -> None:
    """Generate every batch of the plan into ``slots``; give up when the writer has stopped."""
    try:
        for name in plan.rows:
            for batch in iter_batches(plan, name, batch_rows=batch_rows):
                item = (name, batch if convert is None else convert(batch))
                if not _offer(slots, item, stop):
                    return
        _offer(slots, None, stop)
    except BaseException as exc:  # handed to the writer thread, which re-raises it
        _offer(slots, exc, stop)


def _offer(slots: queue.Queue[Item], item: Item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            slots.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
