"""The seeds' design: sqlite3 fetchmany(1000), psycopg executemany by 500, commit per fetch."""

from __future__ import annotations

import sqlite3

import psycopg

from bench.bets import COLUMNS, column_list
from bench.peers import main

FETCH_ROWS = 1000
SLICE_ROWS = 500


def _placeholders() -> str:
    # SQLite hands over is_live as 0/1; PostgreSQL has no implicit int → boolean cast.
    return ", ".join("%s::int::boolean" if c.pg_type == "boolean" else "%s" for c in COLUMNS)


def load(source: str, dest: str, table: str) -> int:
    insert = f"INSERT INTO {table} ({column_list()}) VALUES ({_placeholders()})"
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    rows_read = reader.execute(f"SELECT {column_list()} FROM {table} ORDER BY id")
    written = 0
    with psycopg.connect(dest) as conn, conn.cursor() as cur:
        while chunk := rows_read.fetchmany(FETCH_ROWS):
            for start in range(0, len(chunk), SLICE_ROWS):
                cur.executemany(insert, chunk[start : start + SLICE_ROWS])
            conn.commit()
            written += len(chunk)
    reader.close()
    return written


if __name__ == "__main__":
    main(load)
