"""PostgreSQL: binary COPY both ways (and, within one database, the server alone).

Reads go through the ADBC PostgreSQL driver (the server's binary COPY decoded to Arrow in C).
Writes encode Arrow batches to binary COPY with pgpq (Rust) and send them with psycopg 3: we
measured ADBC's own ingest at 2.3 µs of client CPU per 14-column row against pgpq's 0.7 µs, and
on 2 cores that CPU is taken from the server. Transactions are explicit (``BEGIN``/``COMMIT`` on
an autocommit connection) so a failed COPY can be rolled back to a savepoint and the batch split
to isolate bad rows; the checkpoint rides in the same transaction. PostgreSQL → PostgreSQL
streams the source's binary COPY into ours without decoding it, and within one database moves
each chunk with ``INSERT … SELECT`` (no rows cross the wire at all).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from urllib.parse import quote as urlquote

import adbc_driver_manager
import pgpq
import psycopg
import psycopg.rows
import pyarrow as pa
from pgpq.encoders import StringEncoderBuilder
from pgpq.schema import Jsonb

from bulksync.connectors import pg_ddl, pg_internal, pg_keep, pg_reflect, pg_session
from bulksync.connectors.base import Capabilities, Merged, Reject
from bulksync.connectors.conform import BadValue, columns_schema, conform, narrow_decimals, written_columns
from bulksync.connectors.pg_constraints import PgConstraints
from bulksync.connectors.pg_dates import take_out_of_range
from bulksync.connectors.pg_exact import texts_of
from bulksync.connectors.pg_peers import PgPeers
from bulksync.connectors.sql import MERGE_SOURCE, Reflected, quote
from bulksync.connectors.sql_chunks import statements
from bulksync.connectors.text_lengths import PgTextLengths
from bulksync.connectors.text_order import Folding, pg_key_folding, pg_text_order
from bulksync.errors import (
    BadRowsError,
    ConflictError,
    ConnectError,
    ConnectionLost,
    PermanentError,
    SyncError,
    UnknownTableError,
    UsageError,
    connect_again,
    hide_password,
    redact,
)
from bulksync.naming import fitted_name
from bulksync.schema import Column, TableSchema, is_json

if TYPE_CHECKING:  # imported only for DDL (start-up time: see SqlConnector.sa_dialect)
    import sqlalchemy as sa

_CONFLICT_STATES = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock, timeout
# the server is going away or not there yet: admin shutdown / pg_terminate_backend, crash
# shutdown, "the database system is starting up"
_GONE_STATES = {"57P01", "57P02", "57P03"}


def safe_pg_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def with_schema(url: str, schema: str) -> str:
    """``url`` whose connections put new tables in ``schema`` (libpq's ``options`` parameter)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "options"]
    query.append(("options", f"-c search_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=urlquote)))


def search_path_schema(url: str) -> str | None:
    """The schema a ``with_schema`` URL names, None for an ordinary URL."""
    for key, value in parse_qsl(urlsplit(url).query):
        found = re.search(r"search_path\s*=\s*([^\s,]+)", value) if key == "options" else None
        if found:
            return found.group(1)
    return None


def _classify(state: str, text: str, context: str, *, lost: bool) -> SyncError:
    """SQLSTATE → the error tree: retry conflicts and lost connections, isolate bad rows."""
    if state in _CONFLICT_STATES:
        return ConflictError(f"{context}: {text}")
    gone = state.startswith("08") or state in _GONE_STATES or (lost and not state)
    if gone or "server closed the connection" in text:
        return ConnectionLost(f"{context}: {text}")
    if state.startswith(("22", "23")):
        return BadRowsError(f"{context}: {text}")
    if state == "42P01":
        return UnknownTableError(f"{context}: {text}")
    return PermanentError(f"{context}: {text}")


ENCODE_ROWS = 4096  # rows encoded to COPY binary at a time (about 0.5 MB for a 15-column row)


def _encoder(schema: pa.Schema, as_written: frozenset[str]) -> pgpq.ArrowToPostgresBinaryEncoder:
    """pgpq's encoder; a JSON document column is sent as binary ``jsonb`` (pgpq infers text),
    except into a ``json`` column (``as_written``), whose binary form is its text."""
    if not any(is_json(f.type) and f.name not in as_written for f in schema):
        return pgpq.ArrowToPostgresBinaryEncoder(schema)
    encoders = {
        f.name: StringEncoderBuilder.new_with_output(pa.field(f.name, pa.string()), Jsonb())
        if is_json(f.type) and f.name not in as_written
        else pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(f)
        for f in schema
    }
    return pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(schema, encoders)


class PostgresConnector(PgConstraints, PgPeers, PgTextLengths):
    """A PostgreSQL database as source and destination."""

    dialect: ClassVar[str] = "postgresql"
    capabilities = Capabilities()
    state_table: ClassVar[str] = pg_internal.STATE_TABLE
    reject_table: ClassVar[str] = pg_internal.REJECT_TABLE
    max_params: ClassVar[int] = 10_000

    def __init__(self, url: str, *, create: bool = False, statement_timeout_s: float = 120.0) -> None:
        if urlsplit(url).netloc.count("@") > 1:
            raise UsageError(
                "the PostgreSQL URL has more than one '@': write an '@' inside the user name or "
                "password as %40"
            )
        super().__init__(safe_url=safe_pg_url(url))
        self._url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
        self._timeout_ms = int(statement_timeout_s * 1000)
        self._adbc: Any = None
        self._adbc_cur: Any = None
        self._in_tx = False
        self._pg = self._connect()  # writes, DDL, checkpoints: psycopg (binary COPY of pgpq batches)
        self._internal_ready = False
        self._swap_notes: dict[str, list[str]] = {}  # pg_keep's, until the engine reads them
        schema = search_path_schema(url)
        if create and schema is not None:  # --schema: the destination schema, created if missing
            self._execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return pg_session.connect(self._url, statement_timeout_s=self._timeout_ms / 1000)
        except psycopg.Error as exc:
            reason = hide_password(" ".join(str(exc).split()), self._url)
            reason = reason.split("failed: ")[-1]
            raise ConnectError(f"cannot connect to {self.safe_url}: {reason}") from exc

    def _session(self, sql: str = "") -> psycopg.Connection[Any]:
        """The session; a new one when the server dropped it and no transaction of ours was open
        on it (a restart between batches, or one that took the last transaction with it)."""
        if self._pg.closed and (not self._in_tx or sql == "BEGIN"):
            self._in_tx = False
            self._pg = connect_again(self._connect)
        return self._pg

    def sa_dialect(self) -> sa.Dialect:
        return _sa_dialect()

    def ensure_internal_tables(self) -> None:
        if self._internal_ready:
            return
        # CREATE … IF NOT EXISTS is not safe against itself: two syncs starting together in a
        # fresh database both create, and one fails on pg_type's unique index. One at a time.
        self._execute(f"SELECT pg_advisory_lock({pg_internal.DDL_LOCK})")
        try:
            pg_internal.ensure_tables(self)
            super().ensure_internal_tables()
            pg_internal.adopt_legacy_tables(self)
        finally:
            self._execute(f"SELECT pg_advisory_unlock({pg_internal.DDL_LOCK})")
        self._internal_ready = True

    def try_lock(self, name: str, *, shared: bool = False) -> str | None:
        """Hold the advisory lock ``name`` for this session's life (closing releases it); None
        when taken, else who holds it."""
        return pg_internal.try_lock(self, name, shared=shared)

    def tidy(self) -> None:
        """Nothing to tidy: the bookkeeping lives in its own schema, and its rows are gone."""

    def insert_rejects(self, sync_id: str, table: str, rejects: Sequence[Reject]) -> None:
        try:
            pg_internal.copy_rejects(self, sync_id, table, rejects)
        except psycopg.Error as exc:
            raise self.translate(exc, context=f"record rejects of {table!r}") from exc

    def create_table(self, schema: TableSchema, *, with_indexes: bool) -> None:
        """``SqlConnector.create_table`` with the DDL as text (``pg_ddl``), not SQLAlchemy's."""
        self._execute(pg_ddl.create_table_sql(schema, with_foreign_keys=self.declares_foreign_keys))
        self._described.pop(schema.name, None)
        if with_indexes:
            self.create_indexes(schema)

    def placeholder(self, n: int) -> str:
        return "%s"

    def select_list(self, table: TableSchema) -> str:
        # ADBC decodes binary NUMERIC at ~1 µs per value; the server's text form costs it a
        # fraction of that, and Arrow casts the text to decimal128 exactly (2.9 → 0.6 s per 1M
        # rows of three NUMERIC columns).
        return ", ".join(
            f"{quote(c.name)}::text AS {quote(c.name)}" if pa.types.is_decimal(c.type) else quote(c.name)
            for c in table.columns
        )

    def take_unreadable(
        self, raw: pa.Table | pa.RecordBatch
    ) -> tuple[pa.Table | pa.RecordBatch, list[BadValue]]:
        return take_out_of_range(raw)

    def _reader(self) -> Any:
        """The ADBC cursor for reads (binary COPY TO → Arrow in C), opened on first use."""
        if self._adbc_cur is None:
            from bulksync.connectors.adbc_dbapi import postgres  # only a source needs it

            adbc_pg: Any = postgres()
            try:
                self._adbc = adbc_pg.connect(pg_session.with_keepalives(self._url), autocommit=True)
            except adbc_driver_manager.Error as exc:
                raise ConnectError(
                    f"cannot connect to {self.safe_url}: {hide_password(str(exc), self._url)}"
                ) from exc
            self._adbc_cur = self._adbc.cursor()
            self._adbc_cur.execute(f"SET statement_timeout = {self._timeout_ms}")
        return self._adbc_cur

    # The catalog is read on the writing session (its search_path is the connector's schema):
    # by hand, not through SQLAlchemy's inspector (see ``pg_reflect``).

    def _table_names(self) -> list[str]:
        return pg_reflect.table_names(self._rows)

    def _reflect(self, table: str) -> Reflected | None:
        return pg_reflect.reflect(self._rows, table)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._session(sql).execute(sql, list(params) if params else None)
            self._in_tx = sql == "BEGIN" or (self._in_tx and sql not in ("COMMIT", "ROLLBACK"))
        except psycopg.Error as exc:
            if sql in ("COMMIT", "ROLLBACK"):
                self._in_tx = False
            raise self.translate(exc, context=sql.split(" ", 3)[0]) from exc

    def _affected(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return int(self._pg.execute(sql, list(params) if params else None).rowcount)
        except psycopg.Error as exc:
            raise self.translate(exc, context=sql.split(" ", 3)[0]) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a read through ADBC as one statement without server parameters.

        ADBC streams a parameterless query with binary COPY (1.7x faster here than its
        prepared-statement path), so psycopg binds the values client-side first: the driver
        escapes and types each value; no caller text is ever spliced into the SQL.
        """
        cur = self._reader()
        if params:
            try:
                sql = psycopg.ClientCursor(self._pg).mogrify(sql, list(params))
            except psycopg.DataError as exc:  # a value no PostgreSQL text holds (a NUL character)
                raise BadRowsError(f"a value cannot be sent to PostgreSQL: {exc}") from exc
        try:
            return self._within_deadline(cur, lambda: _fetch_table(cur, sql))
        except adbc_driver_manager.Error as exc:
            raise self.translate(exc, context="read") from exc

    def _within_deadline(self, cur: Any, fn: Callable[[], pa.Table]) -> pa.Table:
        """``fn`` on the ADBC cursor, abandoned (with its connection) past the read deadline."""
        conn = self._adbc

        def abandon() -> None:  # the late answer came: that connection is no longer ours
            cur.close()
            conn.close()

        deadline = pg_session.read_deadline(self._timeout_ms / 1000)
        try:
            return pg_session.within_deadline(fn, deadline_s=deadline, abandon=abandon)
        except pg_session.DeadlineExceeded as exc:
            self._adbc = self._adbc_cur = None  # never touched again, not even by close()
            raise ConnectionLost(f"read: {exc}: connection dropped") from exc

    def _stream_query(self, sql: str, params: Sequence[Any], *, rows: int) -> Iterator[pa.RecordBatch]:
        cur = self._reader()
        if params:
            sql = psycopg.ClientCursor(self._pg).mogrify(sql, list(params))
        try:
            cur.execute("SET statement_timeout = 0")
            try:
                cur.execute(sql)
                reader = cur.fetch_record_batch()
                try:
                    for batch in reader:
                        yield from pa.Table.from_batches([batch]).to_batches(max_chunksize=rows)
                finally:
                    reader.close()
            finally:
                cur.execute(f"SET statement_timeout = {self._timeout_ms}")
        except adbc_driver_manager.Error as exc:
            raise self.translate(exc, context="read") from exc

    def write_batch(
        self,
        table: str,
        batch: pa.RecordBatch,
        upsert_key: Sequence[str],
        statement_rows: int | None = None,
    ) -> Merged:
        schema = self.describe(table)
        written = written_columns(batch, schema)
        text = texts_of(batch, written)  # an unconstrained numeric read as its text (read_refused)
        if text:
            return self.write_text(table, batch, upsert_key, written=written, text=text)
        names = [c.name for c in written]
        # Every field nullable for the encoder: a NULL in a NOT NULL column is PostgreSQL's to
        # refuse (a rejected row with the server's reason), not an encoder crash mid-sync.
        wanted = columns_schema(schema, written)
        data = narrow_decimals(conform(batch, pa.schema([f.with_nullable(True) for f in wanted])))
        target = quote(table)
        try:
            if upsert_key:
                target = self._stage(table)
            cols = ", ".join(quote(n) for n in names)
            as_written = frozenset(c.name for c in written if c.json_text)
            for part in statements(data, statement_rows):
                encoder = _encoder(part.schema, as_written)
                with self._pg.cursor().copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT binary)") as copy:
                    # encoded a slice at a time: the COPY bytes of a whole batch never sit in
                    # memory beside the batch itself
                    copy.write(encoder.write_header())
                    for start in range(0, part.num_rows, ENCODE_ROWS):
                        copy.write(encoder.write_batch(part.slice(start, ENCODE_ROWS)))
                    copy.write(encoder.finish())
            if upsert_key:  # the staged batch, merged in one statement
                return self._merge_stage(table, target, names, upsert_key, rows=data.num_rows)
        except psycopg.Error as exc:
            raise self.translate(exc, context=f"write to {table!r}") from exc
        return Merged.all_new(data.num_rows)

    def row_estimate(self, table: str) -> int | None:
        sql = "SELECT reltuples::bigint AS n FROM pg_class WHERE oid = %s::regclass"
        found = self._rows(sql, [quote(table)])
        n = int(found[0]["n"]) if found else -1
        return n if n >= 0 else None  # -1: never analyzed

    def text_order(self, table: str, column: str) -> str:
        """How ``column`` sorts: ``text_order.CODE_POINT``, or the collation that orders it."""
        return pg_text_order(self._rows, table, column)

    def key_folding(self, table: str, column: str) -> Folding | None:
        return pg_key_folding(self._rows, table, column)

    as_bytes: ClassVar[str] = '{}::text COLLATE "C"'

    def compared_as_written(self, expr: str, col: Column) -> str:
        """Also numbers by their text: ``1.5 = 1.50`` and ``-0 = 0`` in PostgreSQL, and an upsert
        left the old scale or sign in place, counted unchanged; json has no equality at all."""
        if col.json_text or pa.types.is_decimal(col.type) or pa.types.is_floating(col.type):
            return f"{expr}::text"
        return super().compared_as_written(expr, col)

    def fold_sql(self, expr: str, folding: Folding) -> str:  # citext: the type itself folds
        return f"{expr} COLLATE {folding.collate}" if folding.collate else f"{expr}::citext"

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        # psycopg, not ADBC: a destination then never opens its second (read) connection
        try:
            cur = self._session().cursor(row_factory=psycopg.rows.dict_row)
            return cur.execute(sql, list(params)).fetchall()
        except psycopg.Error as exc:
            raise self.translate(exc, context="read") from exc

    def _merge_stage(
        self, table: str, stage: str, names: Sequence[str], key: Sequence[str], *, rows: int
    ) -> Merged:
        """Upsert the staged rows into ``table``, then empty the stage for the next statement."""
        merged = self.merge(table, f"{stage} AS {MERGE_SOURCE}", names, key, rows=rows)
        self._pg.execute(f"DELETE FROM {stage}")
        return merged

    def merge(
        self,
        table: str,
        source: str,
        names: Sequence[str],
        key: Sequence[str],
        *,
        rows: int,
        params: Sequence[Any] = (),
    ) -> Merged:
        """One statement: ``xmax = 0`` holds for a row the upsert inserted, not for one it updated
        (rows it left alone are not returned), so one pass counts both."""
        self.refuse_collisions(table, source, key, rows=rows, params=params)
        sql = (
            f"WITH bs_m AS ({self.upsert_sql(table, source, names, key)} RETURNING (xmax = 0) AS ins) "
            "SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM bs_m"
        )
        try:
            found = self._pg.execute(sql, list(params) if params else None).fetchone()
        except psycopg.Error as exc:
            raise self.translate(exc, context=f"write to {table!r}") from exc
        assert found is not None
        return Merged(int(found[0]), int(found[1]))

    def _stage(self, table: str) -> str:
        stage = quote(pg_internal.stage_name(table))
        # Emptied by DELETE after each merge (TRUNCATE makes a new file: ~5 ms a batch) and
        # truncated in place at every commit, so its dead rows never pile up. LIKE copies every
        # NOT NULL: an identity or generated column the batch leaves out needs its own too, or
        # the stage refuses every row.
        self._pg.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {quote(table)} INCLUDING DEFAULTS "
            "INCLUDING IDENTITY INCLUDING GENERATED) ON COMMIT DELETE ROWS"
        )
        return f"pg_temp.{stage}"

    def before_drop(self, table: str) -> object:
        return pg_keep.read(self, table)

    def keep(self, final: TableSchema, kept: object) -> None:
        self._swap_notes[final.name] = (
            pg_keep.restore(self, final, kept) if isinstance(kept, pg_keep.Extras) else []
        )

    def replace_refusal(self, table: str) -> str | None:
        return pg_keep.replace_refusal(self, table)

    def swap_notes(self, table: str) -> list[str]:
        """What the last swap of ``table`` kept from the replaced table, and what it could not."""
        return self._swap_notes.pop(table, [])

    def after_rename(self, table: str) -> None:
        # inside the swap transaction: must run on the writing connection to see the rename
        row = self._pg.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [quote(table)],
        ).fetchone()
        if not row or row[0] == fitted_name(table, "_pkey"):
            return
        for n in range(100):  # a table renamed aside keeps its key's name: then table_pkey1, …
            wanted = fitted_name(table, f"_pkey{n or ''}")
            if self._pg.execute("SELECT to_regclass(%s) IS NULL", [quote(wanted)]).fetchone() == (True,):
                rename = f"RENAME CONSTRAINT {quote(row[0])} TO {quote(wanted)}"
                self._execute(f"ALTER TABLE {quote(table)} {rename}")
                return

    def open_peer(self, url: str) -> PostgresConnector:
        return PostgresConnector(url, statement_timeout_s=self._timeout_ms / 1000)

    def translate(self, exc: Exception, *, context: str) -> SyncError:
        state = getattr(exc, "sqlstate", None) or ""
        if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
            text = redact(exc.diag.message_primary)
            return _classify(state, text, context, lost=isinstance(exc, psycopg.OperationalError))
        text = redact(" ".join(str(exc).split()))
        text = re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", text).split(" Query was:")[0]
        text = text.split(" LINE 1:")[0].split(" CONTEXT:")[0].replace(" ERROR: ", " ")
        lost = isinstance(exc, psycopg.OperationalError | adbc_driver_manager.OperationalError)
        return _classify(state, text, context, lost=lost)

    def close(self) -> None:
        pulled: PostgresConnector | None = getattr(self, "_pull_src", None)
        if pulled is not None:
            pulled.close()
        try:
            self._pg.close()
            if self._adbc_cur is not None:
                self._adbc_cur.close()
                self._adbc.close()
        except (psycopg.Error, adbc_driver_manager.Error):
            pass  # closing a connection the server already dropped


@functools.cache
def _sa_dialect() -> sa.Dialect:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()  # type: ignore[no-untyped-call]


def _fetch_table(cur: Any, sql: str) -> pa.Table:
    cur.execute(sql)
    return cur.fetch_arrow_table()
