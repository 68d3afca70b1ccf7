"""MariaDB chores around a run: databases, resetting and counting tables, the cached source.

URLs are ``mysql://user[:password]@host[:port]/database`` (what bulksync takes). The MariaDB
source (``bench.bets`` by default) is loaded once from the SQLite source with ``bulksync copy
--mode replace`` and reused while a marker table says it came from the same file.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pymysql

from bench.bets import TABLE, mariadb_ddl

_MARKER = "_bench_source"  # which SQLite file (name, size, mtime) the source table was loaded from


@dataclass(frozen=True)
class MariadbUrl:
    host: str
    port: int
    user: str
    password: str
    database: str

    def connect(
        self, *, database: str | None = None
    ) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database if database is None else (database or None),
            charset="utf8mb4",
            autocommit=True,
        )

    def duckdb(self) -> str:
        """The ``ATTACH`` string of DuckDB's mysql extension."""
        parts = [f"host={self.host}", f"port={self.port}", f"user={self.user}", f"database={self.database}"]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)


def parse(url: str) -> MariadbUrl:
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb") or not parts.path.strip("/"):
        raise SystemExit(f"not a MariaDB URL (mysql://user@host:port/database): {url}")
    return MariadbUrl(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/"),
    )


def with_database(url: str, database: str) -> str:
    """``url`` naming another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def ensure_database(url: str) -> None:
    """Create the database ``url`` names if missing (utf8mb4)."""
    target = parse(url)
    conn = target.connect(database="")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{target.database}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def reset_table(url: str, table: str = TABLE) -> None:
    """Drop and recreate ``table`` empty (typed, PK on id) and drop bulksync's state tables."""
    ensure_database(url)
    conn = parse(url).connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{table}`")
            cur.execute(mariadb_ddl(table))
            cur.execute(r"SHOW TABLES LIKE '\_bulksync%'")
            for (name,) in cur.fetchall():
                cur.execute(f"DROP TABLE `{name}`")
    finally:
        conn.close()


def count_rows(url: str, table: str = TABLE) -> int:
    """``count(*)`` of ``table``, or -1 when it (or its database) does not exist."""
    try:
        conn = parse(url).connect()
    except pymysql.err.OperationalError:
        return -1
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES LIKE %s", (table,))
            if cur.fetchone() is None:
                return -1
            cur.execute(f"SELECT count(*) FROM `{table}`")
            row = cur.fetchone()
            return int(row[0]) if row else -1
    finally:
        conn.close()


def server_version(url: str) -> str:
    try:
        conn = parse(url).connect(database="")
    except pymysql.err.OperationalError as exc:
        return f"MariaDB unreachable ({exc.args[-1]})"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version()")
            row = cur.fetchone()
            return f"MariaDB {row[0]}" if row else "MariaDB (unknown version)"
    finally:
        conn.close()


def _identity(source_db: Path) -> str:
    stat = source_db.stat()
    return f"{source_db.name}:{stat.st_size}:{stat.st_mtime_ns}"


def _marker(url: str) -> str | None:
    conn = parse(url).connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES LIKE %s", (_MARKER,))
            if cur.fetchone() is None:
                return None
            cur.execute(f"SELECT source FROM `{_MARKER}`")
            row = cur.fetchone()
            return str(row[0]) if row else None
    finally:
        conn.close()


def ensure_source(url: str, source_db: Path, rows: int, bulksync: list[str], env: dict[str, str]) -> None:
    """Make ``url``'s ``bets`` hold the SQLite source's rows (loaded once, then reused).

    ``bulksync copy SOURCE URL --table bets --mode replace`` builds it, with the source's
    indexes (``placed_at``, ``(channel, placed_at)``, …), so ``bets sync`` walks a date index.
    """
    ensure_database(url)
    identity = _identity(source_db)
    if _marker(url) == identity and count_rows(url) == rows:
        return
    print(f"  loading the MariaDB source {url} from {source_db.name} (once)", file=sys.stderr, flush=True)
    command = [*bulksync, "copy", str(source_db), url, "--table", TABLE, "--mode", "replace", "--quiet"]
    subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    loaded = count_rows(url)
    if loaded != rows:
        raise SystemExit(f"the MariaDB source {url} holds {loaded:,} rows after loading, not {rows:,}")
    conn = parse(url).connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{_MARKER}`")
            cur.execute(f"CREATE TABLE `{_MARKER}` (source VARCHAR(1024) NOT NULL)")
            cur.execute(f"INSERT INTO `{_MARKER}` VALUES (%s)", (identity,))
    finally:
        conn.close()
