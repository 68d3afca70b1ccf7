"""What a replaced MariaDB table had beyond its rows and columns, made again on the new one.

A replace swaps a new table in and drops the old one. Grants stay: MariaDB keeps them by table
and column name (``mysql.tables_priv``, ``columns_priv``), so the new table of that name has
them. Triggers and indexes belong to the table, and went with it: a nightly replace removed the
application's audit triggers and the indexes its queries need, with exit 0. They are read before
the swap and made again:

- the indexes the new table lacks whose columns it has (unique or not, prefix lengths, FULLTEXT,
  SPATIAL, HASH, descending parts, comment, ignored or invisible) are made on the staging table
  before the rename, so they come in with it;
- the triggers move with the old table in ``RENAME TABLE``; a trigger's name is its schema's
  alone, so the new table can have one only once the old one no longer does: right after the
  rename each is dropped from the old table and made at once on the new one, in the old order
  (``ACTION_ORDER``, ``FOLLOWS`` the one before), with its ``sql_mode`` and collation, under its
  definer where this user may name another (else under this user, and a note says so).

A statement the server refuses (a unique index the new rows break, a prefix on a column now of
another type) is a note with the reason, and the swap goes on; a lost connection or a lock
timeout is raised, as in any other step of the swap. When the replace drops columns, triggers are
not made again (they may write those columns: every insert would then fail); the note names them.

DDL commits on its own in MariaDB. A crash before the rename leaves the old table as it was
(indexes made on the staging table go with it, or a re-run finds them there and makes no second
one). After the rename, the triggers not yet moved are on ``__bulksync_old``: the next swap moves
them onto the table before it drops that one (``recover``). Only a crash between one trigger's
``DROP TRIGGER`` and its ``CREATE TRIGGER`` — two statements in a row — loses that trigger.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pymysql

from bulksync.connectors.mysql_errors import classify, error_text
from bulksync.connectors.mysql_names import tick
from bulksync.errors import TransientError

if TYPE_CHECKING:
    from bulksync.connectors.mysql import MysqlConnector

_TRIGGERS = (
    "SELECT TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, "
    "ACTION_STATEMENT AS body, DEFINER AS definer, SQL_MODE AS sql_mode, "
    "COLLATION_CONNECTION AS coll FROM information_schema.TRIGGERS "
    "WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s "
    "ORDER BY ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"
)
_COLUMNS = (
    "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION"
)
# SELECT *: MariaDB has IGNORED, MySQL EXPRESSION and IS_VISIBLE
_INDEXES = (
    "SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
    "ORDER BY INDEX_NAME, SEQ_IN_INDEX"
)
_FOREIGN_KEYS = (
    "SELECT CONSTRAINT_NAME AS name FROM information_schema.TABLE_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_TYPE = 'FOREIGN KEY'"
)
_MODE = "SET SESSION sql_mode = %s, collation_connection = %s"  # a trigger's body is read under them
_KINDS = {"FULLTEXT": "FULLTEXT ", "SPATIAL": "SPATIAL "}


class MysqlKeep:
    """What the last swap kept (``NotesSwaps``), on the connector this is mixed into."""

    if TYPE_CHECKING:
        _swap_notes: dict[str, list[str]]

    def swap_notes(self, table: str) -> list[str]:
        """What the last swap of ``table`` kept from the replaced table, and what it could not."""
        return self._swap_notes.pop(table, [])

    def replace_refusal(self, table: str) -> str | None:
        """None: every MariaDB table can be swapped (a view reads the table by its name)."""
        return None


@dataclass(frozen=True)
class KeptIndex:
    """One index of a table as ``information_schema.STATISTICS`` has it."""

    name: str
    unique: bool
    kind: str  # BTREE, HASH, FULLTEXT, SPATIAL
    parts: tuple[tuple[str | None, str | None, int | None, bool], ...]  # column, expression, prefix, desc
    comment: str
    hidden: str  # "", " IGNORED" (MariaDB) or " INVISIBLE" (MySQL)

    @property
    def shape(self) -> tuple[Any, ...]:
        """What makes two indexes the same, whatever their names."""
        return (self.unique, self.kind, self.parts)

    def sql(self, table: str, comment: str) -> str:
        parts = ", ".join(
            (f"({expr})" if col is None else tick(col) + (f"({prefix})" if prefix else ""))
            + (" DESC" if desc else "")
            for col, expr, prefix, desc in self.parts
        )
        kind = "UNIQUE " if self.unique else _KINDS.get(self.kind, "")
        using = " USING HASH" if self.kind == "HASH" else ""
        said = f" COMMENT {comment}" if self.comment else ""
        return f"CREATE {kind}INDEX {tick(self.name)} ON {tick(table)} ({parts}){using}{said}{self.hidden}"


def indexes_of(conn: MysqlConnector, table: str) -> list[KeptIndex]:
    """Every index of ``table``, its primary key included (named ``PRIMARY``)."""
    found = []
    for name, group in itertools.groupby(conn._rows(_INDEXES, [table]), key=lambda r: str(r["INDEX_NAME"])):
        rows = list(group)
        first = rows[0]
        hidden = " IGNORED" if first.get("IGNORED") == "YES" else ""
        hidden = " INVISIBLE" if first.get("IS_VISIBLE") == "NO" else hidden
        spatial = first["INDEX_TYPE"] == "SPATIAL"  # reported with SUB_PART 32, refused with it
        parts = tuple(
            (r["COLUMN_NAME"], r.get("EXPRESSION"), None if spatial else r["SUB_PART"], r["COLLATION"] == "D")
            for r in rows
        )
        found.append(
            KeptIndex(name, not int(first["NON_UNIQUE"]), str(first["INDEX_TYPE"]), parts,
                      str(first.get("INDEX_COMMENT") or ""), hidden)
        )  # fmt: skip
    return found


class Keeper:
    """Reads the table a swap replaces and makes its triggers and indexes again on the new one;
    keeps what was made and why anything was not."""

    def __init__(self, conn: MysqlConnector, table: str, old: str) -> None:
        self.conn, self.table, self.old = conn, table, old
        self.made: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.columns: list[str] = []
        self.triggers: list[dict[str, Any]] = []
        self.indexes: list[KeptIndex] = []

    def _columns(self, table: str) -> list[str]:
        return [str(r["name"]) for r in self.conn._rows(_COLUMNS, [table])]

    def recover(self) -> None:
        """Move the triggers a crashed swap left on the renamed old table back onto the table,
        before this swap drops that one."""
        tables = self.conn._table_names()
        if self.old in tables and self.table in tables:
            left = self.conn._rows(_TRIGGERS, [self.old])
            if left:
                have = set(self._columns(self.table))
                self._move(left, [c for c in self._columns(self.old) if c not in have])

    def read(self) -> None:
        """What the table has now (nothing when there is no such table yet)."""
        self.columns = self._columns(self.table)
        self.triggers = self.conn._rows(_TRIGGERS, [self.table])
        # the index InnoDB made for a foreign key has the key's name: adding the key makes it again
        keys = {str(r["name"]) for r in self.conn._rows(_FOREIGN_KEYS, [self.table])}
        self.indexes = [ix for ix in indexes_of(self.conn, self.table) if ix.name not in keys]

    def make_indexes(self, staging: str) -> None:
        """The table's indexes ``staging`` lacks (by definition, not by name), made on it."""
        have = {ix.shape for ix in indexes_of(self.conn, staging)}
        columns = set(self._columns(staging))
        for ix in self.indexes:
            if ix.name == "PRIMARY" or ix.shape in have:
                continue
            lost = ", ".join(c for c, _, _, _ in ix.parts if c is not None and c not in columns)
            if lost:
                self.notes.append(f"index {ix.name} of the replaced table went with its column(s) {lost}")
            else:
                comment = self.conn._session().escape(ix.comment) if ix.comment else ""
                self._run("index", ix.name, ix.sql(staging, comment))

    def move_triggers(self, new_columns: list[str]) -> None:
        """After the rename: the triggers, now on the old table, moved one by one onto the new."""
        self._move(self.triggers, [c for c in self.columns if c not in set(new_columns)])

    def said(self) -> list[str]:
        """One note for what was kept, one per thing that was not."""
        # a trigger ``recover`` moved back is moved again by ``move_triggers``: named once
        kept = "; ".join(f"{kind} {', '.join(dict.fromkeys(whats))}" for kind, whats in self.made.items())
        return ([f"kept from the replaced table: {kept}"] if kept else []) + self.notes

    def _move(self, triggers: list[dict[str, Any]], gone: list[str]) -> None:
        if triggers and gone:
            self.notes.append(
                f"trigger(s) {', '.join(t['name'] for t in triggers)} of the replaced table were not "
                f"made again: the replace drops column(s) {', '.join(gone)}, which they may write "
                "(every insert would then fail); check them and create them again"
            )
            return
        if not triggers:
            return
        session = self.conn._rows("SELECT @@SESSION.sql_mode AS m, @@SESSION.collation_connection AS c")[0]
        me = str(self.conn._rows("SELECT CURRENT_USER() AS me")[0]["me"])
        last: dict[tuple[str, str], str] = {}
        try:
            for t in triggers:
                refused = self._try(f"DROP TRIGGER IF EXISTS {tick(t['name'])}")
                if refused is not None:
                    self.notes.append(f"trigger {t['name']} of the replaced table could not be moved off it "
                                      f"(it goes with it): {refused}")  # fmt: skip
                    continue
                self.conn._execute(_MODE, [t["sql_mode"], t["coll"]])
                group = (str(t["timing"]), str(t["event"]))
                if self._make_trigger(t, me=me, follows=last.get(group)):
                    last[group] = str(t["name"])
        finally:
            if self.conn._conn.open:  # a new session (after a lost one) starts in ours anyway
                self.conn._execute(_MODE, [session["m"], session["c"]])

    def _make_trigger(self, t: dict[str, Any], *, me: str, follows: str | None) -> bool:
        order = f" FOLLOWS {tick(follows)}" if follows else ""
        head = f"TRIGGER {tick(t['name'])} {t['timing']} {t['event']} ON {tick(self.table)} FOR EACH ROW"
        plain = f"CREATE {head}{order} {t['body']}"
        if t["definer"] == me:
            return self._run("trigger", t["name"], plain)
        refused = self._try(f"CREATE DEFINER={_account(str(t['definer']))} {head}{order} {t['body']}")
        if refused is None:
            self.made.setdefault("trigger", []).append(str(t["name"]))
            return True
        if self._run("trigger", t["name"], plain):
            self.notes.append(
                f"trigger {t['name']} of the replaced table was made again with {me} as its definer, "
                f"not {t['definer']}: {refused}"
            )
            return True
        return False

    def _run(self, kind: str, what: str, statement: str) -> bool:
        refused = self._try(statement)
        if refused is not None:
            self.notes.append(f"{kind} {what} of the replaced table could not be made again: {refused}")
            return False
        self.made.setdefault(kind, []).append(what)
        return True

    def _try(self, statement: str, params: list[Any] | None = None) -> str | None:
        """Run ``statement``: None, or the server's reason for refusing it. A lost connection or
        a lock timeout is raised."""
        try:
            with self.conn._session().cursor() as cur:
                cur.execute(statement, params)  # no params: a '%' in a trigger's body stays one
        except pymysql.Error as exc:
            error = classify(exc, context=statement.split(" ", 3)[0], where=self.conn.safe_url)
            if isinstance(error, TransientError):
                raise error from exc
            return error_text(exc)
        return None


def _account(definer: str) -> str:
    """``user@host`` as ``DEFINER`` takes it (a role has no host)."""
    user, at, host = definer.rpartition("@")
    return f"{tick(user)}@{tick(host)}" if at else tick(definer)
