"""DuckDB 1.4.4: ``ATTACH`` the SQLite file and PostgreSQL, then one ``INSERT … SELECT`` with casts.

The sqlite and postgres extensions load offline from the ``duckdb-ext-sqlite`` /
``duckdb-ext-postgres`` wheels, which install them under ``site-packages/duckdb_ext/extensions``
in the ``vX.Y.Z/PLATFORM/`` layout DuckDB expects of an ``extension_directory``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from bench.bets import COLUMNS
from bench.peers import main


def extension_directory() -> Path:
    """Where the duckdb-ext-* wheels put their extension files."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("duckdb-ext-sqlite / duckdb-ext-postgres are not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "extensions"


def connect_offline() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with sqlite and postgres loaded from the wheels, never downloaded."""
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET extension_directory = ?", [str(extension_directory())])
    con.execute("LOAD sqlite")
    con.execute("LOAD postgres")
    return con


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def load(source: str, dest: str, table: str) -> int:
    # SQLite holds decimals as REAL and timestamps as TEXT: cast to the PostgreSQL types.
    select = ", ".join(f"CAST({c.name} AS {c.pg_type}) AS {c.name}" for c in COLUMNS)
    with connect_offline() as con:
        con.execute(f"ATTACH {_literal(source)} AS sq (TYPE sqlite, READ_ONLY)")
        con.execute(f"ATTACH {_literal(dest)} AS pg (TYPE postgres)")
        insert = f"INSERT INTO pg.public.{table} SELECT {select} FROM sq.{table}"
        row = con.execute(insert).fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main(load)
