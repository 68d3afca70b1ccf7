"""The binary COPY files behind the ``ceiling`` runs, and filling a table from them quickly.

Made once per source file: load the table with the psycopg text-COPY peer (untimed), then
``\\copy … TO`` the whole table and its two halves split at the median id.
"""

from __future__ import annotations

import subprocess
import sys

from bench.bets import TABLE
from bench.context import Bench
from bench.postgres import (
    copy_from_file,
    copy_to_file,
    count_rows,
    has_bench_ddl,
    note_table,
    psql,
    reset_table,
    table_note,
)


class CeilingFiles:
    """``whole`` holds every row; ``halves`` split them by id for two parallel loads."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        stem = bench.source_db.stem
        self.whole = bench.data_dir / f"{stem}.ceiling.bin"
        self.halves = (
            bench.data_dir / f"{stem}.ceiling-1.bin",
            bench.data_dir / f"{stem}.ceiling-2.bin",
        )

    def ensure(self) -> None:
        """Write the files unless they exist and are newer than the source."""
        files = (self.whole, *self.halves)
        stat = self.bench.source_db.stat()
        source_mtime = max(stat.st_mtime, stat.st_ctime)  # ctime: when the copy was made
        if all(f.exists() and f.stat().st_mtime > source_mtime for f in files):
            return
        print("  preparing the binary COPY files for the ceiling", file=sys.stderr, flush=True)
        bench, table = self.bench, TABLE
        reset_table(bench.pg, table)
        subprocess.run(
            bench.peer("psycopg_copy", bench.source_db, bench.pg, table),
            check=True,
            capture_output=True,
            env=bench.env,
        )
        loaded = count_rows(bench.pg, table)
        if loaded != bench.rows:
            raise SystemExit(f"ceiling preparation loaded {loaded:,} rows, not {bench.rows:,}")
        middle = f"(SELECT id FROM {table} ORDER BY id OFFSET {bench.rows // 2} LIMIT 1)"
        copy_to_file(bench.pg, f"(SELECT * FROM {table} WHERE id < {middle})", self.halves[0])
        copy_to_file(bench.pg, f"(SELECT * FROM {table} WHERE id >= {middle})", self.halves[1])
        copy_to_file(bench.pg, table, self.whole)

    def fill(self, table: str = TABLE) -> None:
        """Make ``table`` hold exactly the source's rows: reload it unless its comment names the
        source file (the count alone cannot tell the generated rows from the other data set's)
        and its columns have the bench's types (else PostgreSQL → PostgreSQL measures another
        path: other types than the destination's)."""
        pg, source = self.bench.pg, str(self.bench.source_db)
        if (
            table_note(pg, table) == source
            and count_rows(pg, table) == self.bench.rows
            and has_bench_ddl(pg, table)
        ):
            return
        self.ensure()
        reset_table(pg, table)
        psql(pg, copy_from_file(table, self.whole))
        note_table(pg, table, source)
