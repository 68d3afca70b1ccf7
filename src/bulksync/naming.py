"""Destination names: what a source table's columns are called where they land.

A migration into PostgreSQL folds names to lower case by default (``TrackId`` → ``trackid``), as
pgloader does and as PostgreSQL users expect: unquoted identifiers then just work. PostgreSQL
also cuts every identifier to 63 bytes, MariaDB to 64 characters, so two source names may land
on one destination name; that is refused before anything is created, naming every clash.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence

from bulksync.errors import UsageError
from bulksync.schema import Index, TableSchema

# dialect → (longest identifier, counted in "bytes" of UTF-8 or in "chars")
NAME_LIMITS: dict[str, tuple[int, str]] = {
    "postgresql": (63, "bytes"),
    "postgres": (63, "bytes"),
    "mysql": (64, "chars"),
    "mariadb": (64, "chars"),
}

_CASE_BLIND = {"sqlite", "mysql", "mariadb"}  # "Name" and "name" are one column there


def dest_name(name: str, *, dialect: str, lower: bool) -> str:
    """``name`` as the destination stores it: folded when ``lower``, cut to the dialect's limit."""
    if lower:
        name = name.lower()
    limit, unit = NAME_LIMITS.get(dialect, (0, ""))
    if not limit:
        return name
    if unit == "chars":
        return name[:limit]
    # PostgreSQL cuts at a character boundary below 63 bytes, never inside a UTF-8 sequence
    return name.encode()[:limit].decode(errors="ignore")


DERIVED_LIMIT = 63  # bytes of UTF-8: fits PostgreSQL (63 bytes) and MariaDB (64 characters)


def fitted_name(base: str, suffix: str = "") -> str:
    """``base + suffix`` (a staging table, an index, a constraint named after a table) if it fits
    in ``DERIVED_LIMIT`` bytes; else ``base`` cut, a hash of the whole name, then ``suffix``.

    The destination would cut a long name itself (PostgreSQL) or refuse it (MariaDB): the cut
    name of ``orders_with_a_long_name__bulksync_new`` could be the table itself, and two long
    names sharing their first 63 bytes would be one index. The hash keeps them apart."""
    whole = base + suffix
    if len(whole.encode()) <= DERIVED_LIMIT:
        return whole
    tag = "_" + hashlib.sha1(whole.encode()).hexdigest()[:8]
    room = DERIVED_LIMIT - len((tag + suffix).encode())
    return base.encode()[: max(room, 0)].decode(errors="ignore") + tag + suffix


_INDEX_NAMES_PER_TABLE = {"mysql", "mariadb"}  # elsewhere one name per database (schema)
_FOREIGN_KEY_NAMES_PER_TABLE = {"postgresql", "postgres", "sqlite"}  # MariaDB: per database


def side_by_side(schema: TableSchema, *, source: str, dest: str) -> TableSchema:
    """``schema`` (named as the destination table) with index and foreign key names that other
    tables' cannot clash with in ``dest``: a name the ``source`` dialect keeps unique only within
    its table (MariaDB's ``ix`` on two tables, PostgreSQL's ``fk`` on two) gets the table's name
    in front where ``dest`` wants it unique in the whole database. Depends on this table alone,
    so every worker that plans it names the same."""
    table = schema.name

    def own(name: str) -> str:
        return name if name.startswith(table + "_") else fitted_name(f"{table}_{name}")

    indexes, fks = schema.indexes, schema.foreign_keys
    if source in _INDEX_NAMES_PER_TABLE and dest not in _INDEX_NAMES_PER_TABLE:
        indexes = tuple(dataclasses.replace(ix, name=own(ix.name)) for ix in indexes)
    if source in _FOREIGN_KEY_NAMES_PER_TABLE and dest not in _FOREIGN_KEY_NAMES_PER_TABLE:
        fks = tuple(dataclasses.replace(fk, name=own(fk.name)) for fk in fks)
    return dataclasses.replace(schema, indexes=indexes, foreign_keys=fks)


def name_map(names: Sequence[str], *, table: str, dialect: str, lower: bool) -> dict[str, str]:
    """Each source column's destination name; refuse names that would land on one column."""
    mapped = {n: dest_name(n, dialect=dialect, lower=lower) for n in names}
    case_blind = dialect in _CASE_BLIND
    landing: dict[str, list[str]] = defaultdict(list)
    for source, dest in mapped.items():
        landing[dest.lower() if case_blind else dest].append(source)
    clashes = [sources for sources in landing.values() if len(sources) > 1]
    if clashes:
        why = (
            "after folding to lower case and the destination's name length limit"
            if lower
            else "(its column names ignore case)"
            if case_blind
            else "after the destination's name length limit"
        )
        listed = "; ".join(" and ".join(repr(s) for s in group) for group in clashes)
        hint = " (keep them apart with --keep-case)" if lower and _case_only(clashes, dialect) else ""
        raise UsageError(
            f"table {table!r}: columns {listed} would have one name in the destination {why}{hint}; "
            "rename them in the source"
        )
    return mapped


def _case_only(clashes: list[list[str]], dialect: str) -> bool:
    return all(
        len({dest_name(s, dialect=dialect, lower=False) for s in group}) == len(group) for group in clashes
    )


def renamed_columns(schema: TableSchema, rename: Callable[[str], str]) -> TableSchema:
    """``schema`` with every column (in its key, indexes, foreign keys and CHECKs) and every
    index name renamed by ``rename``. A foreign key's referred columns are the referred table's
    own: whoever chose the key named them as that table's destination has them."""
    columns = tuple(dataclasses.replace(c, name=rename(c.name)) for c in schema.columns)
    indexes = tuple(
        Index(rename(ix.name), tuple(rename(c) for c in ix.columns), ix.unique) for ix in schema.indexes
    )
    return dataclasses.replace(
        schema,
        columns=columns,
        primary_key=tuple(rename(c) for c in schema.primary_key),
        indexes=indexes,
        foreign_keys=tuple(
            dataclasses.replace(fk, name=rename(fk.name), columns=tuple(rename(c) for c in fk.columns))
            for fk in schema.foreign_keys
        ),
        checks=tuple(
            dataclasses.replace(ck, name=rename(ck.name), columns=tuple(rename(c) for c in ck.columns))
            for ck in schema.checks
        ),
    )
