"""Dropping a text column's length mid-load (``WidensText``), mixed into the server connectors.

A SQLite source never enforced ``VARCHAR(10)``: 500 characters may sit in it. The table this
sync creates keeps the declared lengths, and the engine (``engine/lengths.py``) widens a column
only when a batch brings text longer than it, before that batch's transaction:

- **PostgreSQL**: ``ALTER COLUMN … TYPE text``. varchar → text is binary compatible: no row is
  rewritten, no index rebuilt, NOT NULL and the default stay. Taken under the table's ACCESS
  EXCLUSIVE lock (which the ALTER takes anyway) after a second look at the catalog, so a
  partition that waited behind another's widening alters nothing. The session's upsert staging
  table (``CREATE TEMP TABLE … (LIKE …)``) still has the old type: it is dropped, and made again
  from the widened table by the next upsert.
- **MariaDB**: ``MODIFY`` to LONGTEXT (what an unbounded text column is created as), with the
  column's NULL-ability, default, character set and collation read back from the catalog. A
  column in a key or an index needs a length: it becomes ``VARCHAR(255)``, as a keyed text
  column without a length is created, and longer values stay refused rows. DDL commits on its
  own there, so concurrent partitions take turns through a named lock (``GET_LOCK``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bulksync.connectors.ddl import quote
from bulksync.connectors.pg_internal import stage_name
from bulksync.errors import ConflictError
from bulksync.schema import TableSchema


class _Catalog:
    """What the mixins use of the connector they are mixed into."""

    if TYPE_CHECKING:
        _described: dict[str, TableSchema]

        def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

        def _execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

        def transaction(self) -> AbstractContextManager[Any]: ...

    def _keep_described(self, table: str, lengths: Mapping[str, int | None]) -> None:
        """The described ``table`` with its columns' new ``lengths`` (described again, a
        PostgreSQL table costs 0.1-0.2 s of reflection before the next batch)."""
        known = self._described.get(table)
        if known is not None:
            columns = tuple(
                replace(c, length=lengths[c.name]) if c.name in lengths else c for c in known.columns
            )
            self._described[table] = replace(known, columns=columns)


class PgTextLengths(_Catalog):
    """``WidensText`` for PostgreSQL."""

    def made_unbounded(self, table: TableSchema) -> frozenset[str]:
        return frozenset()  # text and varchar(n) of any n fit in a row

    def text_lengths(self, table: str) -> dict[str, int | None]:
        rows = self._rows(
            "SELECT attname AS name, CASE WHEN atttypmod > 4 THEN atttypmod - 4 END AS n "
            "FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "AND atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)",
            [quote(table)],
        )
        return {str(r["name"]): None if r["n"] is None else int(r["n"]) for r in rows}

    def widen_text(self, table: TableSchema, longest: Mapping[str, int]) -> None:
        name = table.name
        if self._bounded(name, longest):
            with self.transaction():
                self._execute(f"LOCK TABLE {quote(name)} IN ACCESS EXCLUSIVE MODE")
                bounded = self._bounded(name, longest)  # another partition may have just done it
                if bounded:
                    alter = ", ".join(f"ALTER COLUMN {quote(c)} TYPE text" for c in bounded)
                    self._execute(f"ALTER TABLE {quote(name)} {alter}")
        self._execute(f"DROP TABLE IF EXISTS pg_temp.{quote(stage_name(name))}")
        self._keep_described(name, dict.fromkeys(longest))

    def _bounded(self, table: str, columns: Mapping[str, int]) -> list[str]:
        """The ``columns`` of ``table`` that still have a length."""
        now = self.text_lengths(table)
        return [c for c in columns if now.get(c) is not None]


_TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext")
_WORD = re.compile(r"^\w+$")


class MysqlTextLengths(_Catalog):
    """``WidensText`` for MariaDB (and MySQL)."""

    if TYPE_CHECKING:
        _timeout_s: float

    def text_lengths(self, table: str) -> dict[str, int | None]:
        return {
            str(c["name"]): None if str(c["kind"]).endswith("text") else int(c["n"])
            for c in self._text_columns(table)
        }

    def _text_columns(self, table: str) -> list[dict[str, Any]]:
        marks = ", ".join(["%s"] * len(_TEXT_TYPES))
        return self._rows(
            "SELECT COLUMN_NAME AS name, DATA_TYPE AS kind, CHARACTER_MAXIMUM_LENGTH AS n, "
            "IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, CHARACTER_SET_NAME AS charset, "
            "COLLATION_NAME AS collation FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND DATA_TYPE IN ({marks})",
            [table, *_TEXT_TYPES],
        )

    def made_unbounded(self, table: TableSchema) -> frozenset[str]:
        from bulksync.connectors.mysql_row_size import keyed_columns, long_texts  # not for PostgreSQL

        return frozenset(long_texts(table, keyed_columns(table)))

    def widen_text(self, table: TableSchema, longest: Mapping[str, int]) -> None:
        from bulksync.connectors.mysql_row_size import keyed_columns  # not for a PostgreSQL user
        from bulksync.connectors.mysql_types import KEY_TEXT_LENGTH

        name = table.name
        keyed = keyed_columns(table)
        wanted = {c: KEY_TEXT_LENGTH if c in keyed else None for c in longest}
        lock = "bulksync_widen_" + hashlib.sha256(name.encode()).hexdigest()[:40]  # 64 at most
        got = self._rows("SELECT GET_LOCK(%s, %s) AS got", [lock, self._timeout_s])
        if not got or got[0]["got"] != 1:
            raise ConflictError(f"widen {name!r}: another connection kept the table's widening lock")
        try:
            clauses = [
                _modify(c, wanted[c["name"]])
                for c in self._text_columns(name)
                if c["name"] in wanted and _bounded_below(c, wanted[c["name"]])
            ]
            if clauses:
                self._execute(f"ALTER TABLE {quote(name)} {', '.join(clauses)}")
        finally:
            self._rows("SELECT RELEASE_LOCK(%s) AS done", [lock])
        self._keep_described(name, wanted)


def _bounded_below(column: dict[str, Any], wanted: int | None) -> bool:
    """True when ``column`` holds less than ``wanted`` characters (None: unbounded)."""
    if str(column["kind"]).endswith("text"):
        return False
    return wanted is None or int(column["n"]) < wanted


def _modify(column: dict[str, Any], length: int | None) -> str:
    """``MODIFY`` clause giving ``column`` its new type and everything else it had."""
    kind = "LONGTEXT" if length is None else f"VARCHAR({length})"
    charset, collation = str(column["charset"]), str(column["collation"])
    assert _WORD.match(charset) and _WORD.match(collation), (charset, collation)
    clause = f"MODIFY {quote(column['name'])} {kind} CHARACTER SET {charset} COLLATE {collation}"
    clause += " NULL" if column["nullable"] == "YES" else " NOT NULL"
    if column["dflt"] is not None:  # MariaDB gives the default as SQL ('text', NULL, 3)
        clause += f" DEFAULT {column['dflt']}"
    return clause
