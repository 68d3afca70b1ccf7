"""What the SQL connectors share: catalog reflection and DDL (SQLAlchemy Core), keyset SQL,
checkpoint and reject tables. The data path itself goes through each connector's ADBC driver.
"""

from __future__ import annotations

import abc
import datetime as dt
import decimal
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from bulksync.connectors.base import (
    Capabilities,
    ChunkQuery,
    PartitionState,
    Reject,
    TableStats,
)
from bulksync.connectors.conform import conform
from bulksync.engine.checkpoint import decode_key, encode_key
from bulksync.errors import SyncError, UnknownTableError, UsageError
from bulksync.schema import Column, Index, TableSchema, arrow_type, sql_type
from bulksync.spec import Filter

STATE_TABLE = "_bulksync_state"
REJECT_TABLE = "_bulksync_rejects"
INTERNAL = (STATE_TABLE, REJECT_TABLE)


def quote(name: str) -> str:
    """Quote an identifier that was already checked against the catalog."""
    return '"' + name.replace('"', '""') + '"'


def column_list(names: Sequence[str]) -> str:
    return ", ".join(quote(n) for n in names)


def coerce(column: Column, value: Any) -> Any:
    """Turn a CLI string (or JSON value) into the Python value a column of this type compares with."""
    t = column.type
    if not isinstance(value, str):
        return value
    try:
        if pa.types.is_timestamp(t):
            return dt.datetime.fromisoformat(value)
        if pa.types.is_date32(t):
            return dt.date.fromisoformat(value[:10])
        if pa.types.is_integer(t):
            return int(value)
        if pa.types.is_floating(t):
            return float(value)
        if pa.types.is_decimal(t):
            return decimal.Decimal(value)
        if pa.types.is_boolean(t):
            return value.lower() in ("1", "t", "true", "y", "yes")
    except (ValueError, decimal.InvalidOperation) as exc:
        raise UsageError(f"value {value!r} is not a valid {t} for column {column.name!r}") from exc
    return value


class SqlConnector(abc.ABC):
    """Base of the SQLite and PostgreSQL connectors; subclasses own the ADBC connection."""

    dialect: ClassVar[str]
    capabilities: Capabilities = Capabilities()

    def __init__(self, *, sqlalchemy_url: str, safe_url: str) -> None:
        self.safe_url = safe_url
        self._engine = sa.create_engine(sqlalchemy_url, poolclass=NullPool)
        self._described: dict[str, TableSchema] = {}

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
    def _query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run one query on the data connection and return its rows as Arrow."""

    # -- catalog ------------------------------------------------------------------------------

    def list_tables(self) -> list[str]:
        with self._catalog() as inspector:
            names = inspector.get_table_names()
        return sorted(n for n in names if n not in INTERNAL and "__bulksync_" not in n)

    def describe(self, table: str) -> TableSchema:
        found = self.find(table)
        if found is None:
            known = ", ".join(self.list_tables()) or "none"
            raise UnknownTableError(
                f"table {table!r} does not exist in {self.safe_url} (tables: {known})"
            )
        return found

    def find(self, table: str) -> TableSchema | None:
        if table in self._described:
            return self._described[table]
        with self._catalog() as inspector:
            if not inspector.has_table(table):
                return None
            columns = tuple(
                Column(
                    name=c["name"],
                    type=arrow_type(c["type"], dialect=self.dialect, where=f"{table}.{c['name']}"),
                    nullable=bool(c.get("nullable", True)),
                    length=getattr(c["type"], "length", None),
                )
                for c in inspector.get_columns(table)
            )
            pk = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ())
            indexes = tuple(
                Index(str(ix["name"]), tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
                for ix in inspector.get_indexes(table)
                if ix.get("name") and all(ix["column_names"])
            )
        schema = TableSchema(table, columns, pk, indexes)
        self._described[table] = schema
        return schema

    @contextmanager
    def _catalog(self) -> Iterator[sa.Inspector]:
        with self._engine.connect() as conn:
            yield sa.inspect(conn)

    # -- DDL ----------------------------------------------------------------------------------

    def create_table(self, schema: TableSchema, *, with_indexes: bool) -> None:
        meta = sa.MetaData()
        cols = [
            sa.Column(c.name, sql_type(c), nullable=c.nullable and c.name not in schema.primary_key)
            for c in schema.columns
        ]
        table = sa.Table(schema.name, meta, *cols)
        if schema.primary_key:
            table.append_constraint(sa.PrimaryKeyConstraint(*schema.primary_key))
        with self._engine.begin() as conn:
            table.create(conn)
        self._described.pop(schema.name, None)
        if with_indexes:
            self.create_indexes(schema)

    def create_indexes(self, schema: TableSchema) -> None:
        with self._engine.begin() as conn:
            for ix in schema.indexes:
                conn.exec_driver_sql(self.index_sql(schema.name, ix))

    def index_sql(self, table: str, ix: Index) -> str:
        unique = "UNIQUE " if ix.unique else ""
        return (
            f"CREATE {unique}INDEX IF NOT EXISTS {quote(ix.name)} "
            f"ON {quote(table)} ({column_list(ix.columns)})"
        )

    def drop_table(self, table: str) -> None:
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(table)}")
        self._described.pop(table, None)

    # -- reads --------------------------------------------------------------------------------

    def stats(self, table: TableSchema, key: str, filters: Sequence[Filter]) -> TableStats:
        where, params = self.where_sql(table, filters)
        sql = f"SELECT COUNT(*), MIN({quote(key)}), MAX({quote(key)}) FROM {quote(table.name)}{where}"
        row = self._query(sql, params).to_pylist()[0]
        values = list(row.values())
        return TableStats(rows=int(values[0] or 0), min_key=values[1], max_key=values[2])

    def where_sql(
        self, table: TableSchema, filters: Sequence[Filter], start: int = 1
    ) -> tuple[str, list[Any]]:
        """Compile structured filters to ``WHERE`` with bound parameters (never interpolated)."""
        ops = {"eq": "=", "ge": ">=", "lt": "<"}
        clauses, params = [], []
        for f in filters:
            col = table.column(f.column)
            clauses.append(f"{quote(col.name)} {ops[f.op]} {self.placeholder(start + len(params))}")
            params.append(self.param(col, f.value))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def chunk_sql(self, q: ChunkQuery) -> tuple[str, list[Any]]:
        where, params = self.where_sql(q.table, q.filters)
        clauses = [where[len(" WHERE ") :]] if where else []
        cols = [q.table.column(c) for c in q.order]
        for bound, op in ((q.after, ">"), (q.upto, "<=")):
            if bound is None:
                continue
            marks = []
            for col, value in zip(cols, bound, strict=True):
                params.append(self.param(col, value))
                marks.append(self.placeholder(len(params)))
            clauses.append(self.row_compare([quote(c.name) for c in cols], op, marks))
        params.append(q.limit)
        sql = (
            f"SELECT {column_list(q.table.names)} FROM {quote(q.table.name)}"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" ORDER BY {column_list(q.order)} LIMIT {self.placeholder(len(params))}"
        )
        return sql, params

    @staticmethod
    def row_compare(cols: list[str], op: str, marks: list[str]) -> str:
        if len(cols) == 1:
            return f"{cols[0]} {op} {marks[0]}"
        return f"({', '.join(cols)}) {op} ({', '.join(marks)})"

    def read_chunk(self, query: ChunkQuery) -> pa.RecordBatch:
        sql, params = self.chunk_sql(query)
        return conform(self._query(sql, params), query.table.arrow_schema())

    # -- checkpoints and rejects --------------------------------------------------------------

    def ensure_internal_tables(self) -> None:
        with self._engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (sync_id VARCHAR(64) NOT NULL, "
                "tbl TEXT NOT NULL, part INTEGER NOT NULL, lower_key TEXT, upper_key TEXT, "
                "last_key TEXT, rows_done BIGINT NOT NULL, done INTEGER NOT NULL, "
                "PRIMARY KEY (sync_id, part))"
            )
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {REJECT_TABLE} (sync_id VARCHAR(64) NOT NULL, "
                "tbl TEXT NOT NULL, row_key TEXT NOT NULL, row_data TEXT NOT NULL, "
                "reason TEXT NOT NULL, rejected_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
            )

    def load_states(self, sync_id: str) -> list[PartitionState]:
        self.ensure_internal_tables()
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    f"SELECT sync_id, tbl, part, lower_key, upper_key, last_key, rows_done, done "
                    f"FROM {STATE_TABLE} WHERE sync_id = :s ORDER BY part"
                ),
                {"s": sync_id},
            ).all()
        return [
            PartitionState(
                r[0], r[1], int(r[2]), decode_key(r[3]), decode_key(r[4]), decode_key(r[5]),
                int(r[6]), bool(r[7]),
            )
            for r in rows
        ]

    def reset_states(self, sync_id: str, states: Sequence[PartitionState]) -> None:
        self.ensure_internal_tables()
        self._execute("BEGIN")
        try:
            self._execute(f"DELETE FROM {STATE_TABLE} WHERE sync_id = {self.placeholder(1)}", [sync_id])
            for state in states:
                self.upsert_state(state)
            self._execute("COMMIT")
        except BaseException:
            self._execute("ROLLBACK")
            raise

    def upsert_state(self, s: PartitionState) -> None:
        marks = ", ".join(self.placeholder(i) for i in range(1, 9))
        self._execute(
            f"INSERT INTO {STATE_TABLE} (sync_id, tbl, part, lower_key, upper_key, last_key, "
            f"rows_done, done) VALUES ({marks}) ON CONFLICT (sync_id, part) DO UPDATE SET "
            "last_key = excluded.last_key, rows_done = excluded.rows_done, done = excluded.done",
            [s.sync_id, s.table, s.partition, encode_key(s.lower), encode_key(s.upper),
             encode_key(s.last), s.rows, int(s.done)],
        )

    def insert_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
        marks = ", ".join(self.placeholder(i) for i in range(1, 6))
        for r in rejects:
            self._execute(
                f"INSERT INTO {REJECT_TABLE} (sync_id, tbl, row_key, row_data, reason) "
                f"VALUES ({marks})",
                [sync_id, table, encode_key(r.key) or "", json.dumps(r.row, default=str), r.reason],
            )

    # -- transactions and writes ---------------------------------------------------------------

    @abc.abstractmethod
    def write_batch(self, table: str, batch: pa.RecordBatch, upsert_key: Sequence[str]) -> None:
        """Insert (or upsert) one batch inside the open transaction."""

    @abc.abstractmethod
    def translate(self, exc: Exception, *, context: str) -> SyncError:
        """Map a driver exception to the bulksync error tree."""

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        self._execute("BEGIN")
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

    def upsert_sql(self, table: str, stage: str, names: Sequence[str], key: Sequence[str]) -> str:
        cols = column_list(names)
        rest = [n for n in names if n not in key]
        head = (
            f"INSERT INTO {quote(table)} ({cols}) SELECT {cols} FROM {stage} WHERE true "
            f"ON CONFLICT ({column_list(key)}) DO "
        )
        if not rest:
            return head + "NOTHING"
        sets = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in rest)
        old = ", ".join(f"{quote(table)}.{quote(n)}" for n in rest)
        new = ", ".join(f"excluded.{quote(n)}" for n in rest)
        return head + f"UPDATE SET {sets} WHERE ({old}) {self.distinct_op} ({new})"

    distinct_op: ClassVar[str] = "IS DISTINCT FROM"

    def swap_table(self, staging: str, final: TableSchema, sync_id: str) -> None:
        with self.transaction():
            self._execute(f"DROP TABLE IF EXISTS {quote(final.name)}")
            self._execute(f"ALTER TABLE {quote(staging)} RENAME TO {quote(final.name)}")
            self.after_rename(final.name)
            for ix in final.indexes:
                self._execute(self.index_sql(final.name, ix))
            self._execute(f"DELETE FROM {STATE_TABLE} WHERE sync_id = {self.placeholder(1)}", [sync_id])
        self._described.pop(final.name, None)
        self._described.pop(staging, None)

    def after_rename(self, table: str) -> None:
        """Dialect hook inside the swap transaction (PostgreSQL renames the primary key)."""

    def close(self) -> None:
        self._engine.dispose()


class SqlTransaction:
    """The Transaction protocol over one SQL connector's open transaction."""

    def __init__(self, connector: SqlConnector) -> None:
        self._c = connector

    def write(self, table: str, batch: pa.RecordBatch, *, upsert_key: Sequence[str] = ()) -> None:
        self._c.write_batch(table, batch, upsert_key)

    def savepoint(self, name: str) -> None:
        self._c._execute(f"SAVEPOINT {name}")

    def rollback_to(self, name: str) -> None:
        self._c._execute(f"ROLLBACK TO SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self._c._execute(f"RELEASE SAVEPOINT {name}")

    def save_state(self, state: PartitionState) -> None:
        self._c.upsert_state(state)

    def save_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
        self._c.insert_rejects(sync_id, table, rejects)
