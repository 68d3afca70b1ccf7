"""PG → PG baseline: binary ``COPY (SELECT …) TO STDOUT`` fed to ``COPY … FROM STDIN`` (psycopg).

DEST is ``DSN`` or ``DSN#TABLE`` when the destination table's name differs from the source's.
"""

from __future__ import annotations

import psycopg

from bench.peers import main


def load(source: str, dest: str, table: str) -> int:
    dest_dsn, _, dest_table = dest.partition("#")
    copy_out = f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT binary)"
    copy_in = f"COPY {dest_table or table} FROM STDIN (FORMAT binary)"
    with psycopg.connect(source) as src, psycopg.connect(dest_dsn) as dst:
        writer = dst.cursor()
        with src.cursor().copy(copy_out) as out, writer.copy(copy_in) as into:
            for data in out:
                into.write(data)
        return writer.rowcount


if __name__ == "__main__":
    main(load)
