"""The seeds' design, MariaDB → PostgreSQL: PyMySQL unbuffered ``fetchmany(1000)`` → psycopg
``executemany`` in 500-row slices, one commit per fetched chunk.
"""

from __future__ import annotations

import psycopg
import pymysql

from bench.bets import column_list
from bench.mariadb import parse
from bench.peers import main
from bench.peers.seeds import FETCH_ROWS, SLICE_ROWS, _placeholders


def load(source: str, dest: str, table: str) -> int:
    # PyMySQL hands over TINYINT(1) as 0/1: the placeholders cast it to boolean.
    insert = f"INSERT INTO {table} ({column_list()}) VALUES ({_placeholders()})"
    reader = parse(source).connect()
    written = 0
    with reader.cursor(pymysql.cursors.SSCursor) as rows_read, psycopg.connect(dest) as conn:
        rows_read.execute(f"SELECT {column_list()} FROM {table} ORDER BY id")
        with conn.cursor() as cur:
            while chunk := rows_read.fetchmany(FETCH_ROWS):
                for start in range(0, len(chunk), SLICE_ROWS):
                    cur.executemany(insert, chunk[start : start + SLICE_ROWS])
                conn.commit()
                written += len(chunk)
    reader.close()
    return written


if __name__ == "__main__":
    main(load)
