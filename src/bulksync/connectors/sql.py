"""What the SQL connectors share: catalog reflection and DDL, keyset SQL, checkpoint and reject
tables. The data path itself goes through each connector's ADBC driver. SQLite's and
PostgreSQL's catalogs are read by hand (``sqlite_types``, ``pg_reflect``), MariaDB's through
SQLAlchemy's inspector; DDL is compiled by SQLAlchemy, imported only when a table is created.
"""

from __future__ import annotations

import abc
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from bulksync.connectors.base import (
    Capabilities,
    ChunkQuery,
    Key,
    Merged,
    Pulled,
    TableStats,
)
from bulksync.connectors.catalog import Declared as Declared
from bulksync.connectors.catalog import Reflected as Reflected
from bulksync.connectors.catalog import reflect_with as reflect_with
from bulksync.connectors.conform import BadValue, conform_loose, refuse_bad_values, with_bad_values
from bulksync.connectors.ddl import ConstraintDdl
from bulksync.connectors.ddl import column_list as column_list
from bulksync.connectors.ddl import quote as quote
from bulksync.connectors.sql_bookkeeping import Bookkeeping
from bulksync.connectors.sql_chunks import chunk_bounds
from bulksync.connectors.sql_ddl import SqlDdl
from bulksync.connectors.sql_keys import cursor_problem, holds_key, key_problem
from bulksync.connectors.sql_merge import MERGE_SOURCE as MERGE_SOURCE
from bulksync.connectors.sql_merge import MergeSql
from bulksync.connectors.sql_transaction import SqlTransaction
from bulksync.errors import SyncError, UnsupportedTypeError, unknown_table
from bulksync.schema import Column, TableSchema, arrow_type, coerce
from bulksync.spec import Filter

if TYPE_CHECKING:  # imported where DDL is compiled or a SQLAlchemy type mapped (start-up time)
    import sqlalchemy as sa

STATE_TABLE = "_bulksync_state"
REJECT_TABLE = "_bulksync_rejects"
INTERNAL, WORK = (STATE_TABLE, REJECT_TABLE), ("__bulksync_new", "__bulksync_old")


PULL_STEP_ROWS = 50_000  # rows per Arrow step of a pulled chunk that goes through Python
ESTIMATE_ABOVE_ROWS = 100_000  # smaller tables are counted: it is quick, and their estimate rough


class SqlConnector(SqlDdl, ConstraintDdl, MergeSql, Bookkeeping, abc.ABC):
    """Base of the SQLite and PostgreSQL connectors; subclasses own the ADBC connection."""

    dialect: ClassVar[str]
    capabilities: Capabilities = Capabilities()
    # where checkpoints and rejected rows are kept (PostgreSQL: a schema of their own)
    state_table: ClassVar[str] = STATE_TABLE
    reject_table: ClassVar[str] = REJECT_TABLE

    def __init__(self, *, safe_url: str) -> None:
        self.safe_url = safe_url
        self._described: dict[str, TableSchema] = {}
        self._folds = {}  # (table, key) → the key columns that fold, as of a description of table

    @abc.abstractmethod
    def sa_dialect(self) -> sa.Dialect:
        """SQLAlchemy's dialect that compiles this database's DDL (made on first use: importing
        SQLAlchemy and a dialect costs 0.2-0.45 s of start-up that a copy into an existing table
        never needs)."""

    # -- placeholders and parameters (overridden per dialect) ---------------------------------

    @abc.abstractmethod
    def placeholder(self, n: int) -> str:
        """The n-th (1-based) bound-parameter marker of this dialect."""

    def param(self, column: Column, value: Any) -> Any:
        """Coerce a filter or key value to what the driver binds for ``column``."""
        return coerce(column, value)

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement on the data connection."""

    @abc.abstractmethod
    def _affected(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one data-changing statement; return the rows the database says it changed."""

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run one query on the data connection and return its rows as Arrow."""

    # -- catalog ------------------------------------------------------------------------------

    @abc.abstractmethod
    def _table_names(self) -> list[str]:
        """Every table in the catalog."""

    @abc.abstractmethod
    def _reflect(self, table: str) -> Reflected | None:
        """The table's columns (as ``Declared`` or SQLAlchemy types), keys and indexes; None if absent."""

    def list_tables(self) -> list[str]:  # a user's table may hold "__bulksync_": only ours end so
        return sorted(n for n in self._table_names() if n not in INTERNAL and not n.endswith(WORK))

    def describe(self, table: str) -> TableSchema:
        found = self.find(table)
        if found is None:
            raise unknown_table(table, self.safe_url, self.list_tables())
        return found

    def find(self, table: str) -> TableSchema | None:
        if table in self._described:
            return self._described[table]
        reflected = self._reflect(table)
        if reflected is None:
            return None
        extra = reflected.constraints
        defaults = dict(extra.defaults)
        columns = tuple(
            Column(
                name=name,
                type=(
                    satype.arrow
                    if isinstance(satype, Declared)
                    else self.arrow_type_of(satype, where=f"{table}.{name}")
                ),
                nullable=nullable,
                length=satype.length if isinstance(satype, Declared) else getattr(satype, "length", None),
                identity=name in extra.identity,
                default=defaults.get(name),
                has_default=name in extra.defaulted,
                json_text=isinstance(satype, Declared) and satype.json_text,
            )
            for name, satype, nullable in reflected.columns
        )
        schema = TableSchema(table, columns, reflected.primary_key, reflected.indexes)
        schema = replace(schema, foreign_keys=extra.foreign_keys, checks=extra.checks, dropped=extra.dropped)
        self._described[table] = schema
        return schema

    def adopt_schema(self, schema: TableSchema) -> None:
        """Take ``schema`` as what ``find(schema.name)`` returns (``SharesSchemas``)."""
        self._described[schema.name] = schema

    def arrow_type_of(self, satype: sa.types.TypeEngine[Any], *, where: str) -> pa.DataType:
        """The Arrow type a reflected column travels as (MySQL overrides TINYINT(1), UNSIGNED)."""
        return arrow_type(satype, dialect=self.dialect, where=where)

    # -- reads --------------------------------------------------------------------------------

    def stats(self, table: TableSchema, key: str | None, filters: Sequence[Filter]) -> TableStats:
        """Rows matching ``filters`` and the span of ``key`` (None: a keyless table, rows only)."""
        name = quote(table.name)
        if not filters:  # a count scans the table or an index (~0.1-0.2 s per 1M rows): estimate
            estimate = self.row_estimate(table.name)
            if estimate is not None and estimate >= ESTIMATE_ABOVE_ROWS:
                if key is None:
                    return TableStats(rows=estimate, exact=False)
                k = quote(key)
                span = self._rows(f"SELECT MIN({k}) AS lo, MAX({k}) AS hi FROM {name}")[0]
                return TableStats(rows=estimate, min_key=span["lo"], max_key=span["hi"], exact=False)
        where, params = self.where_sql(table, filters)
        if key is not None and not filters:
            # each alone: SQLite counts from its smallest b-tree and reads MIN/MAX at the ends of
            # the key (1M rows: 3 ms), but one scan for all three together (0.2 s)
            k = quote(key)
            row = self._rows(
                f"SELECT (SELECT COUNT(*) FROM {name}) AS n, (SELECT MIN({k}) FROM {name}) AS lo, "
                f"(SELECT MAX({k}) FROM {name}) AS hi"
            )[0]
            return TableStats(rows=int(row["n"] or 0), min_key=row["lo"], max_key=row["hi"])
        bounds = f", MIN({quote(key)}) AS lo, MAX({quote(key)}) AS hi" if key is not None else ""
        row = self._rows(f"SELECT COUNT(*) AS n{bounds} FROM {name}{where}", params)[0]
        return TableStats(rows=int(row["n"] or 0), min_key=row.get("lo"), max_key=row.get("hi"))

    def row_estimate(self, table: str) -> int | None:
        """The catalog's row count estimate (kept by ANALYZE / the engine), None if it has none."""
        return None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """A small query's rows as dicts (counts, checkpoints): dialects may skip Arrow for it."""
        return list(self._query(sql, params).to_pylist())

    def where_sql(
        self, table: TableSchema, filters: Sequence[Filter], start: int = 1
    ) -> tuple[str, list[Any]]:
        """Compile structured filters to ``WHERE`` with bound parameters (never interpolated)."""
        ops = {"eq": "=", "ge": ">=", "lt": "<"}
        clauses: list[str] = []
        params: list[Any] = []
        for f in filters:
            col = table.column(f.column)
            clauses.append(f"{quote(col.name)} {ops[f.op]} {self.placeholder(start + len(params))}")
            params.append(self.param(col, f.value))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def key_problem(self, table: TableSchema, key: Sequence[str], filters: Sequence[Filter]) -> str | None:
        return key_problem(self, table, key, filters)

    def cursor_problem(
        self, table: TableSchema, cursor: str, key: Sequence[str], filters: Sequence[Filter]
    ) -> str | None:
        return cursor_problem(self, table, cursor, key, filters)

    def holds_key(self, table: str, key: Sequence[str], values: Sequence[Any]) -> bool:
        return holds_key(self, table, key, values)

    def range_sql(self, q: ChunkQuery, *, upto: Key | None = None) -> tuple[str, list[Any]]:
        """``WHERE`` for the chunk's filters and its keyset bounds (``upto`` overrides q.upto)."""
        where, params = self.where_sql(q.table, q.filters)
        clauses = [where[len(" WHERE ") :]] if where else []
        cols = [q.table.column(c) for c in q.order]
        for bound, op in ((q.after, ">"), (upto if upto is not None else q.upto, "<=")):
            if bound is None:
                continue
            values = [self.param(col, value) for col, value in zip(cols, bound, strict=True)]
            names = [quote(c.name) for c in cols]
            if len(cols) > 1:
                # The leading column's own bound is implied, but it is what lets every engine
                # (MariaDB above all) start its index range scan there, not at the range's start.
                params.append(values[0])
                clauses.append(f"{names[0]} {op[0]}= {self.placeholder(len(params))}")
            marks = []
            for value in values:
                params.append(value)
                marks.append(self.placeholder(len(params)))
            clauses.append(self.row_compare(names, op, marks))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def select_list(self, table: TableSchema) -> str:
        """The columns a chunk read selects (a dialect may select some as cheaper-to-decode text)."""
        return column_list(table.names)

    def chunk_sql(self, q: ChunkQuery, *, schema: str = "") -> tuple[str, list[Any]]:
        where, params = self.range_sql(q)
        params.append(q.limit)
        table = f"{schema}{quote(q.table.name)}"
        # ORDER BY the table's columns, qualified: a bare name means the select list's column of
        # that name, which select_list may have turned into text (a NUMERIC key read as text
        # sorts '10' before '9' while the keyset compares numbers, and chunks skipped rows)
        order = ", ".join(f"{table}.{quote(c)}" for c in q.order)
        sql = (
            f"SELECT {self.select_list(q.table)} FROM {table}{where}"
            f" ORDER BY {order} LIMIT {self.placeholder(len(params))}"
        )
        return sql, params

    @staticmethod
    def row_compare(cols: list[str], op: str, marks: list[str]) -> str:
        if len(cols) == 1:
            return f"{cols[0]} {op} {marks[0]}"
        return f"({', '.join(cols)}) {op} ({', '.join(marks)})"

    def pull_through_arrow(
        self, src: SqlConnector, query: ChunkQuery, target: str, upsert_key: Sequence[str]
    ) -> Pulled:
        """Move a pulled chunk the servers cannot move alone, as Arrow batches of ``PULL_STEP_ROWS``.

        A pulled chunk grows with fast commits (up to 64x ``--batch-mb``); read whole it would sit
        in memory outside the memory guard, so it is read and written a step at a time, all in
        the caller's one transaction. Returns the rows moved and the last key, as a pull does.
        """
        count, last, merged = 0, None, Merged()
        while count < query.limit:
            step = replace(query, after=last or query.after, limit=min(PULL_STEP_ROWS, query.limit - count))
            batch, wrote = self.move_step(src, step, target, upsert_key)
            if batch.num_rows:
                merged += wrote
                count += batch.num_rows
                end = batch.num_rows - 1
                last = tuple(batch.column(batch.schema.get_field_index(c))[end].as_py() for c in query.order)
            if batch.num_rows < step.limit:
                break
        return Pulled(count, last, merged)

    def move_step(
        self, src: SqlConnector, step: ChunkQuery, target: str, upsert_key: Sequence[str]
    ) -> tuple[pa.RecordBatch, Merged]:
        """One step of ``pull_through_arrow``: read, written here; the rows read, what the write did."""
        batch = src.read_chunk(step)
        refuse_bad_values(batch, step.table.name)  # the engine moves it again, rejecting them
        return batch, self.write_batch(target, batch, upsert_key) if batch.num_rows else Merged()

    def read_chunk(self, query: ChunkQuery) -> pa.RecordBatch:
        sql, params = self.chunk_sql(query)
        return self.conform_read(self._query(sql, params), query)

    loose_text: ClassVar[bool] = False  # True: text may be invalid UTF-8 (SQLite does not check)

    def take_unreadable(
        self, raw: pa.Table | pa.RecordBatch
    ) -> tuple[pa.Table | pa.RecordBatch, list[BadValue]]:
        """``raw`` with each value its driver could not decode set to NULL, and a BadValue for it."""
        return raw, []

    def conform_read(
        self, raw: pa.Table | pa.RecordBatch, query: ChunkQuery, keys: pa.Array | None = None
    ) -> pa.RecordBatch:
        """``raw`` in the plan's types; values no rule converts travel as BadValues (see conform).

        Each BadValue carries its row's key (``keys``: a rowid per row, for a keyless table).
        A bad value in a key column stops the table: keyset pages cannot step past it.
        """
        raw, early = self.take_unreadable(raw)
        batch, bad = conform_loose(raw, query.table.arrow_schema(), check_utf8=self.loose_text)
        bad = early + bad
        if not bad:
            return batch
        for b in bad:
            if b.column in query.order:
                raise UnsupportedTypeError(
                    f"table {query.table.name!r}: key column {b.column!r} holds {b.value!r}, "
                    f"{b.reason}; keyset reads cannot step past it: fix the value in the source "
                    "or name other key columns with --key"
                )
        order = [batch.column(batch.schema.get_field_index(c)) for c in query.order]

        def key_of(row: int) -> Key:
            return (keys[row].as_py(),) if keys is not None else tuple(c[row].as_py() for c in order)

        return with_bad_values(batch, [replace(b, key=key_of(b.row)) for b in bad])

    def read_stream(self, query: ChunkQuery) -> Generator[pa.RecordBatch, None, None]:
        """Every row matching the filters, in no order, ``query.limit`` rows a batch.

        For a table without a key: one statement reads it all, so it runs without the statement
        timeout (each batch's write keeps its own).
        """
        where, params = self.where_sql(query.table, query.filters)
        sql = f"SELECT {self.select_list(query.table)} FROM {quote(query.table.name)}{where}"
        for batch in self._stream_query(sql, params, rows=query.limit):
            yield self.conform_read(batch, query)

    def _stream_query(self, sql: str, params: Sequence[Any], *, rows: int) -> Iterator[pa.RecordBatch]:
        """Run one query without a statement timeout and yield its rows as it reads them."""
        yield from self._query(sql, params).to_batches(max_chunksize=rows)

    # -- checkpoints and rejects: sql_bookkeeping.py; tidy drops them when empty -------------

    def tidy(self) -> None:
        """Drop the checkpoint and reject tables if nothing is left in them (a finished
        migration leaves none of its bookkeeping among the user's tables)."""
        with self.transaction():
            for table in (self.state_table, self.reject_table):
                if table.split(".")[-1] in self._table_names() and not self._rows(
                    f"SELECT 1 AS found FROM {table} LIMIT 1"
                ):
                    self._execute(f"DROP TABLE {table}")

    # -- transactions and writes ---------------------------------------------------------------

    @abc.abstractmethod
    def write_batch(
        self,
        table: str,
        batch: pa.RecordBatch,
        upsert_key: Sequence[str],
        statement_rows: int | None = None,
    ) -> Merged:
        """Insert (or upsert) one batch inside the open transaction, ``statement_rows`` at most
        per statement (an upsert stages them so, then merges once); what it did to the rows."""

    @abc.abstractmethod
    def translate(self, exc: Exception, *, context: str) -> SyncError:
        """Map a driver exception to the bulksync error tree."""

    begin_sql: ClassVar[str] = "BEGIN"

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        self._execute(self.begin_sql)
        try:
            yield SqlTransaction(self)
        except BaseException:
            self._rollback_quietly()
            raise
        self._execute("COMMIT")

    def _rollback_quietly(self) -> None:
        try:
            self._execute("ROLLBACK")
        except SyncError:
            pass  # the connection is gone; the server rolled the transaction back itself

    def pull_local_chunk(
        self, source_table: str, query: ChunkQuery, target: str, upsert_key: Sequence[str]
    ) -> Pulled:
        """Move one keyset chunk of ``source_table``, a table this connection reads itself, into
        ``target`` with one ``INSERT … SELECT`` in the open transaction: no row leaves the server.

        Returns the rows in the chunk, its last key (None when the chunk was empty) and what
        the write did to them.
        """
        count, last = chunk_bounds(self, query, source_table, self._rows)
        if last is None:
            return Pulled(0, None, Merged())
        where, params = self.range_sql(query, upto=last)
        names = query.table.names
        select = f"SELECT {column_list(names)} FROM {source_table}{where} ORDER BY {column_list(query.order)}"
        if not upsert_key:
            self._execute(f"INSERT INTO {quote(target)} ({column_list(names)}) {select}", params)
            return Pulled(count, last, Merged.all_new(count))
        source = f"({select}) AS {MERGE_SOURCE}"
        merged = self.merge(target, source, names, upsert_key, rows=count, params=params)
        return Pulled(count, last, merged)

    def same_database(self, other: object) -> bool:
        """True when ``other`` is connected to this very database (dialects that can tell say so)."""
        return other is self

    @abc.abstractmethod
    def close(self) -> None:
        """Close the data connection."""
