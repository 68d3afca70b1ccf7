"""The SQL connectors' DDL (a base of ``SqlConnector``): tables compiled by SQLAlchemy (imported
only when one is created), indexes under a name no other relation holds, the replace's swap.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from bulksync.connectors.ddl import IndexPlace, Reattached, column_list, quote, table_of
from bulksync.errors import SyncError
from bulksync.naming import fitted_name
from bulksync.schema import Column, Index, TableSchema, sql_type

if TYPE_CHECKING:  # imported where DDL is compiled or a SQLAlchemy type mapped (start-up time)
    import sqlalchemy as sa


class SqlDdl:
    """``CREATE TABLE``/``INDEX``, ``DROP`` and the swap, on the connector this is mixed into."""

    if TYPE_CHECKING:
        dialect: ClassVar[str]
        declares_foreign_keys: ClassVar[bool]
        state_table: ClassVar[str]
        _described: dict[str, TableSchema]

        def sa_dialect(self) -> sa.Dialect: ...

        def _execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

        def placeholder(self, n: int) -> str: ...

        def transaction(self) -> AbstractContextManager[Any]: ...

        def detach_references(self, table: str) -> list[Reattached]: ...

        def reattach_references(self, detached: list[Reattached]) -> None: ...

    def create_table(self, schema: TableSchema, *, with_indexes: bool) -> None:
        """Create ``schema`` with its identity column, defaults and CHECKs (see ``ddl``)."""
        table = table_of(
            schema,
            dialect=self.dialect,
            column_type=self.column_type,
            options=self.table_options(),
            with_foreign_keys=self.declares_foreign_keys,
        )
        from sqlalchemy.schema import CreateTable

        self._execute(str(CreateTable(table).compile(dialect=self.sa_dialect())))
        self._described.pop(schema.name, None)
        if with_indexes:
            self.create_indexes(schema)

    def create_indexes(self, schema: TableSchema) -> None:
        for ix in schema.indexes:
            self.create_index(schema.name, ix)
        self._described.pop(schema.name, None)

    def create_index(self, table: str, ix: Index) -> None:
        """``ix`` on ``table``, under its name or, where another relation of the database holds
        that name, the first free ``name1``, ``name2``… (as PostgreSQL numbers the names it makes
        itself): ``CREATE INDEX IF NOT EXISTS`` alone
        skipped such an index in silence (``"A_B"(c)`` and ``"A"(b_c)`` are both ``a_b_c_idx``;
        a renamed old table keeps its indexes' names). An index of the name already on ``table``
        is a re-run's, and left as it is."""
        for n in range(100):
            name = fitted_name(ix.name, str(n)) if n else ix.name
            place = self.index_place(table, name)
            if place == "here":
                return
            if place == "free":
                self._execute(self.index_sql(table, replace(ix, name=name)))
                return
        raise SyncError(f"{table}: no free name for index {ix.name} (tried {ix.name}1 to 99)")

    def index_place(self, table: str, name: str) -> IndexPlace:
        """Where index ``name`` stands for ``table``: "free", "here" (``table`` has an index of that
        name) or "taken" (another relation holds it). The default, for MariaDB, whose index names
        are its table's alone: "free" (its ``IF NOT EXISTS`` is the re-run)."""
        return "free"

    def table_options(self) -> dict[str, Any]:
        """Dialect keywords for ``sa.Table`` (MySQL: engine, character set, collation)."""
        return {}

    def column_type(self, col: Column) -> sa.types.TypeEngine[Any]:
        """The SQL type this dialect stores ``col`` as."""
        return sql_type(col)

    def index_sql(self, table: str, ix: Index) -> str:
        unique = "UNIQUE " if ix.unique else ""
        return (
            f"CREATE {unique}INDEX IF NOT EXISTS {quote(ix.name)} "
            f"ON {quote(table)} ({column_list(ix.columns)})"
        )

    def drop_table(self, table: str) -> None:
        self._execute(f"DROP TABLE IF EXISTS {quote(table)}")
        self._described.pop(table, None)

    def swap_table(self, staging: str, final: TableSchema, sync_id: str) -> list[Reattached]:
        with self.transaction():
            detached = self.detach_references(final.name)  # other tables' keys to the old table
            kept = self.before_drop(final.name)
            self._execute(f"DROP TABLE IF EXISTS {quote(final.name)}")
            self._execute(f"ALTER TABLE {quote(staging)} RENAME TO {quote(final.name)}")
            self.after_rename(final.name)
            for ix in final.indexes:
                self.create_index(final.name, ix)
            self.keep(final, kept)
            self.reattach_references(detached)
            self._execute(f"DELETE FROM {self.state_table} WHERE sync_id = {self.placeholder(1)}", [sync_id])
        self._described.pop(final.name, None)
        self._described.pop(staging, None)
        return detached

    def before_drop(self, table: str) -> object:
        """Dialect hook inside the swap transaction: what the old table has that ``keep`` makes
        again on the new one (PostgreSQL: owner, grants, comments, triggers, own indexes)."""
        return None

    def keep(self, final: TableSchema, kept: object) -> None:
        """Dialect hook inside the swap transaction, once the new table has its name and indexes."""

    def after_rename(self, table: str) -> None:
        """Dialect hook inside the swap transaction (PostgreSQL renames the primary key)."""
