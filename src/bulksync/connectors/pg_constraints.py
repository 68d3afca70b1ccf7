"""PostgreSQL's constraint work around and after the load (mixed into ``PostgresConnector``).

- A foreign key is first added as usual, which checks every row in one scan. If rows refer to a
  missing parent (a SQLite source does not enforce its keys), their number is counted and the
  key is added ``NOT VALID``: enforced for every new row, the old ones left as they were.
- Identity columns number new rows past the largest value in the table (``setval``; never
  backwards), and a sequence made for a staging table takes the final table's name.
- Replacing a table that other tables' foreign keys refer to: inside the swap transaction those
  keys are dropped and added back ``NOT VALID`` to the new table, so the swap neither fails nor
  drops another table's rows. Keys between tables of the migration are made again (and
  checked) by the constraints stage; a key of a table outside it is validated after the swap
  (``check_reattached``), and stays ``NOT VALID`` with a warning counting its rows whose parent
  the new table lacks.
"""

from __future__ import annotations

from bulksync.connectors.ddl import (
    ConstraintDdl,
    ForeignKeyOutcome,
    IndexPlace,
    Reattached,
    add_foreign_key_sql,
    quote,
)
from bulksync.errors import BadRowsError, SyncError
from bulksync.naming import fitted_name
from bulksync.schema import ForeignKey

# the names of a constraint's columns, in the key's order
_ATTNAMES = (
    "SELECT a.attname FROM unnest({keys}) WITH ORDINALITY AS k(n, i) "
    "JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.i"
)


class PgConstraints(ConstraintDdl):
    """Foreign keys after the load, identity next values, keys kept across a swap."""

    declares_foreign_keys = False

    def create_foreign_key(self, table: str, fk: ForeignKey) -> ForeignKeyOutcome:
        found = self._rows(
            "SELECT 1 AS one FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
            [quote(table), fk.name],
        )
        if found:
            return ForeignKeyOutcome("exists")
        try:
            self._execute(add_foreign_key_sql(table, fk))
            return ForeignKeyOutcome("created")
        except BadRowsError:  # 23503: rows without a parent
            orphans = self.count_orphans(table, fk)
            self._execute(add_foreign_key_sql(table, fk, suffix=" NOT VALID"))
            return ForeignKeyOutcome("created NOT VALID", orphans)

    def set_identity_next(self, table: str) -> None:
        name = quote(table)
        serial = self._rows(  # identity and serial columns: those with a sequence of their own
            "SELECT a.attname AS col, pg_get_serial_sequence(%s, a.attname) AS seq FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "AND pg_get_serial_sequence(%s, a.attname) IS NOT NULL",
            [name, name, name],
        )
        for col, seq in ((str(r["col"]), str(r["seq"])) for r in serial):
            # is_called false: the next value is exactly this one (1 for an empty table)
            self._rows(
                f"SELECT setval(%s::regclass, GREATEST(COALESCE(MAX({quote(col)}), 0), 0, "
                f"(SELECT last_value - CASE WHEN is_called THEN 0 ELSE 1 END FROM {seq})) + 1, false) "
                f"AS n FROM {name}",
                [seq],
            )
            wanted = fitted_name(f"{table}_{col}", "_seq")
            free = self._rows("SELECT to_regclass(%s) IS NULL AS free", [quote(wanted)])[0]["free"]
            if free:  # created on the staging table: named after it
                self._execute(f"ALTER SEQUENCE {seq} RENAME TO {quote(wanted)}")

    def index_place(self, table: str, name: str) -> IndexPlace:
        # an index shares its schema's one namespace with tables, views and sequences
        rows = self._rows(
            "SELECT COALESCE(i.indrelid = to_regclass(%s), false) AS here FROM pg_class c "
            "LEFT JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = %s "
            "AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = to_regclass(%s))",
            [quote(table), name, quote(table)],
        )
        return "free" if not rows else "here" if rows[0]["here"] else "taken"

    def dependent_views(self, table: str) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT v.oid::regclass::text AS view FROM pg_depend d "
            "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
            "WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass "
            "AND d.refobjid = to_regclass(%s) AND v.oid <> d.refobjid ORDER BY 1",
            [quote(table)],
        )
        return [str(r["view"]) for r in rows]

    def detach_references(self, table: str) -> list[Reattached]:
        rows = self._rows(
            "SELECT c.conrelid::regclass::text AS child, t.relname AS tbl, c.conname AS name, "
            "pg_get_constraintdef(c.oid) AS def, "
            f"ARRAY({_ATTNAMES.format(keys='c.conkey', rel='c.conrelid')}) AS cols, "
            f"ARRAY({_ATTNAMES.format(keys='c.confkey', rel='c.confrelid')}) AS refs "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "WHERE c.contype = 'f' AND c.confrelid = to_regclass(%s) AND c.conrelid <> c.confrelid "
            "ORDER BY 1, 3",
            [quote(table)],
        )
        kept = []
        for r in rows:
            self._execute(f"ALTER TABLE {r['child']} DROP CONSTRAINT {quote(r['name'])}")
            definition = str(r["def"]).removesuffix(" NOT VALID")
            add = f"ALTER TABLE {r['child']} ADD CONSTRAINT {quote(r['name'])} {definition} NOT VALID"
            fk = ForeignKey(str(r["name"]), tuple(r["cols"]), table, tuple(r["refs"]))
            kept.append(Reattached(add, str(r["child"]), str(r["tbl"]), fk))
        return kept

    def check_reattached(self, key: Reattached) -> int:
        """``VALIDATE CONSTRAINT``: the key added back ``NOT VALID`` is checked and marked valid,
        as it was before the swap; if some row refers to a row the new table lacks, it stays
        ``NOT VALID`` and those rows are counted."""
        try:
            self._execute(f"ALTER TABLE {key.child} VALIDATE CONSTRAINT {quote(key.fk.name)}")
        except SyncError:
            return super().check_reattached(key)
        return 0
