"""The seeds' SQLite → SQLite headline: stdlib sqlite3 ``executemany``, 25,000 rows per commit."""

from __future__ import annotations

import sqlite3

from bench.bets import COLUMNS, column_list
from bench.peers import main

BATCH_ROWS = 25_000


def load(source: str, dest: str, table: str) -> int:
    insert = f"INSERT INTO {table} ({column_list()}) VALUES ({', '.join('?' * len(COLUMNS))})"
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    writer = sqlite3.connect(dest)
    rows_read = reader.execute(f"SELECT {column_list()} FROM {table} ORDER BY id")
    written = 0
    while batch := rows_read.fetchmany(BATCH_ROWS):
        with writer:  # one transaction per batch
            writer.executemany(insert, batch)
        written += len(batch)
    reader.close()
    writer.close()
    return written


if __name__ == "__main__":
    main(load)
