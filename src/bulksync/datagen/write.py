"""Write a generated dataset into any destination: drop and create the tables, stream the
batches (one transaction each), then build the indexes.

A generator thread fills a two-slot queue while the calling thread writes, so numpy work and
database work overlap (a table's indexes build while the next table is being generated); the
connector is only ever used by the calling thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence

import pyarrow as pa

from bulksync.connectors.base import Connector
from bulksync.connectors.registry import open_connector
from bulksync.datagen.plan import BATCH_ROWS, Plan, iter_batches, make_plan
from bulksync.datagen.tables import TABLES
from bulksync.errors import UsageError

Progress = Callable[[str, int, int], None]
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
) -> dict[str, int]:
    """Generate a betting dataset into ``url``; return the rows written per table.

    ``on_progress(table, rows_done, rows_total)`` runs in the calling thread after each batch.
    Without ``replace``, an existing table is an error rather than being dropped.
    """
    plan = make_plan(scale, seed=seed, tables=tables, rows_override=rows_override)
    if batch_rows < 1:
        raise UsageError(f"batch_rows must be at least 1, got {batch_rows}")
    conn = open_connector(url, create=True)
    try:
        _prepare(conn, plan, replace=replace)
        _load(conn, plan, batch_rows=batch_rows, on_progress=on_progress)
    finally:
        conn.close()
    return dict(plan.rows)


def _prepare(conn: Connector, plan: Plan, *, replace: bool) -> None:
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


def _load(conn: Connector, plan: Plan, *, batch_rows: int, on_progress: Progress | None) -> None:
    """Write the batches as the generator thread produces them; index each finished table."""
    slots: queue.Queue[Item] = queue.Queue(maxsize=2)
    stop = threading.Event()
    worker = threading.Thread(
        target=_produce, args=(plan, batch_rows, slots, stop), name="datagen", daemon=True
    )
    worker.start()
    done = dict.fromkeys(plan.rows, 0)
    try:
        while (item := slots.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            name, batch = item
            if done[name] == 0 and on_progress is not None:
                on_progress(name, 0, plan.rows[name])  # the clock for this table's rate starts now
            with conn.transaction() as tx:
                tx.write(name, batch)
            done[name] += batch.num_rows
            if on_progress is not None:
                on_progress(name, done[name], plan.rows[name])
            if done[name] == plan.rows[name]:
                conn.create_indexes(TABLES[name])
    finally:
        stop.set()
        worker.join()


def _produce(plan: Plan, batch_rows: int, slots: queue.Queue[Item], stop: threading.Event) -> None:
    """Generate every batch of the plan into ``slots``; give up when the writer has stopped."""
    try:
        for name in plan.rows:
            for batch in iter_batches(plan, name, batch_rows=batch_rows):
                if not _offer(slots, (name, batch), stop):
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
