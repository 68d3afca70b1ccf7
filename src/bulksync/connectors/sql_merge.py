"""Upserts on SQL destinations, and what they did: rows inserted, updated, or there unchanged.

Mixed into every SQL connector. PostgreSQL and SQLite merge with ``INSERT … ON CONFLICT … DO
UPDATE … WHERE (old) IS DISTINCT FROM (new)`` (a row set to its own values is not rewritten),
MariaDB with ``ON DUPLICATE KEY UPDATE`` (``mysql.py``). Each database counts the rows it
inserted or changed; the rows whose key was already there are counted first (one key lookup
each), and the two numbers tell the three kinds apart — PostgreSQL counts both in the merge
itself (``RETURNING (xmax = 0)``, ``postgres.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bulksync.connectors.base import Merged
from bulksync.connectors.ddl import column_list, quote

MERGE_SOURCE = "bs_in"  # the alias an upsert's rows go by (a staging table or a chunk's SELECT)


class MergeSql:
    """``merge`` and the statements it runs; dialects override the SQL and the counting."""

    if TYPE_CHECKING:  # the connector this is mixed into runs the statements

        def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

        def _affected(self, sql: str, params: Sequence[Any] = ()) -> int: ...

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
        existing = self._count(self.existing_sql(table, source, key), params)
        changed = self._affected(self.upsert_sql(table, source, names, key), params)
        inserted = rows - existing
        return Merged(inserted, self.updated_of(changed - inserted))

    def existing_sql(self, table: str, source: str, key: Sequence[str]) -> str:
        """Rows of ``source`` whose key ``table`` already holds."""
        match = " AND ".join(f"bs_t.{quote(k)} = {MERGE_SOURCE}.{quote(k)}" for k in key)
        there = f"SELECT 1 FROM {quote(table)} AS bs_t WHERE {match}"
        return f"SELECT count(*) AS n FROM {source} WHERE EXISTS ({there})"

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
        old = ", ".join(f"{quote(table)}.{quote(n)}" for n in rest)
        new = ", ".join(f"excluded.{quote(n)}" for n in rest)
        return head + f"UPDATE SET {sets} WHERE ({old}) {self.distinct_op} ({new})"

    distinct_op: ClassVar[str] = "IS DISTINCT FROM"
