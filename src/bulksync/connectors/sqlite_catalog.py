"""SQLite's foreign keys, CHECKs, rowid alias and defaults, made portable.

Read on the connector's own ADBC connection (``PRAGMA foreign_key_list``, ``PRAGMA table_info``
and the table's ``CREATE TABLE`` text for CHECKs and constraint names): a second SQLite library
on the same file would break SQLite's POSIX locks (see ``sqlite.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from bulksync.connectors.catalog import Constraints, action
from bulksync.connectors.checks import check_of_tokens
from bulksync.connectors.ddl import quote
from bulksync.connectors.defaults import portable_default
from bulksync.connectors.expressions import NotPortable, Token, tokenize
from bulksync.naming import fitted_name
from bulksync.schema import Check, ForeignKey

Query = Callable[[str, Sequence[Any]], list[dict[str, Any]]]


def sqlite_constraints(query: Query, table: str, info: list[dict[str, Any]]) -> Constraints:
    """The portable constraints of ``table``; ``info``: its ``PRAGMA table_info`` rows."""
    found = query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
    sql = str(found[0]["sql"] or "") if found else ""
    dropped: list[str] = []
    try:
        tokens: list[Token] | None = tokenize(sql, dialect="sqlite")
    except NotPortable:
        tokens = None
        if "CHECK" in sql.upper():
            dropped.append("its CHECK constraints could not be read from its CREATE TABLE")
    defaults, defaulted = [], set()  # (table_info leaves generated columns out)
    for col in info:
        value, why = portable_default(col["dflt_value"], dialect="sqlite")
        if value is not None:
            defaults.append((str(col["name"]), value))
        elif why:
            dropped.append(f"{col['name']}: {why}")
        if value is not None or why:  # (None, None): no default, or DEFAULT NULL
            defaulted.add(str(col["name"]))
    names = [str(c["name"]) for c in info]
    fks = foreign_keys(query, table, tokens or [], dropped)
    checks = _checks(table, tokens or [], names, dropped)
    return Constraints(
        _rowid_alias(info, tokens), tuple(defaults), fks, checks, tuple(dropped), frozenset(defaulted)
    )


def _rowid_alias(info: list[dict[str, Any]], tokens: list[Token] | None) -> frozenset[str]:
    """The ``INTEGER PRIMARY KEY`` column: SQLite's rowid, which numbers new rows by itself."""
    pk = [c for c in info if c["pk"]]
    if len(pk) != 1 or str(pk[0]["type"] or "").upper() != "INTEGER":
        return frozenset()
    words = [text.upper() for kind, text in _after_columns(tokens or []) if kind == "word"]
    return frozenset() if "ROWID" in words else frozenset({str(pk[0]["name"])})  # WITHOUT ROWID


def _after_columns(tokens: list[Token]) -> list[Token]:
    """The tokens after the closing parenthesis of the column list (table options)."""
    depth = 0
    for i, tok in enumerate(tokens):
        depth += {("op", "("): 1, ("op", ")"): -1}.get(tok, 0)
        if tok == ("op", ")") and depth == 0:
            return tokens[i + 1 :]
    return []


def foreign_keys(query: Query, table: str, tokens: list[Token], dropped: list[str]) -> tuple[ForeignKey, ...]:
    """``PRAGMA foreign_key_list`` grouped per key, named as its CREATE TABLE names it."""
    rows = query(f"PRAGMA foreign_key_list({quote(table)})", [])
    named = _named_foreign_keys(tokens)
    found = []
    for _, group in itertools.groupby(sorted(rows, key=lambda r: (r["id"], r["seq"])), key=lambda r: r["id"]):
        parts = list(group)
        columns = tuple(str(r["from"]) for r in parts)
        parent = str(parts[0]["table"])
        referred = tuple(str(r["to"]) for r in parts if r["to"] is not None)
        if len(referred) != len(columns):  # REFERENCES parent: its primary key
            referred = _primary_key(query, parent)
            if len(referred) != len(columns):
                dropped.append(
                    f"fk on ({', '.join(columns)}): refers to {parent}, which has no matching primary key"
                )
                continue
        name = named.get(tuple(c.lower() for c in columns)) or fitted_name(
            f"{table}_{'_'.join(columns)}", "_fkey"
        )
        found.append(
            ForeignKey(
                name, columns, parent, referred, action(parts[0]["on_delete"]), action(parts[0]["on_update"])
            )
        )
    return tuple(sorted(found, key=lambda fk: fk.name))


def _primary_key(query: Query, table: str) -> tuple[str, ...]:
    info = query(f"PRAGMA table_info({quote(table)})", [])
    return tuple(str(c["name"]) for c in sorted(info, key=lambda c: c["pk"]) if c["pk"])


def _named_foreign_keys(tokens: list[Token]) -> dict[tuple[str, ...], str]:
    """``CONSTRAINT name FOREIGN KEY (a, b)`` clauses: (a, b) → name."""
    named = {}
    for i in range(len(tokens) - 4):
        words = [t[1].upper() for t in tokens[i : i + 5]]
        if words[0] == "CONSTRAINT" and words[2:5] == ["FOREIGN", "KEY", "("]:
            end = next((j for j in range(i + 5, len(tokens)) if tokens[j] == ("op", ")")), i + 5)
            columns = tuple(t[1].lower() for t in tokens[i + 5 : end] if t[0] in ("word", "name"))
            named[columns] = tokens[i + 1][1]
    return named


def _checks(table: str, tokens: list[Token], names: list[str], dropped: list[str]) -> tuple[Check, ...]:
    """Every ``[CONSTRAINT name] CHECK (…)`` of the CREATE TABLE, made portable (or dropped)."""
    found: list[Check] = []
    for i, tok in enumerate(tokens):
        if tok[0] != "word" or tok[1].upper() != "CHECK" or tokens[i + 1 : i + 2] != [("op", "(")]:
            continue
        depth, end = 0, i + 1
        for end in range(i + 1, len(tokens)):
            depth += {("op", "("): 1, ("op", ")"): -1}.get(tokens[end], 0)
            if depth == 0:
                break
        given = tokens[i - 1][1] if i >= 2 and tokens[i - 2][1].upper() == "CONSTRAINT" else None
        made = check_of_tokens(given or "check", tokens[i + 2 : end], dialect="sqlite", columns=names)
        if isinstance(made, str):
            dropped.append(made)
            continue
        name = given or _check_name(table, made, {c.name for c in found})
        found.append(Check(name, made.template, made.columns))
    return tuple(found)


def _check_name(table: str, check: Check, taken: set[str]) -> str:
    """PostgreSQL's name for an unnamed CHECK: ``table_column_check``, numbered if taken."""
    base = f"{table}_{check.columns[0]}" if len(check.columns) == 1 else table
    name, n = fitted_name(base, "_check"), 1
    while name in taken:
        name, n = fitted_name(base, f"_check{n}"), n + 1
    return name
