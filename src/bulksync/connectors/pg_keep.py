"""What a replaced PostgreSQL table had beyond its rows and columns, made again on the new one.

A replace swaps a new table in and drops the old one. In PostgreSQL the owner, the grants, row
security, the comments, the triggers, a user's own indexes, storage options, the replica
identity, publication membership and extended statistics belong to the table, so they went with
it: a nightly replace run as ``postgres`` left the application's role with ``permission
denied``, its audit trigger off and logical replication of the table stopped. They are read
inside the swap's transaction, before the old table is dropped, and made again on the new one
once it has its name and its own indexes:

- the owner (when this user may give it), every grant on the table and on each column the new
  table has, row-level security (enabled, forced) and its policies, the comments;
- triggers (``pg_get_triggerdef``) in the state they were in (disabled, replica, always), and
  the indexes the new table lacks — a user's own, partial, on expressions, unique ones
  (``pg_get_indexdef``) — whose columns it has; extended statistics;
- storage options (``fillfactor``…), the replica identity, and the table's place in each
  publication (with its column list and row filter).

Each statement runs under a savepoint: one the database refuses (a unique index the new rows
break, a policy on a column gone) is a note with the reason, and the swap goes on. Row security
is enabled before any policy, so a policy that cannot be made again narrows access, never widens
it. When the replace drops columns, triggers are not made again (their functions may write the
columns: every later insert would fail); the note names them. A table with partitions or tables
that inherit from it is refused before the first row (``replace_refusal``): a plain table cannot
take its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.rows
from psycopg import sql

from bulksync.connectors.ddl import quote
from bulksync.schema import TableSchema

if TYPE_CHECKING:
    from bulksync.connectors.postgres import PostgresConnector

_TABLE = """
SELECT pg_get_userbyid(c.relowner) AS owner, current_user AS me, c.relrowsecurity AS rls,
       c.relforcerowsecurity AS force_rls, c.reloptions AS options, c.relreplident AS identity,
       (SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = c.oid AND x.indisreplident) AS identity_index,
       ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0
             AND NOT attisdropped) AS columns
FROM pg_class c WHERE c.oid = to_regclass(%(t)s)
"""
_GRANTS = """
SELECT NULL::text AS col, a.privilege_type AS privilege, a.is_grantable AS grantable,
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = %(t)s::regclass AND a.grantee <> c.relowner
UNION ALL
SELECT att.attname, a.privilege_type, a.is_grantable,
       CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END
FROM pg_attribute att, aclexplode(att.attacl) a
WHERE att.attrelid = %(t)s::regclass AND att.attacl IS NOT NULL AND NOT att.attisdropped
"""
_INDEXES = """
SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS def, x.indisunique AS uniq,
       x.indexprs IS NOT NULL OR x.indpred IS NOT NULL AS special,
       coalesce(con.contype::text, '') AS contype,
       ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o) AS cols
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
WHERE x.indrelid = %(t)s::regclass AND NOT x.indisprimary
ORDER BY i.relname
"""
_COMMENTS = """
SELECT NULL::text AS col, obj_description(%(t)s::regclass, 'pg_class') AS text
UNION ALL
SELECT attname, col_description(attrelid, attnum) FROM pg_attribute
WHERE attrelid = %(t)s::regclass AND attnum > 0 AND NOT attisdropped
"""
_TRIGGERS = """
SELECT tgname AS name, pg_get_triggerdef(oid) AS def, tgenabled AS enabled FROM pg_trigger
WHERE tgrelid = %(t)s::regclass AND NOT tgisinternal ORDER BY tgname
"""
_POLICIES = """
SELECT polname AS name, polpermissive AS permissive, polcmd AS cmd,
       pg_get_expr(polqual, polrelid) AS qual, pg_get_expr(polwithcheck, polrelid) AS with_check,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END
             FROM unnest(polroles) r) AS roles
FROM pg_policy WHERE polrelid = %(t)s::regclass ORDER BY polname
"""
_PUBLICATIONS = """
SELECT p.pubname AS name, pg_get_expr(pr.prqual, pr.prrelid) AS row_filter,
       ARRAY(SELECT a.attname::text FROM unnest(pr.prattrs) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = k.n ORDER BY k.o) AS cols
FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
WHERE pr.prrelid = %(t)s::regclass ORDER BY p.pubname
"""
_PUBLICATIONS_14 = """
SELECT p.pubname AS name, NULL::text AS row_filter, ARRAY[]::text[] AS cols
FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
WHERE pr.prrelid = %(t)s::regclass ORDER BY p.pubname
"""
_STATISTICS = """
SELECT stxname AS name, pg_get_statisticsobjdef(oid) AS def FROM pg_statistic_ext
WHERE stxrelid = %(t)s::regclass ORDER BY stxname
"""
_ENABLED = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}
_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
_IDENTITY = {"f": "FULL", "n": "NOTHING"}


@dataclass
class Extras:
    """The old table's properties beyond its columns and rows, as found before the drop."""

    table: dict[str, Any] = field(default_factory=dict)
    grants: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    publications: list[dict[str, Any]] = field(default_factory=list)
    statistics: list[dict[str, Any]] = field(default_factory=list)


def replace_refusal(conn: PostgresConnector, table: str) -> str | None:
    """Why a plain new table cannot take ``table``'s place (None: it can)."""
    rows = conn._rows(
        "SELECT c.relkind = 'p' AS partitioned, ARRAY(SELECT i.inhrelid::regclass::text FROM pg_inherits i "
        "WHERE i.inhparent = c.oid ORDER BY 1) AS children FROM pg_class c WHERE c.oid = to_regclass(%s)",
        [quote(table)],
    )
    if not rows or not (rows[0]["partitioned"] or rows[0]["children"]):
        return None
    children = ", ".join(rows[0]["children"]) or "none yet"
    what = f"is partitioned (partitions: {children})" if rows[0]["partitioned"] else (
        f"has tables that inherit from it ({children})"
    )  # fmt: skip
    return f"{what}: --mode replace would make it one plain table and drop them; use --mode upsert"


def read(conn: PostgresConnector, table: str) -> Extras | None:
    """What ``table`` has beyond its columns (None: there is no such table yet)."""
    cur = conn._pg.cursor(row_factory=psycopg.rows.dict_row)
    t = {"t": quote(table)}
    found = cur.execute(_TABLE, t).fetchone()
    if found is None:
        return None

    def each(query: str) -> list[dict[str, Any]]:
        return cur.execute(query, t).fetchall()

    return Extras(
        table=found,
        grants=each(_GRANTS),
        comments=[r for r in each(_COMMENTS) if r["text"] is not None],
        triggers=each(_TRIGGERS),
        indexes=each(_INDEXES),
        policies=each(_POLICIES),
        # row filters and column lists came with PostgreSQL 15
        publications=each(_PUBLICATIONS if conn._pg.info.server_version >= 150000 else _PUBLICATIONS_14),
        statistics=each(_STATISTICS),
    )


class _Restorer:
    """Runs each statement under a savepoint; keeps what was made and why anything was not."""

    def __init__(self, conn: PostgresConnector) -> None:
        self.conn = conn
        self.made: dict[str, list[str]] = {}
        self.notes: list[str] = []

    def run(self, kind: str, what: str, statement: str) -> bool:
        pg = self.conn._pg
        pg.execute("SAVEPOINT bs_keep")
        try:
            pg.execute(statement.encode())  # composed here from the catalog, quoted
        except psycopg.Error as exc:
            pg.execute("ROLLBACK TO SAVEPOINT bs_keep")
            reason = " ".join(str(exc).split())
            self.notes.append(f"{kind} {what} of the replaced table could not be made again: {reason}")
            return False
        pg.execute("RELEASE SAVEPOINT bs_keep")
        self.made.setdefault(kind, []).append(what)
        return True

    def literal(self, text: str) -> str:
        return sql.Literal(text).as_string(self.conn._pg)


def restore(conn: PostgresConnector, final: TableSchema, extras: Extras) -> list[str]:
    """Make ``extras`` again on the new ``final`` table; one note for what was kept, one per
    thing that was not."""
    r = _Restorer(conn)
    names = set(final.names)
    gone = [c for c in extras.table["columns"] if c not in names]
    target = quote(final.name)
    _security(r, target, extras, names)
    for c in extras.comments:
        if c["col"] is not None and c["col"] not in names:
            continue
        what = f"COLUMN {target}.{quote(c['col'])}" if c["col"] else f"TABLE {target}"
        r.run("comment", f"on {c['col'] or final.name}", f"COMMENT ON {what} IS {r.literal(c['text'])}")
    _indexes(r, final, extras, names)
    for s in extras.statistics:
        r.run("statistics", s["name"], s["def"])
    if gone and extras.triggers:
        shown = ", ".join(t["name"] for t in extras.triggers)
        r.notes.append(
            f"trigger(s) {shown} of the replaced table were not made again: the replace drops "
            f"column(s) {', '.join(gone)}, which they may write (every insert would then fail); "
            "check them and create them again"
        )
    else:
        for trigger in extras.triggers:
            state = _ENABLED.get(trigger["enabled"])
            if r.run("trigger", trigger["name"], trigger["def"]) and state:
                r.run("trigger state", f"{trigger['name']} {state.split()[0].lower()}",
                      f"ALTER TABLE {target} {state} {quote(trigger['name'])}")  # fmt: skip
    _table_options(r, target, extras)
    if extras.table["owner"] != extras.table["me"]:
        r.run("owner", extras.table["owner"], f"ALTER TABLE {target} OWNER TO {quote(extras.table['owner'])}")
    kept = "; ".join(f"{kind} {', '.join(whats)}" for kind, whats in r.made.items())
    return ([f"kept from the replaced table: {kept}"] if kept else []) + r.notes


def _security(r: _Restorer, target: str, extras: Extras, names: set[str]) -> None:
    """Row security first (a policy that fails then denies, never widens), then the grants."""
    if extras.table["rls"]:
        r.run("row security", "enabled", f"ALTER TABLE {target} ENABLE ROW LEVEL SECURITY")
    if extras.table["force_rls"]:
        r.run("row security", "forced", f"ALTER TABLE {target} FORCE ROW LEVEL SECURITY")
    for p in extras.policies:
        kind = "PERMISSIVE" if p["permissive"] else "RESTRICTIVE"
        using = f" USING ({p['qual']})" if p["qual"] else ""
        check = f" WITH CHECK ({p['with_check']})" if p["with_check"] else ""
        roles = ", ".join(p["roles"]) or "PUBLIC"
        statement = (
            f"CREATE POLICY {quote(p['name'])} ON {target} AS {kind} FOR {_COMMANDS[p['cmd']]} TO {roles}"
        )
        r.run("policy", p["name"], statement + using + check)
    for g in extras.grants:
        if g["col"] is not None and g["col"] not in names:
            continue
        on = f"({quote(g['col'])}) ON {target}" if g["col"] else f"ON {target}"
        who = "PUBLIC" if g["grantee"] is None else quote(g["grantee"])
        option = " WITH GRANT OPTION" if g["grantable"] else ""
        column = f" ({g['col']})" if g["col"] else ""
        what = f"{g['privilege']}{column} to {g['grantee'] or 'PUBLIC'}"
        r.run("grant", what, f"GRANT {g['privilege']} {on} TO {who}{option}")


def _indexes(r: _Restorer, final: TableSchema, extras: Extras, names: set[str]) -> None:
    have = {(tuple(ix.columns), ix.unique) for ix in final.indexes}
    if final.primary_key:
        have.add((tuple(final.primary_key), True))
    for ix in extras.indexes:
        cols = tuple(ix["cols"])
        if ix["contype"] == "x":
            r.notes.append(f"exclusion constraint {ix['name']} of the replaced table was not made again")
        elif not set(cols) <= names:
            lost = ", ".join(c for c in cols if c not in names)
            r.notes.append(f"index {ix['name']} of the replaced table went with its column(s) {lost}")
        elif ix["special"] or (cols, ix["uniq"]) not in have:
            r.run("index", ix["name"], ix["def"])


def _table_options(r: _Restorer, target: str, extras: Extras) -> None:
    """Storage options, the replica identity, the publications."""
    if extras.table["options"]:
        r.run("storage options", ", ".join(extras.table["options"]),
              f"ALTER TABLE {target} SET ({', '.join(extras.table['options'])})")  # fmt: skip
    identity = extras.table["identity"]
    if identity in _IDENTITY:
        r.run(
            "replica identity",
            _IDENTITY[identity],
            f"ALTER TABLE {target} REPLICA IDENTITY {_IDENTITY[identity]}",
        )
    elif identity == "i" and extras.table["identity_index"]:
        index = extras.table["identity_index"]
        r.run(
            "replica identity",
            f"index {index}",
            f"ALTER TABLE {target} REPLICA IDENTITY USING INDEX {quote(index)}",
        )
    for p in extras.publications:
        cols = f" ({', '.join(quote(c) for c in p['cols'])})" if p["cols"] else ""
        where = f" WHERE ({p['row_filter']})" if p["row_filter"] else ""
        r.run(
            "publication", p["name"], f"ALTER PUBLICATION {quote(p['name'])} ADD TABLE {target}{cols}{where}"
        )
