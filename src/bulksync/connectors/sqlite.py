"""SQLite: reads and writes through the ADBC SQLite driver (Arrow in, Arrow out, no per-row Python)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Generator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import adbc_driver_manager
import pyarrow as pa

from bulksync.connectors.adbc_dbapi import sqlite as adbc_sqlite
from bulksync.connectors.base import Capabilities, ChunkQuery, Key, Merged, Pulled
from bulksync.connectors.conform import columns_schema, conform, to_sqlite_storage, written_columns
from bulksync.connectors.ddl import IndexPlace, Reattached
from bulksync.connectors.sql import MERGE_SOURCE, Reflected, SqlConnector, quote
from bulksync.connectors.sqlite_catalog import sqlite_constraints
from bulksync.connectors.sqlite_cursor import unsortable_times
from bulksync.connectors.sqlite_reals import number_of, reals_as_text, select_list, text_affinity
from bulksync.connectors.sqlite_types import declared_arrow, numbers_in_text
from bulksync.connectors.text_order import Folding, sqlite_key_folding, sqlite_text_order
from bulksync.errors import (
    BadRowsError,
    ConflictError,
    ConnectError,
    PermanentError,
    SyncError,
    UsageError,
)
from bulksync.naming import fitted_name
from bulksync.schema import Column, Index, TableSchema
from bulksync.spec import Filter

if TYPE_CHECKING:  # imported only for DDL (start-up time: see SqlConnector.sa_dialect)
    import sqlalchemy as sa

_BAD_ROW_WORDS = ("constraint failed", "datatype mismatch", "too big")
_BUSY_WORDS = ("database is locked", "database table is locked", "busy")


def _sa_dialect() -> sa.Dialect:
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel.db``, ``sqlite:////abs.db`` or a plain path → the file's path."""
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://") :]
        if not rest.startswith("/"):
            raise UsageError(f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////abs.db")
        return Path(rest[1:])
    return Path(url)


def same_file(a: Path, b: Path) -> bool:
    """True when both paths name one file (links and relative paths resolved)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def sql_literal(value: Any) -> str | None:
    """``value`` as a SQLite literal, or None when only binding is exact (NaN, NUL in text)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return repr(value) if math.isfinite(value) else ("9e999" if value > 0 else "-9e999")
    if isinstance(value, str):
        return None if "\x00" in value else "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    return None


def inline_literals(sql: str, params: Sequence[Any]) -> str | None:
    """``sql`` with each ``?`` replaced by its parameter as a quoted literal, or None.

    Identifiers here are checked plain names and the SQL holds no string literals, so every
    ``?`` is a parameter marker; if the counts disagree, or a value has no exact literal, the
    caller binds as usual.
    """
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        return None
    out = [parts[0]]
    for value, rest in zip(params, parts[1:], strict=True):
        literal = sql_literal(value)
        if literal is None:
            return None
        out += [literal, rest]
    return "".join(out)


class SqliteConnector(SqlConnector):
    """A SQLite file as source and destination."""

    dialect: ClassVar[str] = "sqlite"
    for_update: ClassVar[str] = ""  # BEGIN IMMEDIATE already made this the only writer
    loose_text: ClassVar[bool] = True  # SQLite stores whatever bytes it is given as TEXT
    distinct_op: ClassVar[str] = "IS NOT"
    # take the write lock up front: a deferred transaction that upgrades after another writer
    # committed fails at once with "database is locked" instead of waiting (WAL snapshots)
    begin_sql: ClassVar[str] = "BEGIN IMMEDIATE"
    # One writer at a time: SQLite has a single write lock per file.
    capabilities = Capabilities(parallel_writes=False, enforces_lengths=False)

    def __init__(self, url: str, *, create: bool = False, statement_timeout_s: float = 120.0) -> None:
        path = sqlite_path(url)
        if not create and not path.is_file():
            raise ConnectError(f"SQLite file {str(path)!r} does not exist (check the path)")
        if create and not path.parent.is_dir():
            raise ConnectError(f"folder {str(path.parent)!r} for SQLite file does not exist")
        self.path = path
        self._declared: dict[str, dict[str, str]] = {}  # table → column → its declared type
        self._exact_reads: set[str] = set()  # tables a chunk of had REALs read as text
        super().__init__(safe_url=str(path))
        try:
            self._conn = adbc_sqlite.connect(str(path), autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise ConnectError(f"cannot open SQLite file {str(path)!r}: {exc}") from exc
        self._cur = self._conn.cursor()
        busy_ms = int(statement_timeout_s * 1000)
        # WAL lets readers go on while we write; switching is itself a write, so only a
        # destination (opened with create) switches: a source file is left as it is.
        pragmas = [f"busy_timeout = {busy_ms}"]
        if create:
            pragmas += ["journal_mode = WAL", "synchronous = NORMAL"]
        try:
            for pragma in pragmas:
                self._execute(f"PRAGMA {pragma}")
        except SyncError as exc:
            self.close()
            raise ConnectError(f"cannot use SQLite file {str(path)!r}: {exc.message}") from exc

    def sa_dialect(self) -> sa.Dialect:
        return _sa_dialect()

    def placeholder(self, n: int) -> str:
        return "?"

    def swap_table(self, staging: str, final: TableSchema, sync_id: str) -> list[Reattached]:
        """SQLite's views and triggers name their tables: the new table takes the old one's
        place in them. Its RENAME checks every view, though, and one naming the table just
        dropped failed the swap ("error in view v: no such table"); the legacy RENAME does not."""
        self._execute("PRAGMA legacy_alter_table = ON")
        try:
            return super().swap_table(staging, final, sync_id)
        finally:
            self._execute("PRAGMA legacy_alter_table = OFF")

    def range_sql(self, q: ChunkQuery, *, upto: Key | None = None) -> tuple[str, list[Any]]:
        """Keyset bounds in a column read as text that SQLite stores numbers in (no declared
        type, or one SQLite gives NUMERIC affinity) are bound as the numbers they were.

        SQLite orders every number before every text: bound as text, '525' (read from the
        number 525) is past all numbers, and the next chunk skipped every numeric key after it.
        """
        loose = self._numbers_in_text(q.table.name)
        if loose & set(q.order):

            def native(key: Key | None) -> Key | None:
                if key is None:
                    return None
                return tuple(number_of(v) if c in loose else v for c, v in zip(q.order, key, strict=True))

            q = replace(q, after=native(q.after), upto=native(q.upto))
            upto = native(upto)
        return super().range_sql(q, upto=upto)

    def _declared_types(self, table: str) -> dict[str, str]:
        """Each column's declared type (asked once per table: a schema adopted from another
        connection was not reflected on this one)."""
        if table not in self._declared:
            info = self._query(f"PRAGMA table_info({quote(table)})").to_pylist()
            self._declared[table] = {c["name"]: c["type"] or "" for c in info}
        return self._declared[table]

    def _numbers_in_text(self, table: str) -> frozenset[str]:
        """The columns of ``table`` read as text that may hold numbers."""
        declared = self._declared_types(table).items()
        return frozenset(name for name, d in declared if numbers_in_text(d))

    def _text_only(self, table: str) -> frozenset[str]:
        """The columns of ``table`` that cannot hold a REAL (TEXT affinity)."""
        return frozenset(name for name, d in self._declared_types(table).items() if text_affinity(d))

    def text_order(self, table: str, column: str) -> str:
        """How ``column`` sorts: ``text_order.CODE_POINT``, or the collation that orders it."""
        return sqlite_text_order(self._rows, table, column)

    def index_place(self, table: str, name: str) -> IndexPlace:
        # one namespace for tables, views and indexes, and it ignores ASCII case
        rows = self._rows("SELECT type, tbl_name FROM sqlite_master WHERE name = ? COLLATE NOCASE", [name])
        if not rows:
            return "free"
        here = rows[0]["type"] == "index" and str(rows[0]["tbl_name"]).lower() == table.lower()
        return "here" if here else "taken"

    def key_folding(self, table: str, column: str) -> Folding | None:
        return sqlite_key_folding(self._rows, table, column)

    def numbers_as_text(self, table: str, column: str) -> bool:
        """True when ``column``, read as text, holds numbers (which SQLite orders first)."""
        if column not in self._numbers_in_text(table):
            return False
        number = f"typeof({quote(column)}) IN ('integer', 'real')"
        return bool(self._rows(f"SELECT 1 AS found FROM {quote(table)} WHERE {number} LIMIT 1"))

    def select_list(self, table: TableSchema) -> str:
        """Each column as stored, but a REAL in a column read as text as SQLite's exact text
        (and in float and decimal columns too once a chunk of the table needed it: see
        ``sqlite_reals``)."""
        exact = table.name in self._exact_reads
        return select_list(table, self._text_only(table.name), exact=exact)

    def _read_exact(self, sql: str, params: Sequence[Any], table: TableSchema) -> pa.Table:
        """Run a chunk read; read the chunk again with every REAL cast when the driver returned
        a float or decimal column as text (its REALs then carry only 7 significant digits)."""
        raw = self._query(sql, params)
        text_only = self._text_only(table.name)
        if not reals_as_text(raw.schema, table, text_only):
            return raw
        cheap, exact = (select_list(table, text_only, exact=e) for e in (False, True))
        if exact in sql:  # read with the cast already
            return raw
        if cheap not in sql:  # the SQL is built here from select_list: a bug, not data
            raise PermanentError(f"table {table.name!r}: cannot re-read a chunk exactly")
        self._exact_reads.add(table.name)
        return self._query(sql.replace(cheap, exact, 1), params)

    def read_chunk(self, query: ChunkQuery) -> pa.RecordBatch:
        sql, params = self.chunk_sql(query)
        return self.conform_read(self._read_exact(sql, params, query.table), query)

    def column_type(self, col: Column) -> sa.types.TypeEngine[Any]:
        import sqlalchemy as sa

        # INTEGER, not BIGINT: SQLite integers are 64-bit anyway, and only an INTEGER PRIMARY KEY
        # is the rowid itself (no second index to maintain on every insert).
        if pa.types.is_integer(col.type):
            return sa.Integer()
        return super().column_type(col)

    # Reflection goes through this same ADBC connection: a second SQLite library (pysqlite)
    # on the same file in one process would break SQLite's POSIX locks and can corrupt it.

    def _table_names(self) -> list[str]:
        rows = self._query("SELECT name FROM sqlite_master WHERE type = 'table'").to_pylist()
        return [r["name"] for r in rows if not r["name"].startswith("sqlite_")]

    def _reflect(self, table: str) -> Reflected | None:
        if table not in self._table_names():
            return None
        info = self._query(f"PRAGMA table_info({quote(table)})").to_pylist()
        columns = []
        for c in info:
            declared = declared_arrow(c["type"], where=f"{table}.{c['name']}")
            columns.append((c["name"], declared, not (c["notnull"] or c["pk"])))
        pk = tuple(c["name"] for c in sorted(info, key=lambda c: c["pk"]) if c["pk"])
        indexes, not_created = self._indexes(table)
        constraints = sqlite_constraints(self._rows, table, info)
        # table_info leaves generated columns out (table_xinfo marks them hidden 2 or 3): say so
        xinfo = self._query(f"PRAGMA table_xinfo({quote(table)})").to_pylist()
        generated = [
            f"column {c['name']} is generated (AS …): add it by hand" for c in xinfo if c["hidden"] in (2, 3)
        ]
        constraints = replace(constraints, dropped=(*constraints.dropped, *generated, *not_created))
        return Reflected(columns, pk, indexes, constraints)

    def _indexes(self, table: str) -> tuple[tuple[Index, ...], list[str]]:
        """The plain-column indexes, and a note for each partial or expression index left out.

        A partial index built whole would be wrong, and a UNIQUE one (``email`` unique among
        rows ``WHERE deleted = 0``) would refuse the rows the source holds and fail the table.
        """
        found, not_created = [], []
        for ix in self._query(f"PRAGMA index_list({quote(table)})").to_pylist():
            if ix["origin"] == "pk":  # the primary key's own index
                continue
            cols = self._query(f"PRAGMA index_info({quote(ix['name'])})").to_pylist()
            names = tuple(c["name"] for c in sorted(cols, key=lambda c: c["seqno"]))
            # a UNIQUE constraint's index is named sqlite_autoindex_…, a name no one may create
            name = ix["name"] if ix["origin"] == "c" else fitted_name(f"{table}_{'_'.join(names)}", "_key")
            if ix["partial"]:
                not_created.append(f"index {name} is partial (… WHERE …): recreate it by hand")
            elif not all(names):  # expression indexes have no column names
                not_created.append(f"index {name} is on an expression: recreate it by hand")
            else:
                found.append(Index(name, names, bool(ix["unique"])))
        return tuple(found), not_created

    def cursor_problem(
        self, table: TableSchema, cursor: str, key: Sequence[str], filters: Sequence[Filter]
    ) -> str | None:
        return super().cursor_problem(table, cursor, key, filters) or unsortable_times(
            self, table, cursor, key, filters
        )

    def param(self, column: Column, value: Any) -> Any:
        value = super().param(column, value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            text = value.isoformat(sep=" ")
            return text
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, bool):
            return int(value)
        return value

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._cur.execute(sql, list(params) if params else None)
        except adbc_driver_manager.Error as exc:
            self._fresh_cursor()
            raise self.translate(exc, context=sql.split(" ", 3)[0]) from exc

    def _affected(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._execute(sql, params)
        return self._count("SELECT changes() AS n")

    def _fresh_cursor(self) -> None:
        """Finalize the failed statement: while it lives, ROLLBACK fails and the lock is kept."""
        self._cur.close()
        self._cur = self._conn.cursor()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        limit = params[-1] if params and isinstance(params[-1], int) else 65536
        self._cur.adbc_statement.set_options(
            **{"adbc.sqlite.query.batch_rows": str(max(1024, min(int(limit), 1_000_000)))}
        )
        inlined = inline_literals(sql, params) if params else sql
        if inlined is not None:  # ADBC holds the GIL through a read with bound parameters
            sql, params = inlined, ()
        try:
            self._cur.execute(sql, list(params) if params else None)
            return self._cur.fetch_arrow_table()
        except adbc_driver_manager.Error as exc:
            self._fresh_cursor()
            raise self.translate(exc, context="read") from exc

    def read_stream(self, query: ChunkQuery) -> Generator[pa.RecordBatch, None, None]:
        """A keyless table in rowid order, one query per batch.

        One query per batch, not one stream: the driver infers each column's type from the rows
        of a batch, and a later batch of another type (SQLite lets text into an INTEGER column)
        would fail a stream midway. Every keyless table has a rowid (WITHOUT ROWID needs a key).
        """
        rowid = next(a for a in ("rowid", "_rowid_", "oid") if a not in query.table.names)
        where, params = self.where_sql(query.table, query.filters)
        where = f"{where} AND {rowid} > ?" if where else f" WHERE {rowid} > ?"
        sql = (
            f"SELECT {rowid} AS bs_rowid, {self.select_list(query.table)} FROM {quote(query.table.name)}"
            f"{where} ORDER BY {rowid} LIMIT ?"
        )
        after = -(2**63)
        while True:
            raw = self._read_exact(sql, [*params, after, query.limit], query.table).combine_chunks()
            if raw.num_rows:
                rowids = raw.column(0).chunk(0)
                after = rowids[raw.num_rows - 1].as_py()
                yield self.conform_read(raw.drop_columns(["bs_rowid"]), query, keys=rowids)
            if raw.num_rows < query.limit:
                return

    def write_batch(
        self,
        table: str,
        batch: pa.RecordBatch,
        upsert_key: Sequence[str],
        statement_rows: int | None = None,  # ADBC's ingest batches rows itself; one call
    ) -> Merged:
        schema = self.describe(table)
        written = written_columns(batch, schema)
        data = to_sqlite_storage(conform(batch, columns_schema(schema, written)))
        stage = f"_bs_stage_{table}"
        try:
            if not upsert_key:
                self._cur.adbc_ingest(table, data, mode="append")
                return Merged.all_new(data.num_rows)
            self._cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {quote(stage)} AS SELECT * FROM main.{quote(table)} WHERE 0"
            )
            self._cur.adbc_ingest(stage, data, mode="append", temporary=True)
        except adbc_driver_manager.Error as exc:
            self._fresh_cursor()
            raise self.translate(exc, context=f"write to {table!r}") from exc
        source = f"temp.{quote(stage)} AS {MERGE_SOURCE}"
        merged = self.merge(table, source, [c.name for c in written], upsert_key, rows=data.num_rows)
        self._execute(f"DELETE FROM temp.{quote(stage)}")
        return merged

    # -- SQLite → SQLite: the rows never leave SQLite ------------------------------------------

    def same_database(self, other: object) -> bool:
        return isinstance(other, SqliteConnector) and same_file(self.path, other.path)

    def can_pull_from(self, source_url: str) -> bool:
        """True when ``source_url`` is another SQLite file this database can ATTACH."""
        from bulksync.connectors.registry import scheme_of

        if scheme_of(source_url) != "sqlite":
            return False
        other = sqlite_path(source_url)
        return other.is_file() and not same_file(other, self.path)

    def attach_source(self, source_url: str) -> None:
        self._execute("ATTACH DATABASE ? AS bs_src", [str(sqlite_path(source_url))])

    def pull_chunk(self, query: ChunkQuery, target: str, upsert_key: Sequence[str]) -> Pulled:
        """Copy one keyset chunk from the attached source with INSERT … SELECT (in the open txn)."""
        return self.pull_local_chunk("bs_src." + quote(query.table.name), query, target, upsert_key)

    def translate(self, exc: Exception, *, context: str) -> SyncError:
        text = " ".join(str(exc).split())
        lowered = text.lower()
        if any(w in lowered for w in _BUSY_WORDS):
            return ConflictError(f"{context}: SQLite file is busy: {text}")
        if any(w in lowered for w in _BAD_ROW_WORDS):
            return BadRowsError(f"{context}: {text}")
        if "disk is full" in lowered:
            return PermanentError(
                f"{context}: the disk holding {self.path} is full: free space (or move the file) and "
                "run the same command again; it continues from the last committed batch"
            )
        return PermanentError(f"{context}: {text}")

    def close(self) -> None:
        self._cur.close()
        self._conn.close()
