"""PostgreSQL: binary COPY both ways through the ADBC PostgreSQL driver (libpq, Arrow-native).

Transactions are explicit (``BEGIN``/``COMMIT`` on an autocommit connection) so that a failed
COPY can be rolled back to a savepoint and the batch split to isolate bad rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.pool import NullPool

from bulksync.connectors.base import Capabilities
from bulksync.connectors.conform import conform
from bulksync.connectors.sql import Reflected, SqlConnector, quote
from bulksync.errors import (
    BadRowsError,
    ConflictError,
    ConnectError,
    ConnectionLost,
    PermanentError,
    SyncError,
    UnknownTableError,
    redact,
)
from bulksync.schema import Index

_CONFLICT_STATES = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock, timeout


def safe_pg_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresConnector(SqlConnector):
    """A PostgreSQL database as source and destination."""

    dialect: ClassVar[str] = "postgresql"
    capabilities = Capabilities()

    def __init__(self, url: str, *, create: bool = False, statement_timeout_s: float = 120.0) -> None:
        sa_url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)
        adbc_url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
        super().__init__(safe_url=safe_pg_url(url), sa_dialect=pg_dialect.dialect())  # type: ignore[no-untyped-call]
        self._sa_url = sa_url
        self._inspector_engine: sa.Engine | None = None
        try:
            self._conn = adbc_pg.connect(adbc_url, autocommit=True)
        except adbc_driver_manager.Error as exc:
            reason = str(exc).split("failed:", 1)[-1].strip().splitlines()[0]
            raise ConnectError(f"cannot connect to {self.safe_url}: {redact(reason)}") from exc
        self._cur = self._conn.cursor()
        self._execute(f"SET statement_timeout = {int(statement_timeout_s * 1000)}")
        self._execute(f"SET lock_timeout = {int(statement_timeout_s * 1000)}")

    def placeholder(self, n: int) -> str:
        return f"${n}"

    def _inspect(self) -> sa.Inspector:
        if self._inspector_engine is None:
            self._inspector_engine = sa.create_engine(self._sa_url, poolclass=NullPool)
        try:
            return sa.inspect(self._inspector_engine.connect())
        except sa.exc.OperationalError as exc:
            raise ConnectError(f"cannot read the catalog of {self.safe_url}") from exc

    def _table_names(self) -> list[str]:
        inspector = self._inspect()
        try:
            return list(inspector.get_table_names())
        finally:
            inspector.bind.close()  # type: ignore[union-attr]

    def _reflect(self, table: str) -> Reflected | None:
        inspector = self._inspect()
        try:
            if not inspector.has_table(table):
                return None
            columns = [
                (str(c["name"]), c["type"], bool(c.get("nullable", True)))
                for c in inspector.get_columns(table)
            ]
            pk = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ())
            indexes = tuple(
                Index(str(ix["name"]), tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
                for ix in inspector.get_indexes(table)
                if ix.get("name") and all(ix["column_names"])
            )
        finally:
            inspector.bind.close()  # type: ignore[union-attr]
        return Reflected(columns, pk, indexes)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._cur.execute(sql, list(params) if params else None)
        except adbc_driver_manager.Error as exc:
            raise self.translate(exc, context=sql.split(" ", 3)[0]) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        try:
            self._cur.execute(sql, list(params) if params else None)
            return self._cur.fetch_arrow_table()
        except adbc_driver_manager.Error as exc:
            raise self.translate(exc, context="read") from exc

    def write_batch(self, table: str, batch: pa.RecordBatch, upsert_key: Sequence[str]) -> None:
        schema = self.describe(table)
        data = conform(batch, schema.arrow_schema())
        try:
            if not upsert_key:
                self._cur.adbc_ingest(table, data, mode="append")
                return
            stage = f"_bs_stage_{table}"
            self._cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {quote(stage)} (LIKE {quote(table)} INCLUDING DEFAULTS)"
            )
            self._cur.adbc_ingest(stage, data, mode="append", temporary=True)
            self._cur.execute(self.upsert_sql(table, f"pg_temp.{quote(stage)}", schema.names, upsert_key))
            self._cur.execute(f"TRUNCATE pg_temp.{quote(stage)}")
        except adbc_driver_manager.Error as exc:
            raise self.translate(exc, context=f"write to {table!r}") from exc

    def after_rename(self, table: str) -> None:
        rows = self._query(
            "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'",
            [quote(table)],
        ).to_pylist()
        wanted = f"{table}_pkey"[:63]
        if rows and rows[0]["conname"] != wanted:
            self._execute(
                f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(rows[0]['conname'])} TO {quote(wanted)}"
            )

    def translate(self, exc: Exception, *, context: str) -> SyncError:
        state = getattr(exc, "sqlstate", None) or ""
        text = redact(" ".join(str(exc).split()))
        text = re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", text).split(" Query was:")[0]
        text = text.split(" LINE 1:")[0].split(" CONTEXT:")[0].replace(" ERROR: ", " ")
        if state in _CONFLICT_STATES:
            return ConflictError(f"{context}: {text}")
        if state.startswith("08") or "server closed the connection" in text or "no connection" in text:
            return ConnectionLost(f"{context}: {text}")
        if state.startswith(("22", "23")):
            return BadRowsError(f"{context}: {text}")
        if state == "42P01":
            return UnknownTableError(f"{context}: {text}")
        if isinstance(exc, adbc_driver_manager.OperationalError) and not state:
            return ConnectionLost(f"{context}: {text}")
        return PermanentError(f"{context}: {text}")

    def close(self) -> None:
        try:
            self._cur.close()
            self._conn.close()
        except adbc_driver_manager.Error:
            pass  # closing a connection the server already dropped
        finally:
            if self._inspector_engine is not None:
                self._inspector_engine.dispose()
