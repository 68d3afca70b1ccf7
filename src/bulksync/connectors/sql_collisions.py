"""Upsert keys that the destination's collation calls equal though their bytes differ.

``INSERT … ON CONFLICT`` and ``ON DUPLICATE KEY UPDATE`` compare keys by the key column's
collation. Where that folds case or accents (MariaDB's default ``_ci`` collations, SQLite's
``NOCASE``, a nondeterministic PostgreSQL collation, ``citext``), source keys 'a', 'A' and 'ä'
are one key: the second row updated the first one's row, the third the same again, and the
summary called them inserted and updated — rows lost without a word. An append meets the same
keys as duplicates and rejects them.

Before such an upsert merges, the key lookup that counts its rows already in the table (one
per row, which the merge makes anyway) also counts those whose key there has other bytes; when
any has, or some rows are new, one more query finds each row whose key equals, under the
collation, a key of other bytes: one the table holds already, or one of another row being
merged (of those, the first in code point order is written). The merge is then refused with
``KeyCollisionError``, which names every such row and why, and the engine rejects those rows
as it rejects an append's duplicates. A genuine upsert — the same key bytes — updates as ever.

Only key columns that fold are checked (``text_order.*_key_folding``, asked once per table);
binary keys (integers, PostgreSQL's deterministic collations, MariaDB's ``_bin``) cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from bulksync.connectors.ddl import quote
from bulksync.connectors.text_order import Folding
from bulksync.errors import KeyCollisionError
from bulksync.schema import TableSchema


class CollationSql(Protocol):
    """How a dialect writes a folding comparison, and text compared byte by byte."""

    as_bytes: ClassVar[str]  # a format of one ``{}``: the text, compared and ordered as bytes

    def fold_sql(self, expr: str, folding: Folding) -> str: ...


def existing_sql(
    d: CollationSql,
    table: str,
    source: str,
    key: Sequence[str],
    *,
    folds: Mapping[str, Folding],
    alias: str,
) -> str:
    """How many rows of ``source`` have their key in ``table`` (``n``), and how many of those
    in other bytes there (``bad``)."""
    on = " AND ".join(f"bs_t.{quote(k)} = {_folded(d, f'{alias}.{quote(k)}', k, folds)}" for k in key)
    differs = _differs(d, [f"bs_t.{quote(k)}" for k in key], [f"{alias}.{quote(k)}" for k in key], key, folds)
    return (
        f"SELECT count(*) AS n, sum(CASE WHEN {differs} THEN 1 ELSE 0 END) AS bad "
        f"FROM {source} JOIN {quote(table)} AS bs_t ON {on}"
    )


def collisions_sql(
    d: CollationSql,
    table: str,
    source: str,
    key: Sequence[str],
    *,
    folds: Mapping[str, Folding],
    alias: str,
) -> str:
    """The rows of ``source`` (``… AS alias``) that must not be merged, with their key
    (``bs_m0…``), the table's key they equal (``bs_t0…``, NULL when none) and the first of their
    group in ``source`` (``bs_f0…``, NULL when the table has their key).

    Each row is looked up in the table by its key (the lookup the merge makes anyway); only the
    rows whose key is not there are sorted to find keys equal among themselves (a re-run over
    rows already there sorts none).
    """

    def folded(expr: str, k: str) -> str:
        return _folded(d, expr, k, folds)

    n = range(len(key))
    mine = [f"bs_m{i}" for i in n]
    group = ", ".join(folded(m, k) for m, k in zip(mine, key, strict=True))
    order = ", ".join(d.as_bytes.format(m) if k in folds else m for m, k in zip(mine, key, strict=True))
    ours = [f"{alias}.{quote(k)}" for k in key]
    joined = ", ".join(
        [f"{e} AS bs_m{i}" for i, e in enumerate(ours)]
        + [f"bs_t.{quote(k)} AS bs_t{i}" for i, k in enumerate(key)]
    )
    on = " AND ".join(f"bs_t.{quote(k)} = {folded(e, k)}" for e, k in zip(ours, key, strict=True))
    firsts = ", ".join(f"FIRST_VALUE({m}) OVER bs_g AS bs_f{i}" for i, m in enumerate(mine))
    differs = _differs(d, [f"bs_t{i}" for i in n], mine, key, folds)
    nulls = [f"NULL AS bs_f{i}" for i in n]
    return (
        f"WITH bs_j AS (SELECT {joined} FROM {source} LEFT JOIN {quote(table)} AS bs_t ON {on}), "
        f"bs_w AS (SELECT {', '.join(mine)}, {firsts}, ROW_NUMBER() OVER bs_g AS bs_n FROM bs_j "
        f"WHERE bs_t0 IS NULL WINDOW bs_g AS (PARTITION BY {group} ORDER BY {order})) "
        f"SELECT {', '.join(mine + [f'bs_t{i}' for i in n] + nulls)} FROM bs_j "
        f"WHERE bs_t0 IS NOT NULL AND ({differs}) "
        f"UNION ALL SELECT {', '.join(mine + [f'NULL AS bs_t{i}' for i in n] + [f'bs_f{i}' for i in n])} "
        "FROM bs_w WHERE bs_n > 1"
    )


def _folded(d: CollationSql, expr: str, k: str, folds: Mapping[str, Folding]) -> str:
    return d.fold_sql(expr, folds[k]) if k in folds else expr


def _differs(
    d: CollationSql,
    theirs: Sequence[str],
    ours: Sequence[str],
    key: Sequence[str],
    folds: Mapping[str, Folding],
) -> str:
    """True when a folding column of the two keys differs in its bytes."""
    pairs = zip(theirs, ours, key, strict=True)
    return " OR ".join(f"{d.as_bytes.format(t)} <> {d.as_bytes.format(o)}" for t, o, k in pairs if k in folds)


def collision_error(
    table: str, key: Sequence[str], folds: Mapping[str, Folding], rows: Sequence[Mapping[str, Any]]
) -> KeyCollisionError:
    """The refusal of a merge that found ``rows`` (from ``collisions_sql``): each row's reason."""
    how = " and ".join(dict.fromkeys(f.described for f in folds.values()))
    n = range(len(key))
    reasons: dict[tuple[Any, ...], str] = {}
    for r in rows:
        mine = tuple(r[f"bs_m{i}"] for i in n)
        if r["bs_t0"] is not None:
            there = _shown(tuple(r[f"bs_t{i}"] for i in n))
            reasons[mine] = (
                f"key {_shown(mine)} equals existing {there} under the destination's {how}: "
                f"an upsert would overwrite that row of {table!r} with this one"
            )
        else:
            first = _shown(tuple(r[f"bs_f{i}"] for i in n))
            reasons[mine] = (
                f"key {_shown(mine)} equals {first} of another source row under the destination's "
                f"{how}: {table!r} holds one of them ({first}, the first in code point order)"
            )
    return KeyCollisionError(reasons)


def _shown(key: tuple[Any, ...]) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


def other_uniques(schema: TableSchema, key: Sequence[str]) -> list[tuple[str, ...]]:
    """The unique column sets of ``schema`` (its primary key, its unique indexes) other than
    ``key``: those on which MariaDB's ``ON DUPLICATE KEY UPDATE`` would also fire."""
    sets = [tuple(schema.primary_key), *(tuple(ix.columns) for ix in schema.indexes if ix.unique)]
    return list(dict.fromkeys(s for s in sets if s and set(s) != set(key)))


def unique_clashes_sql(
    table: str, source: str, key: Sequence[str], unique: Sequence[str], *, alias: str
) -> str:
    """The rows of ``source`` whose ``unique`` columns equal a row of ``table`` of another key:
    their key (``bs_m0…``), the values that clash (``bs_u0…``) and that row's key (``bs_t0…``)."""
    on = " AND ".join(f"bs_t.{quote(c)} = {alias}.{quote(c)}" for c in unique)
    same = " AND ".join(f"bs_t.{quote(k)} <=> {alias}.{quote(k)}" for k in key)
    mine = ", ".join(f"{alias}.{quote(k)} AS bs_m{i}" for i, k in enumerate(key))
    theirs = ", ".join(f"bs_t.{quote(k)} AS bs_t{i}" for i, k in enumerate(key))
    values = ", ".join(f"{alias}.{quote(c)} AS bs_u{i}" for i, c in enumerate(unique))
    joined = f"{source} JOIN {quote(table)} AS bs_t ON {on}"
    return f"SELECT {mine}, {theirs}, {values} FROM {joined} WHERE NOT ({same})"


def unique_clash_error(
    table: str, key: Sequence[str], clashes: Mapping[tuple[str, ...], Sequence[Mapping[str, Any]]]
) -> KeyCollisionError:
    """The refusal of an upsert whose rows meet other rows on a unique index (``unique_clashes_sql``)."""
    reasons: dict[tuple[Any, ...], str] = {}
    for unique, rows in clashes.items():
        for r in rows:
            mine = tuple(r[f"bs_m{i}"] for i in range(len(key)))
            there = _shown(tuple(r[f"bs_t{i}"] for i in range(len(key))))
            values = _shown(tuple(r[f"bs_u{i}"] for i in range(len(unique))))
            named = ", ".join(unique)
            reasons.setdefault(
                mine,
                f"({named}) = {values} is already held by the row of {table!r} whose key is {there}: "
                "an upsert would overwrite that row with this one (MariaDB's ON DUPLICATE KEY UPDATE "
                "fires on every unique index)",
            )
    return KeyCollisionError(reasons)
