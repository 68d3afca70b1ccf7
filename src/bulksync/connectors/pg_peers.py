"""PostgreSQL → PostgreSQL (a base of ``PostgresConnector``): tell whether two connections reach
the same database, and move keyset chunks between them without decoding a row — within one
database the server alone (``INSERT … SELECT``), between two the source's binary COPY streamed
into ours. Both only when every column's values load unchanged in their binary form;
otherwise the chunk goes through Arrow, where what Arrow has no value for (numeric NaN,
timestamp infinity, an unconstrained numeric's own scale) is sent as its text (``pg_exact``).
"""

from __future__ import annotations

import abc
import re
import secrets
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
import pyarrow as pa

from bulksync.connectors.base import ChunkQuery, Merged, Pulled, Source
from bulksync.connectors.conform import columns_schema, conform, refuse_bad_values, written_columns
from bulksync.connectors.pg_exact import SourceText, numbers_as_text, take_source_text, text_rows
from bulksync.connectors.pg_stream import CopyStream, relay
from bulksync.connectors.sql import SqlConnector, column_list, quote
from bulksync.connectors.sql_chunks import chunk_bounds
from bulksync.errors import BadRowsError, connect_again
from bulksync.schema import Column


class PgPeers(SqlConnector):
    """Same-database detection and the chunk pulls between two PostgreSQL connections."""

    _pg: psycopg.Connection[Any]

    @abc.abstractmethod
    def open_peer(self, url: str) -> PgPeers:
        """Another connection of this kind, with this one's statement timeout."""

    @abc.abstractmethod
    def _stage(self, table: str) -> str:
        """The session's staging table for upserts into ``table``."""

    @abc.abstractmethod
    def _merge_stage(
        self, table: str, stage: str, names: Sequence[str], key: Sequence[str], *, rows: int
    ) -> Merged:
        """Upsert the staged rows into ``table``, then empty the stage."""

    def can_pull_from(self, source_url: str) -> bool:
        from bulksync.connectors.registry import scheme_of

        return scheme_of(source_url) in ("postgresql", "postgres")

    def attach_source(self, source_url: str) -> None:
        self._source_url = source_url
        self._pull_src: PgPeers | None = None
        self._same_types: dict[tuple[str, str], bool] = {}
        self._local_names: dict[str, str | None] = {}
        self._stream: CopyStream | None = None

    def _puller_source(self) -> PgPeers:
        if self._pull_src is None:
            url = self._source_url
            self._pull_src = connect_again(lambda: self.open_peer(url))
        return self._pull_src

    def pull_chunk(self, query: ChunkQuery, target: str, upsert_key: Sequence[str]) -> Pulled:
        """Move one keyset chunk source → here (in the open transaction).

        Within one database the server moves it alone (``INSERT … SELECT``); between two it is
        streamed as binary COPY, never decoded. Both are used only when every column's values
        load unchanged in their binary form (``same_binary_form``); otherwise the chunk goes
        through Arrow (``move_step``), what Arrow has no value for sent as its text.
        """
        src = self._puller_source()
        if not self._types_match(src, query.table.name, target):
            return self.pull_through_arrow(src, query, target, upsert_key)
        local = self._local_name(src, query.table.name)
        if local is not None:
            return self.pull_local_chunk(local, query, target, upsert_key)
        if len(query.order) == 1 and pa.types.is_integer(query.table.column(query.order[0]).type):
            return self._stream_chunk(query, target, upsert_key)
        count, last = chunk_bounds(src, query, quote(query.table.name), src._rows)
        if last is None:
            return Pulled(0, None, Merged())
        names = column_list(query.table.names)
        where, params = src.range_sql(query, upto=last)
        select = f"SELECT {names} FROM {quote(query.table.name)}{where} ORDER BY {column_list(query.order)}"
        into = self._stage(target) if upsert_key else quote(target)
        try:
            with (
                src._pg.cursor().copy(f"COPY ({select}) TO STDOUT (FORMAT binary)", params) as out,
                self._pg.cursor().copy(f"COPY {into} ({names}) FROM STDIN (FORMAT binary)") as into_copy,
            ):
                relay(src._pg.pgconn, into_copy)
                while out.read():  # the end of the COPY and its result, through psycopg
                    pass
            merged = Merged.all_new(count)
            if upsert_key:
                merged = self._merge_stage(target, into, query.table.names, upsert_key, rows=count)
        except psycopg.Error as exc:
            self._drop_source()
            raise self.translate(exc, context=f"copy into {target!r}") from exc
        return Pulled(count, last, merged)

    def move_step(
        self, src: SqlConnector, step: ChunkQuery, target: str, upsert_key: Sequence[str]
    ) -> tuple[pa.RecordBatch, Merged]:
        """A step through Arrow (other column types), what only PostgreSQL's text holds sent as
        that text (``pg_exact``): from the source's text, into a text COPY."""
        if not isinstance(src, PgPeers):
            return super().move_step(src, step, target, upsert_key)
        sql, params = src.chunk_sql(step)
        raw = src._query(sql, params)
        batch = src.conform_read(raw, step)
        written = written_columns(batch, self.describe(target))
        batch, text = take_source_text(raw, batch, step, written)
        refuse_bad_values(batch, step.table.name)  # the engine moves it again, rejecting them
        if not batch.num_rows:
            return batch, Merged()
        if not text:
            return batch, self.write_batch(target, batch, upsert_key)
        return batch, self.write_text(target, batch, upsert_key, written=written, text=text)

    def read_refused(self, src: Source, query: ChunkQuery, target: str) -> pa.RecordBatch:
        """A chunk this destination refused, read again for the engine to isolate its bad rows:
        an unconstrained numeric going into one is read as its text (``numbers_as_text``)."""
        if not isinstance(src, PgPeers):
            return src.read_chunk(query)
        return src.read_chunk(numbers_as_text(query, self.describe(target)))

    def write_text(
        self,
        table: str,
        batch: pa.RecordBatch,
        upsert_key: Sequence[str],
        *,
        written: list[Column],
        text: SourceText,
    ) -> Merged:
        """``write_batch`` through a text COPY: the cells ``text`` holds go as that text."""
        fields = columns_schema(self.describe(table), written)
        # the columns sent as text are not converted (an unconstrained numeric: the scale is kept)
        wanted = [batch.schema.field(i) if i in text.columns else f for i, f in enumerate(fields)]
        data = conform(batch, pa.schema([f.with_nullable(True) for f in wanted]))
        names = [c.name for c in written]
        into = self._stage(table) if upsert_key else quote(table)
        try:
            with self._pg.cursor().copy(f"COPY {into} ({column_list(names)}) FROM STDIN") as copy:
                for row in text_rows(data, text):
                    copy.write_row(row)
            if upsert_key:
                return self._merge_stage(table, into, names, upsert_key, rows=batch.num_rows)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.DataError) and exc.sqlstate is None:  # a NUL character
                raise BadRowsError(f"write to {table!r}: {exc}") from exc
            raise self.translate(exc, context=f"write to {table!r}") from exc
        return Merged.all_new(batch.num_rows)

    def _stream_chunk(self, query: ChunkQuery, target: str, upsert_key: Sequence[str]) -> Pulled:
        """The next ``query.limit`` rows of the partition's one COPY stream (see ``pg_stream``)."""
        key = query.order[0]
        names = [key, *(n for n in query.table.names if n != key)]  # the key first: read from the row
        cols = column_list(names)
        what = (query.table.name, query.upto, query.filters)
        after = None if query.after is None else int(query.after[0])
        into = self._stage(target) if upsert_key else quote(target)
        try:
            stream = self._stream
            if stream is None or stream.what != what or stream.position != after:
                self._drop_source()  # a stream elsewhere in the range (a retry): start afresh
                src = self._puller_source()
                # one statement for the whole range: no statement timeout on the source; the
                # destination's statements (each chunk) keep theirs
                src._pg.execute("SET statement_timeout = 0")
                where, params = src.range_sql(query)
                select = f"SELECT {cols} FROM {quote(query.table.name)}{where} ORDER BY {quote(key)}"
                copy_out = f"COPY ({select}) TO STDOUT (FORMAT binary)"
                stream = self._stream = CopyStream.open(src._pg, copy_out, params, what, after)
            with self._pg.cursor().copy(f"COPY {into} ({cols}) FROM STDIN (FORMAT binary)") as into_copy:
                rows = stream.relay_chunk(into_copy, query.limit)
            merged = Merged.all_new(rows)
            if upsert_key and rows:
                merged = self._merge_stage(target, into, names, upsert_key, rows=rows)
            if stream.ended:
                stream.finish()
                self._stream = None
        except psycopg.Error as exc:
            self._drop_source()
            raise self.translate(exc, context=f"copy into {target!r}") from exc
        return Pulled(rows, (stream.position,) if rows else None, merged)

    def _drop_source(self) -> None:
        """Close the pulling connection: a COPY cut off midway leaves it unusable."""
        self._stream = None
        if self._pull_src is not None:
            self._pull_src.close()
            self._pull_src = None

    def _local_name(self, src: PgPeers, table: str) -> str | None:
        """The source table's schema-qualified name when this connection can read it itself.

        That is when the source is this very database (and this user may read the table): the
        chunk then never leaves the server, one ``INSERT … SELECT`` moves it. The name comes
        from the source's catalog, so both sides mean the same table whatever their search_path.
        """
        if table not in self._local_names:
            found = None
            if self.same_database(src):
                rows = src._rows(
                    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = %s::regclass",
                    [quote(table)],
                )
                name = str(rows[0]["name"])
                readable = self._rows("SELECT has_table_privilege(%s, 'SELECT') AS ok", [name])
                found = name if readable[0]["ok"] else None
            self._local_names[table] = found
        return self._local_names[table]

    def same_database(self, other: object) -> bool:
        """True when ``other`` is connected to this very database (same server, same database).

        ``other`` takes a random advisory lock; this connection looks for it in ``pg_locks``,
        which lists the whole server's locks with the database they were taken in. Equal
        names or addresses prove nothing (proxies, replicas, two servers on one port number).
        """
        if not isinstance(other, PgPeers):
            return False
        if other is self:
            return True
        high, low = secrets.randbits(31), secrets.randbits(31)
        try:
            pid = other._pg.execute("SELECT pg_backend_pid()").fetchone()
            other._pg.execute("SELECT pg_advisory_lock(%s, %s)", [high, low])
            try:
                row = self._pg.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s "
                    "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2 "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    [pid[0] if pid else -1, high, low],
                ).fetchone()
            finally:
                other._pg.execute("SELECT pg_advisory_unlock(%s, %s)", [high, low])
        except psycopg.Error:
            return False  # a server without advisory locks (a pooler, a replica): assume apart
        return bool(row and row[0])

    def _column_types(self, table: str) -> dict[str, ColumnType]:
        rows = self._rows(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, "
            "CASE WHEN t.typtype = 'e' THEN (SELECT coalesce(max(length(e.enumlabel)), 0) "
            "FROM pg_enum e WHERE e.enumtypid = a.atttypid) END AS enum_length "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [quote(table)],
        )
        return {r["name"]: ColumnType(r["type"], r["enum_length"]) for r in rows}

    def _types_match(self, src: PgPeers, table: str, target: str) -> bool:
        if (table, target) not in self._same_types:
            theirs = src._column_types(table)
            ours = self._column_types(target)
            self._same_types[(table, target)] = all(
                n in ours and same_binary_form(t.type, ours[n].type, enum_length=t.enum_length)
                for n, t in theirs.items()
            )
        return self._same_types[(table, target)]


class ColumnType(NamedTuple):
    type: str  # format_type's text
    enum_length: int | None  # an enum's: its longest label, in characters


_TEXT = ("text", "character varying", "citext")
_TEXT_ALIKE = ("name",)  # sent as text: into text, not into a varchar (it has no length)
_TIMES = re.compile(r"(time|timestamp)(?:\((\d)\))?( with(?:out)? time zone)")


def same_binary_form(source: str, dest: str, *, enum_length: int | None = None) -> bool:
    """Whether a value of type ``source`` (``format_type`` text; ``enum_length`` for an enum)
    in binary COPY form loads into a column of type ``dest`` as the same value, with nothing
    cut, rounded or reinterpreted.

    Equal types (an enum into its own type); text into text of no smaller length (``varchar(n)``,
    ``text``, ``citext`` and ``name`` share their binary form); an enum, whose binary form is
    its label, into text of at least its longest label; numbers into a numeric of the same
    scale and no smaller precision; a time or timestamp into one of no smaller precision (the
    same microseconds). Not ``char(n)`` (padding), a timestamp into one of smaller precision
    (rounded) or with/without time zone (the instant would be read in another zone), nor an
    enum into another enum (within one database ``INSERT … SELECT`` has no cast between two).
    """
    if source == dest:
        return True
    if enum_length is not None:
        source = f"character varying({enum_length})"
    times = _TIMES.fullmatch(source), _TIMES.fullmatch(dest)
    if times[0] and times[1]:
        (s_base, s_digits, s_zone), (d_base, d_digits, d_zone) = times[0].groups(), times[1].groups()
        return (s_base, s_zone) == (d_base, d_zone) and int(s_digits or 6) <= int(d_digits or 6)
    (s_base, s_mod), (d_base, d_mod) = _split_type(source), _split_type(dest)
    if s_base in (*_TEXT, *_TEXT_ALIKE) and d_base in _TEXT:
        return not d_mod or (bool(s_mod) and int(s_mod[0]) <= int(d_mod[0]))
    if s_base == d_base == "numeric" and s_mod:
        return not d_mod or (int(s_mod[0]) <= int(d_mod[0]) and s_mod[1:] == d_mod[1:])
    return False


def _split_type(formatted: str) -> tuple[str, list[str]]:
    """``'numeric(12,2)'`` → ``('numeric', ['12', '2'])``; ``'text'`` → ``('text', [])``."""
    base, _, mods = formatted.partition("(")
    if not mods:
        return formatted, []
    if not mods.endswith(")") or base.endswith("[]"):
        return formatted, []
    return base, [m.strip() for m in mods[:-1].split(",")]
