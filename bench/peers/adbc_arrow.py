"""Hand-written ADBC: SQLite reader in Arrow batches → pyarrow casts → ``adbc_ingest`` per batch.

A reader thread converts the next batch while the current one is ingested (binary COPY), one
commit per batch: what a careful engineer writes in an afternoon.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import adbc_driver_postgresql.dbapi as adbc_pg
import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa
import pyarrow.compute as pc

from bench.bets import COLUMNS, column_list
from bench.peers import main

BATCH_ROWS = 100_000
_ARROW_TYPES = {"bigint": pa.int64(), "text": pa.string(), "boolean": pa.bool_()}


def arrow_type(pg_type: str) -> pa.DataType:
    """The Arrow type ``adbc_ingest`` turns into ``pg_type``."""
    if pg_type.startswith("numeric("):
        precision, scale = pg_type[len("numeric(") : -1].split(",")
        return pa.decimal128(int(precision), int(scale))
    if pg_type == "timestamp":
        return pa.timestamp("us")
    return _ARROW_TYPES[pg_type]


TARGET = pa.schema([pa.field(c.name, arrow_type(c.pg_type), c.nullable) for c in COLUMNS])


def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
    """REAL → decimal (rounded to the scale first), TEXT → timestamp, 0/1 → boolean."""
    arrays = []
    for field, array in zip(TARGET, batch.columns, strict=True):
        if pa.types.is_decimal(field.type):
            array = pc.round(array, field.type.scale).cast(field.type, safe=False)
        arrays.append(array.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=TARGET)


def read_batches(source: str, table: str) -> Iterator[pa.RecordBatch]:
    with adbc_sqlite.connect(source) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        cur.execute(f"SELECT {column_list()} FROM {table} ORDER BY id")
        yield from cur.fetch_record_batch()


def _prefetch(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    slots: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(depth)

    def fill() -> None:
        try:
            for batch in batches:
                slots.put(convert(batch))
            slots.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            slots.put(exc)

    threading.Thread(target=fill, daemon=True).start()
    while (item := slots.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


def load(source: str, dest: str, table: str) -> int:
    written = 0
    with adbc_pg.connect(dest) as conn, conn.cursor() as cur:
        for batch in _prefetch(read_batches(source, table)):
            cur.adbc_ingest(table, batch, mode="append")
            conn.commit()
            written += batch.num_rows
    return written


if __name__ == "__main__":
    main(load)
