"""Upserts on SQL destinations, and what they did: rows inserted, updated, or there unchanged.

Mixed into every SQL connector. PostgreSQL and SQLite merge with ``INSERT … ON CONFLICT … DO
UPDATE … WHERE (old) IS DISTINCT FROM (new)`` (a row set to its own values is not rewritten),
MariaDB with ``ON DUPLICATE KEY UPDATE`` (``mysql.py``). Each database counts the rows it
inserted or changed; the rows whose key was already there are counted first (one key lookup
each), and the two numbers tell the three kinds apart — PostgreSQL counts both in the merge
itself (``RETURNING (xmax = 0)``, ``postgres.py``).

Where the key's collation calls different strings equal, a merge is refused first if it would
merge rows of different keys (``sql_collisions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from bulksync.connectors import sql_collisions
from bulksync.connectors.base import Merged
from bulksync.connectors.ddl import column_list, quote
from bulksync.connectors.text_order import Folding
from bulksync.schema import Column, TableSchema

MERGE_SOURCE = "bs_in"  # the alias an upsert's rows go by (a staging table or a chunk's SELECT)


class MergeSql:
    """``merge`` and the statements it runs; dialects override the SQL and the counting."""

    if TYPE_CHECKING:  # the connector this is mixed into runs the statements

        def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

        def _affected(self, sql: str, params: Sequence[Any] = ()) -> int: ...

        def find(self, table: str) -> TableSchema | None: ...

    _folds: dict[tuple[str, tuple[str, ...]], tuple[TableSchema | None, dict[str, Folding]]]

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
        """Upsert the ``rows`` rows of ``source`` (``… AS bs_in``) into ``table``: how many were
        inserted and updated.

        The database counts the rows it inserted or changed; the rows whose key was already
        there are counted first (one key lookup each), and the two tell the three kinds apart.
        """
        if self.merges_on_any_unique:
            self.refuse_unique_clashes(table, source, key, params=params)
        existing = self.refuse_collisions(table, source, key, rows=rows, params=params)
        if existing is None:
            existing = self._count(self.existing_sql(table, source, key), params)
        changed = self._affected(self.upsert_sql(table, source, names, key), params)
        inserted = rows - existing
        return Merged(inserted, self.updated_of(changed - inserted))

    def existing_sql(self, table: str, source: str, key: Sequence[str]) -> str:
        """Rows of ``source`` whose key ``table`` already holds."""
        match = " AND ".join(f"bs_t.{quote(k)} = {MERGE_SOURCE}.{quote(k)}" for k in key)
        there = f"SELECT 1 FROM {quote(table)} AS bs_t WHERE {match}"
        return f"SELECT count(*) AS n FROM {source} WHERE EXISTS ({there})"

    def refuse_collisions(
        self, table: str, source: str, key: Sequence[str], *, rows: int, params: Sequence[Any] = ()
    ) -> int | None:
        """Raise ``KeyCollisionError`` naming the rows of ``source`` whose key equals another of
        other bytes under the key's collation; else return how many of its ``rows`` have their
        key in ``table`` (None for a key compared byte by byte: nothing was asked)."""
        folds = self.key_foldings(table, key)
        if not folds:
            return None
        sql = sql_collisions.existing_sql(self, table, source, key, folds=folds, alias=MERGE_SOURCE)
        counted = self._rows(sql, params)[0]
        existing = int(counted["n"])
        if counted["bad"] or existing < rows:  # a key there in other bytes, or new keys to compare
            sql = sql_collisions.collisions_sql(self, table, source, key, folds=folds, alias=MERGE_SOURCE)
            found = self._rows(sql, params)
            if found:
                raise sql_collisions.collision_error(table, key, folds, found)
        return existing

    # MariaDB's ON DUPLICATE KEY UPDATE fires on a clash in any unique index, not only the key's:
    # a row meeting another row's unique email would overwrite that other row
    merges_on_any_unique: ClassVar[bool] = False

    def refuse_unique_clashes(
        self, table: str, source: str, key: Sequence[str], *, params: Sequence[Any] = ()
    ) -> None:
        """Raise ``KeyCollisionError`` naming the rows of ``source`` whose values of a unique
        index other than the key's are already held by a row of ``table`` of another key. Rows
        of the same batch that clash with each other are refused by the stage table's own copy
        of the index before this (a rejected row, as for any other refusal)."""
        schema = self.find(table)
        clashes = {}
        for unique in sql_collisions.other_uniques(schema, key) if schema is not None else ():
            sql = sql_collisions.unique_clashes_sql(table, source, key, unique, alias=MERGE_SOURCE)
            found = self._rows(sql, params)
            if found:
                clashes[unique] = found
        if clashes:
            raise sql_collisions.unique_clash_error(table, key, clashes)

    def key_foldings(self, table: str, key: Sequence[str]) -> dict[str, Folding]:
        """The columns of ``key`` whose equality is not byte equality, asked of the catalog once
        per description of ``table`` (a table created or altered again is asked again)."""
        schema = self.find(table)
        known = self._folds.get((table, tuple(key)))
        if known is not None and known[0] is schema:
            return known[1]
        folds = {k: f for k in key if (f := self.key_folding(table, k)) is not None}
        self._folds[(table, tuple(key))] = (schema, folds)
        return folds

    def key_folding(self, table: str, column: str) -> Folding | None:
        """How ``column`` compares, when not byte by byte (``text_order``); dialects say."""
        return None

    def fold_sql(self, expr: str, folding: Folding) -> str:
        """``expr`` compared as the key column compares it."""
        return f"{expr} COLLATE {folding.collate}"

    as_bytes: ClassVar[str] = "{} COLLATE BINARY"  # text compared and ordered byte by byte

    @staticmethod
    def updated_of(changed_beyond_inserts: int) -> int:
        """Rows updated, from the affected rows beyond the inserts (one each here; MariaDB: two)."""
        return changed_beyond_inserts

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(next(iter(self._rows(sql, params)[0].values())))

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
        found = self.find(table)
        kinds = {c.name: c for c in found.columns} if found else {}

        def compared(expr: str, name: str) -> str:
            col = kinds.get(name)
            return self.compared_as_written(expr, col) if col is not None else expr

        old = ", ".join(compared(f"{quote(table)}.{quote(n)}", n) for n in rest)
        new = ", ".join(compared(f"excluded.{quote(n)}", n) for n in rest)
        return head + f"UPDATE SET {sets} WHERE ({old}) {self.distinct_op} ({new})"

    def compared_as_written(self, expr: str, col: Column) -> str:
        """``expr`` as an upsert tells a changed value from the stored one: by the value as written,
        not by the column's equality — text byte by byte (a case-insensitive collation calls
        'abc' and 'ABC' equal, and the change was reported unchanged and not carried)."""
        return self.as_bytes.format(expr) if pa.types.is_string(col.type) else expr

    distinct_op: ClassVar[str] = "IS DISTINCT FROM"
