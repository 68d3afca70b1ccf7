"""DuckDB 1.4.4 with its MySQL scanner: ``ATTACH`` MariaDB and PostgreSQL, one ``INSERT … SELECT``.

Either direction: whichever of SOURCE and DEST is a ``mysql://`` URL is the MariaDB side, the
other a PostgreSQL DSN. The mysql extension loads offline from the ``duckdb-ext-mysql`` wheel,
like the sqlite and postgres ones (see ``duckdb_attach``).
"""

from __future__ import annotations

import duckdb

from bench.bets import COLUMNS
from bench.mariadb import parse
from bench.peers import main
from bench.peers.duckdb_attach import _literal, extension_directory


def connect_offline() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with mysql and postgres loaded from the wheels, never downloaded."""
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET extension_directory = ?", [str(extension_directory())])
    con.execute("LOAD mysql")
    con.execute("LOAD postgres")
    return con


def load(source: str, dest: str, table: str) -> int:
    to_pg = source.startswith(("mysql://", "mariadb://"))
    mysql_url, pg_dsn = (source, dest) if to_pg else (dest, source)
    with connect_offline() as con:
        con.execute(f"ATTACH {_literal(parse(mysql_url).duckdb())} AS my (TYPE mysql)")
        con.execute(f"ATTACH {_literal(pg_dsn)} AS pg (TYPE postgres)")
        if to_pg:  # TINYINT(1) arrives as BOOLEAN already; the casts pin every PostgreSQL type
            select = ", ".join(f"CAST({c.name} AS {c.pg_type}) AS {c.name}" for c in COLUMNS)
            insert = f"INSERT INTO pg.public.{table} SELECT {select} FROM my.{table}"
        else:
            names = ", ".join(c.name for c in COLUMNS)
            insert = f"INSERT INTO my.{table} ({names}) SELECT {names} FROM pg.public.{table}"
        row = con.execute(insert).fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main(load)
