"""psycopg 3 text ``COPY … FROM STDIN`` fed by ``write_row`` per row, read with stdlib sqlite3."""

from __future__ import annotations

import sqlite3

import psycopg

from bench.bets import column_list
from bench.peers import main

FETCH_ROWS = 10_000


def load(source: str, dest: str, table: str) -> int:
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    rows_read = reader.execute(f"SELECT {column_list()} FROM {table} ORDER BY id")
    written = 0
    with psycopg.connect(dest) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({column_list()}) FROM STDIN") as copy:
            while chunk := rows_read.fetchmany(FETCH_ROWS):
                for row in chunk:
                    copy.write_row(row)
                written += len(chunk)
    reader.close()
    return written


if __name__ == "__main__":
    main(load)
