"""In what order a database sorts a text column: by code point, or by a collation.

``verify`` pages both sides by key range; a text key the two sides sort differently (a
PostgreSQL database made with ``en_US.UTF-8`` or an ICU locale, MariaDB's default ``_ci``
collations, SQLite's ``NOCASE``) puts a source chunk's rows into other chunks on the
destination, and an equal copy was reported with thousands of rows missing and as many
unexpected. Each dialect names its order here; where the names differ, verify compares the
table in one pass, pairing rows on the key.

``CODE_POINT`` is Python's order of ``str`` (UTF-8's byte order): SQLite's BINARY, MariaDB's
``_bin`` collations, PostgreSQL's "C", "POSIX" and ``C.UTF-8``.

Equality is another matter (``*_key_folding``): a key column whose collation calls different
strings equal ('a' = 'A' = 'ä' under MariaDB's ``_ci``, SQLite's ``NOCASE``, a nondeterministic
PostgreSQL collation or ``citext``) makes an upsert merge distinct source rows into one
(``sql_collisions``). PostgreSQL's deterministic collations sort by language but compare bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bulksync.connectors.ddl import quote

CODE_POINT = "code point"

Rows = Callable[[str, Sequence[Any]], list[dict[str, Any]]]

# Strings whose order tells a collation from code points: case, punctuation and spaces that
# linguistic collations weigh last, digits, accents.
PROBE = ("B", "a", "A", "b", "_x", "-x", " x", "x y", "xy", "x", "é", "e", "f", "Z", "10", "9", "a-b", "ab")

_COLLATION_SQL = """
SELECT c.collname AS name, n.nspname AS schema, c.collisdeterministic AS deterministic,
  format_type(a.atttypid, NULL) AS type
FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
JOIN pg_namespace n ON n.oid = c.collnamespace
WHERE a.attrelid = to_regclass(%s) AND a.attname = %s"""


@dataclass(frozen=True)
class Folding:
    """A key column whose equality is not byte equality: what it is called and how SQL says it.

    ``collate`` is what follows ``COLLATE`` in this dialect (``NOCASE``, ``utf8mb4_general_ci``,
    ``"public"."ci"``); empty for PostgreSQL's ``citext``, whose type itself compares so.
    """

    collate: str
    described: str  # "case-insensitive collation utf8mb4_general_ci"
    charset: str = ""  # MariaDB: the column's character set (a COLLATE must match it)


def pg_text_order(rows: Rows, table: str, column: str) -> str:
    """The column's collation sorts ``PROBE`` as code points do, or its name."""
    found = rows(_COLLATION_SQL, [quote(table), column])
    if not found:  # not a collatable column: an enum sorts by its labels' declared order
        enum = rows(
            "SELECT format_type(a.atttypid, NULL) AS type FROM pg_attribute a JOIN pg_type t ON t.oid = "
            "a.atttypid WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND t.typtype = 'e'",
            [quote(table), column],
        )
        return f"the declared order of PostgreSQL's enum {enum[0]['type']}" if enum else CODE_POINT
    collation = f"{quote(found[0]['schema'])}.{quote(found[0]['name'])}"
    got = rows(f"SELECT v FROM unnest(%s::text[]) AS v ORDER BY v COLLATE {collation}", [list(PROBE)])
    if [r["v"] for r in got] == sorted(PROBE):
        return CODE_POINT
    name = str(found[0]["name"])
    if name == "default":
        db = rows(
            "SELECT datcollate AS libc, "
            "coalesce(to_jsonb(d) ->> 'daticulocale', to_jsonb(d) ->> 'datlocale') AS icu "
            "FROM pg_database d WHERE datname = current_database()",
            [],
        )[0]  # (the ICU locale's column was renamed in PostgreSQL 17)
        return f"PostgreSQL's database collation {db['icu'] or db['libc']}"
    return f"PostgreSQL's collation {name}"


def pg_key_folding(rows: Rows, table: str, column: str) -> Folding | None:
    """How ``column`` tells keys apart, when it does not compare bytes: a nondeterministic
    collation, or the ``citext`` type (its default collation is deterministic: it lowers)."""
    found = rows(_COLLATION_SQL, [quote(table), column])
    if not found:
        return None
    if str(found[0]["type"]).split(".")[-1] == "citext":
        return Folding("", "case-insensitive type citext")
    if found[0]["deterministic"]:
        return None
    collation = f"{quote(found[0]['schema'])}.{quote(found[0]['name'])}"
    return Folding(collation, f"nondeterministic collation {found[0]['name']}")


def mysql_text_order(rows: Rows, table: str, column: str) -> str:
    """``_bin`` collations compare code points (PAD SPACE ones ignore trailing spaces, which a
    unique key cannot tell apart anyway); the others fold case and accents."""
    enum = rows(
        "SELECT COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s AND COLUMN_NAME = %s AND DATA_TYPE = 'enum'",
        [table, column],
    )
    if enum:  # an ENUM sorts by its members' declared order
        return f"the declared order of MariaDB's {enum[0]['type']}"
    name = _mysql_collation(rows, table, column)
    if name is None or name.endswith("_bin"):
        return CODE_POINT
    return f"MariaDB's collation {name}"


def mysql_key_folding(rows: Rows, table: str, column: str) -> Folding | None:
    """Every collation but the NO PAD ``_bin`` ones (``utf8mb4_nopad_bin``: the tables bulksync
    makes) equates some different strings: ``_ci`` ones fold case and accents, ``_cs`` ones still
    equate some, and PAD SPACE ``_bin`` ones (``utf8mb4_bin``, common in tables made by hand)
    ignore trailing spaces, so ``'a'`` and ``'a '`` are one key there."""
    name = _mysql_collation(rows, table, column)
    if name is None or name.endswith("_nopad_bin"):
        return None
    if name.endswith("_bin"):
        return Folding(name, f"collation {name} (it ignores trailing spaces)", charset=name.split("_")[0])
    kind = "case-insensitive " if name.endswith("_ci") else ""
    return Folding(name, f"{kind}collation {name}", charset=name.split("_")[0])


def _mysql_collation(rows: Rows, table: str, column: str) -> str | None:
    found = rows(
        "SELECT COLLATION_NAME AS name FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        [table, column],
    )
    name = found[0]["name"] if found else None
    return None if name is None else str(name)


def sqlite_text_order(rows: Rows, table: str, column: str) -> str:
    """The collation of ``column`` in the table's primary key index, where it has one (a
    rowid table's INTEGER PRIMARY KEY has none; it is not text)."""
    collation = _sqlite_key_collation(rows, table, column)
    return CODE_POINT if collation is None else f"SQLite's collation {collation}"


def sqlite_key_folding(rows: Rows, table: str, column: str) -> Folding | None:
    """The primary key index's collation of ``column`` when it is not BINARY (NOCASE folds ASCII
    case, RTRIM trailing spaces): the one its ``ON CONFLICT`` compares by."""
    collation = _sqlite_key_collation(rows, table, column)
    if collation is None:
        return None
    kind = "case-insensitive " if collation.upper() == "NOCASE" else ""
    return Folding(collation, f"{kind}collation {collation}")


def _sqlite_key_collation(rows: Rows, table: str, column: str) -> str | None:
    for index in rows(f"PRAGMA index_list({quote(table)})", []):
        if index["origin"] != "pk":
            continue
        for part in rows(f"PRAGMA index_xinfo({quote(str(index['name']))})", []):
            if part["name"] == column and str(part["coll"]).upper() != "BINARY":
                return str(part["coll"])
    return None
