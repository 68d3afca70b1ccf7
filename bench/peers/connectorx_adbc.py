"""connectorx → ADBC, MariaDB → PostgreSQL: ``connectorx.read_sql(…, return_type="arrow")`` over
id ranges of 100,000 → pyarrow casts to the PostgreSQL types → ``adbc_ingest`` (binary COPY),
one commit per range. A thread reads the next range while the current one is ingested.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import adbc_driver_postgresql.dbapi as adbc_pg
import connectorx as cx
import pyarrow as pa

from bench.bets import column_list
from bench.peers import main
from bench.peers.adbc_arrow import TARGET

RANGE_IDS = 100_000
PARTITIONS = 1  # connectorx partitions per range (parallel queries); 2 was no faster on 2 cores


def convert(table: pa.Table) -> pa.Table:
    """decimal128(38,10) → each column's precision and scale, TINYINT(1) (int8) → boolean."""
    return pa.Table.from_arrays(
        [col.cast(f.type) for f, col in zip(TARGET, table.columns, strict=True)], schema=TARGET
    )


def read_ranges(source: str, table: str) -> Iterator[pa.Table]:
    bounds = cx.read_sql(source, f"SELECT min(id) AS lo, max(id) AS hi FROM {table}", return_type="arrow")
    lo, hi = bounds.column(0)[0].as_py(), bounds.column(1)[0].as_py()
    if lo is None:
        return
    for start in range(lo, hi + 1, RANGE_IDS):
        query = f"SELECT {column_list()} FROM {table} WHERE id >= {start} AND id < {start + RANGE_IDS}"
        if PARTITIONS > 1:
            yield cx.read_sql(source, query, return_type="arrow", partition_on="id", partition_num=PARTITIONS)
        else:
            yield cx.read_sql(source, query, return_type="arrow")


def _prefetch(tables: Iterator[pa.Table], depth: int = 1) -> Iterator[pa.Table]:
    slots: queue.Queue[pa.Table | BaseException | None] = queue.Queue(depth)

    def fill() -> None:
        try:
            for found in tables:
                slots.put(convert(found))
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
        for chunk in _prefetch(read_ranges(source, table)):
            if chunk.num_rows:
                cur.adbc_ingest(table, chunk, mode="append")
                conn.commit()
                written += chunk.num_rows
    return written


if __name__ == "__main__":
    main(load)
