"""The seeds' design, PostgreSQL → MariaDB: psycopg server-side cursor ``fetchmany(1000)`` →
PyMySQL ``executemany`` in 500-row slices (PyMySQL sends each slice as one multi-row
``INSERT``), one transaction per fetched chunk.
"""

from __future__ import annotations

import psycopg

from bench.bets import COLUMNS, column_list
from bench.mariadb import parse
from bench.peers import main
from bench.peers.seeds import FETCH_ROWS, SLICE_ROWS


def load(source: str, dest: str, table: str) -> int:
    insert = f"INSERT INTO {table} ({column_list()}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    writer = parse(dest).connect()
    writer.autocommit(False)
    written = 0
    with psycopg.connect(source) as src, src.cursor(name="seeds_read") as rows_read:
        rows_read.execute(f"SELECT {column_list()} FROM {table} ORDER BY id")
        with writer.cursor() as cur:
            while chunk := rows_read.fetchmany(FETCH_ROWS):
                for start in range(0, len(chunk), SLICE_ROWS):
                    cur.executemany(insert, chunk[start : start + SLICE_ROWS])
                writer.commit()
                written += len(chunk)
    writer.close()
    return written


if __name__ == "__main__":
    main(load)
