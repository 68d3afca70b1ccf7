"""MySQL/MariaDB driver choice: read and write 1M bets rows with each candidate path.

    python -m bench.mysql_drivers [--rows 1000000] [--url mysql://root@127.0.0.1:3306/test]

Prints wall time, rows/s, client CPU (this process, all threads) and server CPU (mariadbd, from
/proc) per 1M rows. The machine has 2 cores shared with the server, so client CPU is what a
path takes away from MariaDB. The source is ``bulksync generate … --table bets``; the rows are
held in memory as Arrow batches first so the write paths are timed without the SQLite read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pymysql

from bulksync.connectors.base import ChunkQuery
from bulksync.connectors.mysql import MysqlConnector
from bulksync.connectors.mysql_url import parse_mysql_url
from bulksync.connectors.registry import open_connector

BATCH = 50_000
CHUNK = 100_000


@dataclass
class Timing:
    name: str
    rows: int
    wall: float
    client_cpu: float
    server_cpu: float

    def line(self) -> str:
        per = 1_000_000 / self.rows
        return (
            f"| {self.name} | {self.rows / self.wall:,.0f} | {self.wall * per:.1f} | "
            f"{self.client_cpu * per:.1f} | {self.server_cpu * per:.1f} |"
        )


def server_cpu() -> float:
    """User + system CPU seconds of mariadbd so far (0 if it is not visible from here)."""
    pid = subprocess.run(["pidof", "mariadbd"], capture_output=True, text=True, check=False).stdout.split()
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(name: str, rows: int, run: Callable[[], object]) -> Timing:
    wall0, cpu0, srv0 = time.perf_counter(), time.process_time(), server_cpu()
    run()
    t = Timing(name, rows, time.perf_counter() - wall0, time.process_time() - cpu0, server_cpu() - srv0)
    print(t.line(), flush=True)
    return t


def source_batches(path: Path, rows: int) -> tuple[list[pa.RecordBatch], object]:
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "bulksync", "generate", str(path), "--table", "bets", "--rows", str(rows)],
            check=True,
        )
    src = open_connector(str(path))
    schema = src.describe("bets")
    batches, after = [], None
    while True:
        batch = src.read_chunk(ChunkQuery(schema, ("id",), limit=BATCH, after=after))
        if batch.num_rows == 0:
            break
        batches.append(batch)
        after = (batch.column(0)[-1].as_py(),)
    src.close()
    return batches, schema


def pymysql_conn(url: str) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    u = parse_mysql_url(url)
    conn = pymysql.connect(
        host=u.host, port=u.port, user=u.user, password=u.password, database=u.database,
        charset="utf8mb4", autocommit=False,
    )  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
    return conn


def executemany(url: str, batches: list[pa.RecordBatch], *, upsert: bool) -> None:
    """Multi-row INSERT from Python tuples (PyMySQL rewrites executemany into ~1 MB statements)."""
    names = batches[0].schema.names
    sql = f"INSERT INTO bets ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
    if upsert:
        sql += " ON DUPLICATE KEY UPDATE " + ", ".join(f"{n} = VALUES({n})" for n in names[1:])
    conn = pymysql_conn(url)
    with conn.cursor() as cur:
        for batch in batches:
            cur.executemany(sql, [tuple(r.values()) for r in batch.to_pylist()])
            conn.commit()
    conn.close()


def bulksync_write(url: str, batches: list[pa.RecordBatch], *, upsert: bool) -> None:
    conn = MysqlConnector(url)
    for batch in batches:
        with conn.transaction() as tx:
            tx.write("bets", batch, upsert_key=("id",) if upsert else ())
    conn.close()


def bulksync_read(url: str) -> int:
    conn = MysqlConnector(url)
    schema = conn.describe("bets")
    rows, after = 0, None
    while (batch := conn.read_chunk(ChunkQuery(schema, ("id",), limit=CHUNK, after=after))).num_rows:
        rows += batch.num_rows
        after = (batch.column(0)[-1].as_py(),)
    conn.close()
    return rows


def pymysql_read(url: str) -> int:
    """Unbuffered cursor → Python tuples → Arrow (the pure-Python path)."""
    conn = pymysql_conn(url)
    rows = 0
    with conn.cursor(pymysql.cursors.SSCursor) as cur:
        cur.execute("SELECT * FROM bets ORDER BY id")
        names = [d[0] for d in cur.description]
        while chunk := cur.fetchmany(CHUNK):
            table = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in chunk])
            rows += table.num_rows
    conn.close()
    return rows


def reset(url: str, schema: object) -> None:
    conn = MysqlConnector(url)
    conn.drop_table("bets")
    conn.create_table(schema, with_indexes=False)  # type: ignore[arg-type]
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default="mysql://root@127.0.0.1:3306/test")
    parser.add_argument("--source", type=Path, default=Path("/tmp/bench-bets-1m.db"))
    args = parser.parse_args()
    batches, schema = source_batches(args.source, args.rows)
    rows = sum(b.num_rows for b in batches)
    db = f"bs_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql_conn(args.url)
    admin.cursor().execute(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    url = args.url.rsplit("/", 1)[0] + "/" + db
    print(f"{rows:,} bets rows, batches of {BATCH:,} rows, reads in chunks of {CHUNK:,}\n")
    print("| path | rows/s | wall s / 1M | client CPU s / 1M | server CPU s / 1M |")
    print("|---|---|---|---|---|")
    try:
        reset(url, schema)
        timed("write: PyMySQL executemany, multi-row INSERT", rows,
              lambda: executemany(url, batches, upsert=False))  # fmt: skip
        timed("upsert (all rows exist): multi-row INSERT … ON DUPLICATE KEY UPDATE", rows,
              lambda: executemany(url, batches, upsert=True))  # fmt: skip
        reset(url, schema)
        timed("write: bulksync, Arrow → LOAD DATA LOCAL INFILE", rows,
              lambda: bulksync_write(url, batches, upsert=False))  # fmt: skip
        timed("upsert (all rows exist): bulksync, LOAD DATA → temp table → INSERT … SELECT … ODKU", rows,
              lambda: bulksync_write(url, batches, upsert=True))  # fmt: skip
        timed("read: PyMySQL unbuffered cursor → Arrow", rows, lambda: pymysql_read(url))
        timed("read: bulksync, connectorx keyset chunks → Arrow", rows, lambda: bulksync_read(url))
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
        admin.close()


if __name__ == "__main__":
    main()
