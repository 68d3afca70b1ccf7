"""MySQL/MariaDB: connectorx reads chunks straight into Arrow; LOAD DATA LOCAL INFILE writes them.

Reads go through connectorx (Rust, the MySQL binary protocol decoded to Arrow without Python
objects). Writes, DDL and checkpoints go through PyMySQL on one autocommit connection with
explicit transactions: a batch is encoded to LOAD DATA text by Arrow kernels (``mysql_types``)
and loaded inside the transaction that also carries its checkpoint (``mysql_load``).
``bench/mysql_drivers.py`` measured the alternatives (README, "MySQL/MariaDB driver choice").

LOAD DATA *LOCAL* cannot stop mid-file, so the server turns a duplicate key or a bad value into
a warning instead of an error: every load runs under a savepoint and a load with any warning
is rolled back and raised as ``BadRowsError`` (the engine then isolates the bad rows).

The session is strict (``STRICT_ALL_TABLES``, no zero dates), in UTC (``time_zone = '+00:00'``),
with ``ANSI_QUOTES`` so the shared SQL's double-quoted identifiers work, and a
``max_statement_time`` from the job's statement timeout.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote as urlquote

import connectorx
import pyarrow as pa
import pymysql
import pymysql.cursors

from bulksync.connectors import mysql_keep, mysql_reflect
from bulksync.connectors.base import Capabilities, ChunkQuery, PartitionState
from bulksync.connectors.catalog import mysql_constraints
from bulksync.connectors.ddl import Reattached
from bulksync.connectors.mysql_constraints import MysqlConstraints
from bulksync.connectors.mysql_errors import MAX_ROW_BYTES, classify, error_text
from bulksync.connectors.mysql_keep import MysqlKeep
from bulksync.connectors.mysql_load import MysqlLoad
from bulksync.connectors.mysql_names import tick as _tick
from bulksync.connectors.mysql_names import ticked
from bulksync.connectors.mysql_peers import MysqlPeers
from bulksync.connectors.mysql_row_size import keyed_columns, long_text_notes, long_texts
from bulksync.connectors.mysql_types import (
    decode_column,
    mysql_column_type,
    select_expression,
)
from bulksync.connectors.mysql_url import MysqlUrl, parse_mysql_url, safe_mysql_url
from bulksync.connectors.sql import (
    REJECT_TABLE,
    STATE_TABLE,
    Reflected,
    quote,
)
from bulksync.connectors.text_lengths import MysqlTextLengths
from bulksync.connectors.text_order import mysql_text_order
from bulksync.engine.checkpoint import encode_key
from bulksync.errors import (
    ConnectError,
    SyncError,
    connect_again,
    unknown_table,
)
from bulksync.naming import fitted_name
from bulksync.schema import Column, TableSchema

if TYPE_CHECKING:  # imported where DDL is compiled or a SQLAlchemy type mapped (start-up time)
    import sqlalchemy as sa

_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION,ANSI_QUOTES,NO_AUTO_VALUE_ON_ZERO"  # a copied 0 in an AUTO_INCREMENT stays 0
)


class MysqlConnector(MysqlConstraints, MysqlKeep, MysqlLoad, MysqlPeers, MysqlTextLengths):
    """A MySQL or MariaDB database as source and destination."""

    dialect: ClassVar[str] = "mysql"
    begin_sql: ClassVar[str] = "START TRANSACTION"
    max_params: ClassVar[int] = 10_000
    capabilities = Capabilities()

    def __init__(self, url: str, *, create: bool = False, statement_timeout_s: float = 120.0) -> None:
        self._url: MysqlUrl = parse_mysql_url(url)
        super().__init__(safe_url=safe_mysql_url(url))
        self._timeout_s = max(statement_timeout_s, 0.001)
        self._spool: str | None = None
        self._keyed: set[str] = set()
        self._long: set[str] = set()
        self._internal_ready = False
        self._in_tx = False
        self._swap_notes: dict[str, list[str]] = {}  # mysql_keep's, until the engine reads them
        self._conn = self._connect()

    # -- the two connections ------------------------------------------------------------------

    def _session_sql(self) -> list[str]:
        return [
            f"SET SESSION sql_mode = '{_SQL_MODE}'",
            "SET SESSION time_zone = '+00:00'",
            f"SET SESSION max_statement_time = {self._timeout_s:.3f}",
        ]

    def _connect(self) -> pymysql.connections.Connection[Any]:
        u = self._url
        try:
            conn = pymysql.connect(
                host=u.host, port=u.port, user=u.user, password=u.password, database=u.database,
                unix_socket=u.unix_socket, charset="utf8mb4", autocommit=True, local_infile=True,
                connect_timeout=10,
            )  # fmt: skip
        except pymysql.Error as exc:
            raise ConnectError(f"cannot connect to {self.safe_url}: {error_text(exc)}") from exc
        try:
            with conn.cursor() as cur:
                for sql in self._session_sql():
                    cur.execute(sql)
                lock_wait = max(1, round(self._timeout_s))
                cur.execute(f"SET SESSION innodb_lock_wait_timeout = {lock_wait}")
        except pymysql.Error as exc:
            conn.close()
            raise ConnectError(f"cannot set up a session on {self.safe_url}: {error_text(exc)}") from exc
        return conn

    def _session(self, sql: str = "") -> pymysql.connections.Connection[Any]:
        """The session; a new one when the server dropped it and no transaction of ours was open
        on it (a restart or a ``KILL`` between batches, or one that took the transaction with it)."""
        if not self._conn.open and (not self._in_tx or sql == self.begin_sql):
            self._in_tx = False
            self._conn = connect_again(self._connect)
        return self._conn

    def _cx_url(self) -> str:
        """connectorx's URL. Its driver takes the server's ``max_allowed_packet`` (16 MB on
        MariaDB) as the largest row it will receive, and a longer text or BLOB failed the read:
        it is told the protocol's most instead (the server sends bigger rows whatever its own)."""
        u = self._url
        auth = urlquote(u.user, safe="") + (f":{urlquote(u.password, safe='')}" if u.password else "")
        host = f"{u.host or '127.0.0.1'}:{u.port}/{urlquote(u.database, safe='')}"
        return f"mysql://{auth}@{host}?max_allowed_packet={MAX_ROW_BYTES}"

    # -- statements ---------------------------------------------------------------------------

    def sa_dialect(self) -> sa.Dialect:
        return _sa_dialect()

    def placeholder(self, n: int) -> str:
        return "%s"

    def param(self, column: Column, value: Any) -> Any:
        value = super().param(column, value)
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)  # the session is in UTC
        return value

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            with self._session(sql).cursor() as cur:
                cur.execute(sql, list(params) if params else None)
            self._in_tx = sql == self.begin_sql or (self._in_tx and sql not in ("COMMIT", "ROLLBACK"))
        except pymysql.Error as exc:
            if sql in ("COMMIT", "ROLLBACK"):
                self._in_tx = False
            raise self.translate(exc, context=sql.split(" ", 3)[0]) from exc

    def _affected(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            with self._session().cursor() as cur:
                return int(cur.execute(sql, list(params) if params else None))
        except pymysql.Error as exc:
            raise self.translate(exc, context=sql.split(" ", 3)[0]) from exc

    def text_order(self, table: str, column: str) -> str:
        """How ``column`` sorts: ``text_order.CODE_POINT``, or the collation that orders it."""
        return mysql_text_order(self._rows, table, column)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            with self._session().cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(sql, list(params) if params else None)
                return list(cur.fetchall())
        except pymysql.Error as exc:
            raise self.translate(exc, context="read") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return pa.Table.from_pylist(self._rows(sql, params))

    # -- catalog ------------------------------------------------------------------------------

    def _table_names(self) -> list[str]:
        rows = self._rows(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        )
        return [str(r["name"]) for r in rows]

    def _reflect(self, table: str) -> Reflected | None:
        found = mysql_reflect.reflect(self._rows, table)
        if found is None:
            return None
        return replace(found, constraints=mysql_constraints(self._rows, table, found.constraints))

    def table_options(self) -> dict[str, Any]:
        # nopad_bin: keys compare byte for byte, case and trailing spaces included, as they do
        # in PostgreSQL and SQLite (the default _ci collations would call 'a' and 'A ' equal)
        return {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_nopad_bin"}

    def create_table(self, schema: TableSchema, *, with_indexes: bool) -> None:
        # text in a key or index needs a bounded type (VARCHAR), everything else may be LONGTEXT,
        # and is where the row would pass MariaDB's 65,535 declared bytes
        self._keyed = keyed_columns(schema)  # foreign keys' too: they are added after the load
        self._long = set(long_texts(schema, self._keyed))
        try:
            super().create_table(schema, with_indexes=with_indexes)
        finally:
            self._keyed, self._long = set(), set()

    def column_type(self, col: Column) -> sa.types.TypeEngine[Any]:
        return mysql_column_type(col, keyed=col.name in self._keyed, long_text=col.name in self._long)

    def not_carried(self, schema: TableSchema) -> list[str]:
        moved = long_texts(schema, keyed_columns(schema))
        return [*super().not_carried(schema), *long_text_notes(schema, moved)]

    def swap_table(self, staging: str, final: TableSchema, sync_id: str) -> list[Reattached]:
        """Index the staging table, forget the checkpoints, then one atomic ``RENAME TABLE``; the
        old table's triggers and a user's own indexes are made again on the new one (``mysql_keep``).

        MariaDB commits DDL on its own, so this is not one transaction. Each step leaves a
        state a re-run recovers from: a crash before the rename leaves the old table and no
        checkpoints (the re-run copies again into a fresh staging table); after it, only the
        ``__bulksync_old`` table is left over, dropped by the next swap once it has moved the
        triggers still on it back (only a crash between one trigger's drop and its creation,
        two statements in a row, loses that trigger).
        """
        if staging not in self._table_names():
            raise unknown_table(staging, self.safe_url, self.list_tables())
        for ix in final.indexes:
            self._execute(self.index_sql(staging, ix))
        old = fitted_name(final.name, "__bulksync_old")
        keep = mysql_keep.Keeper(self, final.name, old)
        keep.recover()
        keep.read()
        keep.make_indexes(staging)  # before the rename: they come in with the new table
        self._execute(f"DELETE FROM {STATE_TABLE} WHERE sync_id = %s", [sync_id])
        self._execute(f"DROP TABLE IF EXISTS {quote(old)}")
        if final.name in self._table_names():
            detached = self.detach_references(final.name)  # else InnoDB moves them onto ``old``
            self._execute(
                f"RENAME TABLE {quote(final.name)} TO {quote(old)}, {quote(staging)} TO {quote(final.name)}"
            )
            keep.move_triggers(list(final.names))  # a trigger's name is the schema's: off ``old`` first
            self._execute(f"DROP TABLE {quote(old)}")
            self.reattach_references(detached)
        else:
            self._execute(f"RENAME TABLE {quote(staging)} TO {quote(final.name)}")
            detached = []
        self._swap_notes[final.name] = keep.said()
        self._described.pop(final.name, None)
        self._described.pop(staging, None)
        return detached

    def swap_landed(self, staging: str, final: TableSchema, sync_id: str) -> bool:
        """A retry after the swap's rename (its connection lost): finish it — the triggers moved
        off the old table, the old table dropped — and say True."""
        if not super().swap_landed(staging, final, sync_id):
            return False
        old = fitted_name(final.name, "__bulksync_old")
        keep = mysql_keep.Keeper(self, final.name, old)
        keep.recover()
        self._execute(f"DROP TABLE IF EXISTS {quote(old)}")
        self._swap_notes[final.name] = keep.said()
        return True

    # -- reads --------------------------------------------------------------------------------

    def row_estimate(self, table: str) -> int | None:
        found = self._rows(
            "SELECT TABLE_ROWS AS n FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [table],
        )
        return int(found[0]["n"]) if found and found[0]["n"] is not None else None

    def read_chunk(self, query: ChunkQuery) -> pa.RecordBatch:
        """One keyset page through connectorx, its values bound client-side by PyMySQL's escaping."""
        raw = self._cx(self.chunk_statement(query), fetch_rows=query.fetch_rows, context=_read_context(query))
        arrays = [
            decode_column(raw.column(i), c, query.table.name) for i, c in enumerate(query.table.columns)
        ]
        return self.conform_read(pa.Table.from_arrays(arrays, names=query.table.names), query)

    def read_stream(self, query: ChunkQuery) -> Generator[pa.RecordBatch, None, None]:
        """The whole (filtered) table as one connectorx stream, ``query.limit`` rows a batch."""
        where, params = self.where_sql(query.table, query.filters)
        cols = ", ".join(
            f"{select_expression(c, _tick(c.name))} AS {_tick(c.name)}" for c in query.table.columns
        )
        sql = f"SELECT {cols} FROM {_tick(query.table.name)}{ticked(where)}"
        sql = self._mogrify(sql, params) if params else sql
        pre = ["SET time_zone = '+00:00'", "SET max_statement_time = 0"]
        try:
            stream = connectorx.read_sql(
                self._cx_url(), sql, return_type="arrow_stream", batch_size=query.limit,
                pre_execution_query=pre,
            )  # fmt: skip
            for raw in stream:
                arrays = [
                    decode_column(raw.column(i), c, query.table.name)
                    for i, c in enumerate(query.table.columns)
                ]
                yield self.conform_read(pa.Table.from_arrays(arrays, names=query.table.names), query)
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except SyncError:
            raise
        except BaseException as exc:  # a Rust panic arrives as a BaseException
            raise self.translate(exc, context=_read_context(query)) from exc

    def chunk_statement(self, query: ChunkQuery) -> str:
        """The exact SQL of one keyset page, values inlined (what ``read_chunk`` sends)."""
        where, params = self.range_sql(query)
        # connectorx runs the query on its own connection, without ANSI_QUOTES: backticks.
        # ``where`` holds identifiers and %s markers only (no values): each is re-quoted.
        where = ticked(where)
        cols = ", ".join(
            f"{select_expression(c, _tick(c.name))} AS {_tick(c.name)}" for c in query.table.columns
        )
        # Qualified: ORDER BY resolves a bare name to the select list's alias first, and an alias
        # of an expression (the zero-date guard) cannot be read in index order: a filesort of the
        # whole remaining range on every chunk.
        table = _tick(query.table.name)
        order = ", ".join(f"{table}.{_tick(c)}" for c in query.order)
        sql = f"SELECT {cols} FROM {table}{where} ORDER BY {order} LIMIT {int(query.limit)}"
        return self._mogrify(sql, params) if params else sql

    def _mogrify(self, sql: str, params: Sequence[Any]) -> str:
        with self._session().cursor() as cur:
            return str(cur.mogrify(sql, list(params)))

    def _cx(self, sql: str, *, fetch_rows: int | None = None, context: str = "read") -> pa.Table:
        """Run ``sql`` through connectorx: at once, or streamed ``fetch_rows`` rows at a time."""
        pre = ["SET time_zone = '+00:00'", f"SET max_statement_time = {self._timeout_s:.3f}"]
        try:
            if fetch_rows is not None:
                stream = connectorx.read_sql(
                    self._cx_url(),
                    sql,
                    return_type="arrow_stream",
                    batch_size=fetch_rows,
                    pre_execution_query=pre,
                )
                table = stream.read_all().combine_chunks()  # one contiguous batch downstream
            else:
                table = connectorx.read_sql(self._cx_url(), sql, return_type="arrow", pre_execution_query=pre)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a Rust panic arrives as a BaseException
            raise self.translate(exc, context=context) from exc
        assert isinstance(table, pa.Table)
        return table

    # -- checkpoints and rejects --------------------------------------------------------------

    def ensure_internal_tables(self) -> None:
        if self._internal_ready:
            return  # CREATE TABLE commits implicitly in MariaDB: do it once per connection
        opts = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (sync_id VARCHAR(64) NOT NULL, "
            "tbl TEXT NOT NULL, part INTEGER NOT NULL, lower_key TEXT, upper_key TEXT, "
            "last_key TEXT, rows_done BIGINT NOT NULL, done INTEGER NOT NULL, "
            "created_table INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (sync_id, part))" + opts
        )
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {REJECT_TABLE} (sync_id VARCHAR(64) NOT NULL, "
            "tbl TEXT NOT NULL, row_key TEXT NOT NULL, row_data LONGTEXT NOT NULL, "
            "reason TEXT NOT NULL, rejected_at TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP)" + opts
        )
        self._internal_ready = True

    def tidy(self) -> None:
        super().tidy()
        self._internal_ready = False  # the tables may be gone: create them again when needed

    def upsert_state(self, s: PartitionState) -> None:
        self._execute(
            f"INSERT INTO {STATE_TABLE} (sync_id, tbl, part, lower_key, upper_key, last_key, "
            "rows_done, done, created_table) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE last_key = VALUES(last_key), rows_done = VALUES(rows_done), "
            "done = VALUES(done)",
            [
                s.sync_id, s.table, s.partition, encode_key(s.lower), encode_key(s.upper),
                encode_key(s.last), s.rows, int(s.done), int(s.created_table),
            ],
        )  # fmt: skip

    # -- errors -------------------------------------------------------------------------------

    def open_peer(self, url: str) -> MysqlConnector:
        return MysqlConnector(url, statement_timeout_s=self._timeout_s)

    def translate(self, exc: BaseException, *, context: str) -> SyncError:
        return classify(exc, context=context, where=self.safe_url)

    def close(self) -> None:
        pulled: MysqlConnector | None = getattr(self, "_pull_src", None)
        if pulled is not None:
            pulled.close()
        try:
            self._conn.close()
        except pymysql.Error:
            pass  # the server already dropped the connection
        finally:
            if self._spool is not None:
                shutil.rmtree(self._spool, ignore_errors=True)


def _read_context(query: ChunkQuery) -> str:
    """What a read error says it was reading: the table and the chunk's keys."""
    after = f" after key {', '.join(str(v)[:60] for v in query.after)}" if query.after is not None else ""
    return f"read {query.table.name!r}{after}"


@functools.cache
def _sa_dialect() -> sa.Dialect:
    """SQLAlchemy's MySQL dialect, imported where DDL is compiled (start-up time). Compiled to
    text and run without parameters: the default paramstyle (format) would write a '%' in a
    default or a CHECK as '%%', which MariaDB then keeps as two characters."""
    from sqlalchemy.dialects import mysql as mysql_dialect

    return mysql_dialect.dialect(paramstyle="named")
