"""PostgreSQL chores around a run: the bench database, resetting and counting tables, psql."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.bets import pg_ddl

# bulksync keeps its checkpoints in the destination; a stale one would let a run skip work.
_STATE_TABLES = (
    r"SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '\_bulksync%'"
)


def ensure_database(dsn: str) -> None:
    """Create the database ``dsn`` names if it does not exist (via the ``postgres`` database)."""
    params = conninfo_to_dict(dsn)
    name = params.get("dbname") or "postgres"
    admin = make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def reset_table(dsn: str, table: str) -> None:
    """Drop and recreate ``table`` empty (typed, PK on id), drop bulksync state, CHECKPOINT."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        conn.execute(pg_ddl(table))
    drop_state(dsn)


def drop_state(dsn: str) -> None:
    """Drop bulksync's checkpoint tables, then CHECKPOINT so the next run starts clean."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for (name,) in conn.execute(_STATE_TABLES).fetchall():
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        conn.execute("DROP SCHEMA IF EXISTS bulksync CASCADE")  # where bulksync keeps them now
        conn.execute("CHECKPOINT")


def checkpoint(dsn: str) -> None:
    """Flush dirty buffers so the next run does not pay for the previous one's writes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def count_rows(dsn: str, table: str) -> int:
    """``count(*)`` of ``table``, or -1 when it does not exist."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if exists is None or exists[0] is None:
            return -1
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else -1


def table_note(dsn: str, table: str) -> str | None:
    """The comment on ``table`` (None without one, or without the table)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (table,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])


def has_bench_ddl(dsn: str, table: str) -> bool:
    """Whether ``table``'s columns have exactly the types ``pg_ddl`` gives them (an earlier run
    may have left a table of bulksync's making, with other types, under the same comment)."""
    types = (
        "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) "
        "FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(pg_ddl("pg_temp.bench_ddl_probe"))
        want = conn.execute(types, ("pg_temp.bench_ddl_probe",)).fetchone()
        have = conn.execute(types, (table,)).fetchone()
    return bool(want and have and want[0] == have[0])


def note_table(dsn: str, table: str, note: str) -> None:
    """Set the comment on ``table`` (``reset_table`` drops it with the table)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.Identifier(table), sql.Literal(note)))


def server_version(dsn: str) -> str:
    """The server's ``version()`` string."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT version()").fetchone()
        return str(row[0]) if row else "unknown"


def psql_command(dsn: str, meta: str) -> list[str]:
    """A psql invocation that runs one backslash command and stops at the first error."""
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", meta]


def psql(dsn: str, meta: str) -> None:
    """Run one psql command now (untimed preparation work)."""
    subprocess.run(psql_command(dsn, meta), check=True, capture_output=True, text=True)


def copy_to_file(dsn: str, source: str, path: Path) -> None:
    """``\\copy SOURCE TO path (FORMAT binary)``; ``source`` is a table or ``(SELECT …)``."""
    psql(dsn, f"\\copy {source} TO '{path}' (FORMAT binary)")


def copy_from_file(table: str, path: Path) -> str:
    """The psql command that loads a binary COPY file into ``table``."""
    return f"\\copy {table} FROM '{path}' (FORMAT binary)"
