"""MariaDB's constraint work around and after the load (mixed into ``MysqlConnector``).

- A foreign key's orphan rows are counted first; then it is added with
  ``foreign_key_checks = 0`` for that statement: InnoDB then adds it in place, without
  rebuilding the table or checking the rows again (with checks on, it copies the whole table).
- An AUTO_INCREMENT column numbers new rows past the largest value in the table (InnoDB moves
  its counter past inserted values itself; this makes sure, and never moves it backwards).
- Replacing a table other tables' foreign keys refer to: InnoDB would move those keys onto the
  renamed old table, so they are dropped before the swap and added back to the new table right
  after it (MariaDB has no transactional DDL: a crash between the two loses them; a re-run of
  the migration makes the keys between its own tables again).
"""

from __future__ import annotations

import itertools

from bulksync.connectors.catalog import action
from bulksync.connectors.ddl import ConstraintDdl, ForeignKeyOutcome, Reattached, add_foreign_key_sql, quote
from bulksync.schema import ForeignKey


class MysqlConstraints(ConstraintDdl):
    """Foreign keys after the load, AUTO_INCREMENT next values, keys kept across a swap."""

    declares_foreign_keys = False

    def create_foreign_key(self, table: str, fk: ForeignKey) -> ForeignKeyOutcome:
        found = self._rows(
            "SELECT 1 AS one FROM information_schema.REFERENTIAL_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = %s",
            [table, fk.name],
        )
        if found:
            return ForeignKeyOutcome("exists")
        orphans = self.count_orphans(table, fk)
        self._unchecked([add_foreign_key_sql(table, fk)])
        return ForeignKeyOutcome("created unchecked" if orphans else "created", orphans)

    def _unchecked(self, statements: list[str]) -> None:
        self._execute("SET SESSION foreign_key_checks = 0")
        try:
            for sql in statements:
                self._execute(sql)
        finally:
            self._execute("SET SESSION foreign_key_checks = 1")

    def set_identity_next(self, table: str) -> None:
        found = self._rows(
            "SELECT c.COLUMN_NAME AS col, t.AUTO_INCREMENT AS next FROM information_schema.COLUMNS c "
            "JOIN information_schema.TABLES t "
            "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = %s AND c.EXTRA LIKE '%%auto_increment%%'",
            [table],
        )
        for row in found:
            top = self._rows(
                f"SELECT GREATEST(COALESCE(MAX({quote(row['col'])}), 0), 0) + 1 AS n FROM {quote(table)}"
            )
            if row["next"] is None or int(row["next"]) < int(top[0]["n"]):
                self._execute(f"ALTER TABLE {quote(table)} AUTO_INCREMENT = {int(top[0]['n'])}")

    def detach_references(self, table: str) -> list[Reattached]:
        rows = self._rows(
            "SELECT rc.TABLE_NAME AS child, rc.CONSTRAINT_NAME AS name, rc.DELETE_RULE AS del, "
            "rc.UPDATE_RULE AS upd, k.COLUMN_NAME AS col, k.REFERENCED_COLUMN_NAME AS ref "
            "FROM information_schema.REFERENTIAL_CONSTRAINTS rc JOIN information_schema.KEY_COLUMN_USAGE k "
            "ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = rc.TABLE_NAME "
            "AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME "
            "WHERE rc.CONSTRAINT_SCHEMA = DATABASE() AND rc.REFERENCED_TABLE_NAME = %s "
            "AND rc.TABLE_NAME <> %s "
            "ORDER BY rc.TABLE_NAME, rc.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            [table, table],
        )
        kept = []
        for (child, name), group in itertools.groupby(rows, key=lambda r: (str(r["child"]), str(r["name"]))):
            parts = list(group)
            fk = ForeignKey(
                name,
                tuple(str(r["col"]) for r in parts),
                table,
                tuple(str(r["ref"]) for r in parts),
                on_delete=action(parts[0]["del"]),
                on_update=action(parts[0]["upd"]),
            )
            self._execute(f"ALTER TABLE {quote(child)} DROP FOREIGN KEY {quote(name)}")
            kept.append(Reattached(add_foreign_key_sql(child, fk), quote(child), child, fk))
        return kept

    def reattach_references(self, detached: list[Reattached]) -> None:
        self._execute("SET SESSION foreign_key_checks = 0")
        try:
            super().reattach_references(detached)
        finally:
            self._execute("SET SESSION foreign_key_checks = 1")
