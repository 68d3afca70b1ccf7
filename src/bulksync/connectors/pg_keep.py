"""What a replaced PostgreSQL table had beyond its rows and columns, made again on the new one.

A replace swaps a new table in and drops the old one. In PostgreSQL the owner, the grants, the
comments, the triggers and a user's own indexes belong to the table, so they went with it: a
nightly replace run as ``postgres`` left the application's role with ``permission denied``
(the table now owned by ``postgres``, its grants gone) and its audit trigger silently off. They
are read inside the swap's transaction, before the old table is dropped, and made again on the
new one once it has its name and its own indexes:

- the owner (when this user may give the table to it), every grant on the table and on each
  column the new table has, and the comments on both;
- triggers (``pg_get_triggerdef``) and the indexes the new table lacks — a user's own, partial
  or on expressions, unique ones included (``pg_get_indexdef``) — whose columns it has.

Each statement runs under a savepoint: one the database refuses (a unique index the new rows
break, a trigger whose function is gone) is a note with the reason, and the swap goes on. What
is not made again is said too: row-level security policies, exclusion constraints.
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


@dataclass
class Extras:
    """The old table's owner, grants, comments, triggers and indexes, as found before the drop."""

    owner: str = ""
    me: str = ""
    row_security: bool = False
    grants: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)


def read(conn: PostgresConnector, table: str) -> Extras | None:
    """What ``table`` has beyond its columns (None: there is no such table yet)."""
    cur = conn._pg.cursor(row_factory=psycopg.rows.dict_row)
    t = {"t": quote(table)}
    found = cur.execute(
        "SELECT pg_get_userbyid(relowner) AS owner, current_user AS me, relrowsecurity AS rls "
        "FROM pg_class WHERE oid = to_regclass(%(t)s)",
        t,
    ).fetchone()
    if found is None:
        return None
    return Extras(
        owner=found["owner"],
        me=found["me"],
        row_security=found["rls"],
        grants=cur.execute(_GRANTS, t).fetchall(),
        comments=[r for r in cur.execute(_COMMENTS, t).fetchall() if r["text"] is not None],
        triggers=cur.execute(
            "SELECT tgname AS name, pg_get_triggerdef(oid) AS def FROM pg_trigger "
            "WHERE tgrelid = %(t)s::regclass AND NOT tgisinternal ORDER BY tgname",
            t,
        ).fetchall(),
        indexes=cur.execute(_INDEXES, t).fetchall(),
    )


def restore(conn: PostgresConnector, final: TableSchema, extras: Extras) -> list[str]:
    """Make ``extras`` again on the new ``final`` table; one note per kind made, and per refusal."""
    notes: list[str] = []
    made: dict[str, list[str]] = {}
    names = set(final.names)
    target = quote(final.name)

    def run(kind: str, what: str, statement: str) -> None:
        conn._pg.execute("SAVEPOINT bs_keep")
        try:
            conn._pg.execute(statement.encode())  # composed here from the catalog, quoted
        except psycopg.Error as exc:
            conn._pg.execute("ROLLBACK TO SAVEPOINT bs_keep")
            reason = " ".join(str(exc).split())
            notes.append(f"{kind} {what} of the replaced table could not be made again: {reason}")
            return
        conn._pg.execute("RELEASE SAVEPOINT bs_keep")
        made.setdefault(kind, []).append(what)

    for g in extras.grants:
        if g["col"] is not None and g["col"] not in names:
            continue
        on = f"({quote(g['col'])}) ON {target}" if g["col"] else f"ON {target}"
        who = "PUBLIC" if g["grantee"] is None else quote(g["grantee"])
        option = " WITH GRANT OPTION" if g["grantable"] else ""
        column = f" ({g['col']})" if g["col"] else ""
        run(
            "grant",
            f"{g['privilege']}{column} to {g['grantee'] or 'PUBLIC'}",
            f"GRANT {g['privilege']} {on} TO {who}{option}",
        )
    for c in extras.comments:
        if c["col"] is not None and c["col"] not in names:
            continue
        what = f"COLUMN {target}.{quote(c['col'])}" if c["col"] else f"TABLE {target}"
        literal = sql.Literal(c["text"]).as_string(conn._pg)
        run("comment", f"on {c['col'] or final.name}", f"COMMENT ON {what} IS {literal}")
    have = {(tuple(ix.columns), ix.unique) for ix in final.indexes}
    if final.primary_key:
        have.add((tuple(final.primary_key), True))
    for ix in extras.indexes:
        if ix["contype"] == "x":
            notes.append(f"exclusion constraint {ix['name']} of the replaced table was not made again")
            continue
        cols = tuple(ix["cols"])
        if (not ix["special"] and (cols, ix["uniq"]) in have) or not set(cols) <= names:
            continue
        run("index", ix["name"], ix["def"])
    for trigger in extras.triggers:
        run("trigger", trigger["name"], trigger["def"])
    if extras.owner != extras.me:
        run("owner", extras.owner, f"ALTER TABLE {target} OWNER TO {quote(extras.owner)}")
    if extras.row_security:
        notes.append("row-level security and its policies were not made again on the new table")
    kept = "; ".join(f"{kind} {', '.join(whats)}" for kind, whats in made.items())
    return ([f"kept from the replaced table: {kept}"] if kept else []) + notes
