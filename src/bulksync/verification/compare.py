"""Chunk alignment and the row-level diff of a chunk whose digests differ.

The source is read in keyset chunks; each chunk's key range ``(after, last]`` is then read on
the destination, so both sides of a comparison hold exactly the rows of one key range. A chunk
is equal when its row count and the sum (mod 2**64) of its row hashes agree; only a chunk that
differs is looked at row by row, from the hashes and keys already in memory (no second read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bulksync.connectors.base import ChunkQuery, Key, Source
from bulksync.connectors.conform import bad_values
from bulksync.schema import TableSchema
from bulksync.spec import Filter
from bulksync.verification.canonical import U64, Kind, row_hashes
from bulksync.verification.result import Finding


@dataclass
class Hashed:
    """One side of one key range: its rows' hashes and the rows themselves (the shown columns).

    The key hashes that pair rows up in a differing chunk are given, or made from ``rows``
    with ``key_kinds`` when first needed (an equal chunk never needs them); without either,
    rows pair up on their whole value.
    """

    rows: pa.Table
    hashes: np.ndarray
    key_hashes: np.ndarray | None = None
    key_kinds: Sequence[Kind] = ()

    def keys(self) -> np.ndarray:
        if self.key_hashes is None:
            self.key_hashes = row_hashes(self.rows, self.key_kinds) if self.key_kinds else self.hashes
        return self.key_hashes

    @property
    def count(self) -> int:
        return int(self.rows.num_rows)

    def digest(self) -> int:
        with np.errstate(over="ignore"):
            return int(np.sum(self.hashes, dtype=U64))


@dataclass
class SideReader:
    """Reads one side's rows by key range, never splitting rows that share a key value."""

    conn: Source
    schema: TableSchema  # the compared columns, in the source's order, with this side's types
    order: tuple[str, ...]
    filters: tuple[Filter, ...]
    kinds: Sequence[Kind]
    key_kinds: Sequence[Kind]  # empty: no key, rows are matched on their whole value
    unique: bool  # the order columns are this side's primary key: no trimming needed
    shown: Sequence[str]  # the columns kept to name a differing row (the key, or every column)
    compared_as: Sequence[str] = ()  # the source's column names (this side's may be folded)

    def page(self, after: Key | None, upto: Key | None, limit: int) -> tuple[pa.RecordBatch, bool]:
        """Up to ``limit`` rows after ``after`` (up to ``upto``); True if more may follow.

        A full page ends on a whole group of equal keys: the last group is left for the next
        page, whose ``after`` is then the last key kept (a group larger than the page doubles it).
        """
        while True:
            order = self.order or tuple(self.schema.names)  # no key: one read of every row, any order
            query = ChunkQuery(self.schema, order, limit=limit, after=after, upto=upto, filters=self.filters)
            batch = self.conn.read_chunk(query)
            if batch.num_rows < limit:
                return batch, False
            if self.unique:
                return batch, True
            keep = _before_last_group(batch, self.order)
            if keep > 0:
                return batch.slice(0, keep), True
            limit *= 2

    def hashed(self, batches: list[pa.RecordBatch]) -> Hashed:
        rows = pa.Table.from_batches(batches, schema=self.schema.arrow_schema())
        if self.compared_as:
            rows = rows.rename_columns(list(self.compared_as))
        unreadable = _unreadable(batches, list(self.compared_as) or self.schema.names, self.schema.names)
        hashes = row_hashes(rows, self.kinds, unreadable=unreadable) if rows.num_rows else np.zeros(0, U64)
        # the key columns are among the shown ones (the key itself, or every column)
        return Hashed(rows.select(list(self.shown)), hashes, key_kinds=self.key_kinds)


def _unreadable(
    batches: list[pa.RecordBatch], compared: Sequence[str], names: Sequence[str]
) -> dict[str, list[tuple[int, str]]]:
    """Each value the reader could not put in Arrow (``conform.BadValue``), by compared column
    name: (its row among all ``batches``, its text)."""
    found: dict[str, list[tuple[int, str]]] = {}
    offset = 0
    for batch in batches:
        for b in bad_values(batch):
            if b.row < batch.num_rows:  # a page may be a slice of what was read
                found.setdefault(compared[names.index(b.column)], []).append((offset + b.row, b.value))
        offset += batch.num_rows
    return found


def last_key(batch: pa.RecordBatch | pa.Table, order: Sequence[str]) -> Key:
    return tuple(batch.column(c)[batch.num_rows - 1].as_py() for c in order)


def _before_last_group(batch: pa.RecordBatch, order: Sequence[str]) -> int:
    """How many rows come before the trailing rows that share the last row's key."""
    last = batch.num_rows - 1
    same = np.ones(batch.num_rows, dtype=bool)
    for name in order:
        col = batch.column(name)
        if col[last].is_valid:
            equal = pc.equal(col, col[last]).fill_null(False)
        else:
            equal = pc.is_null(col)
        same &= np.asarray(equal)
    differs = np.flatnonzero(~same)
    return int(differs[-1]) + 1 if differs.size else 0


# -- the row-level diff of one chunk ---------------------------------------------------------


def _counts(values: np.ndarray, of: np.ndarray) -> np.ndarray:
    """How many times each of ``of`` occurs in ``values``."""
    uniq, counts = np.unique(values, return_counts=True)
    pos = np.searchsorted(uniq, of)
    pos = np.minimum(pos, max(len(uniq) - 1, 0))
    found = (uniq[pos] == of) if len(uniq) else np.zeros(len(of), dtype=bool)
    return np.where(found, counts[pos] if len(uniq) else 0, 0)


def _unmatched(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Indices of rows of ``mine`` left over once each row hash is paired with one of ``theirs``."""
    extra = _counts(mine, mine) - _counts(theirs, mine)
    candidates = np.flatnonzero(extra > 0)
    budget: dict[int, int] = {}
    picked: list[int] = []
    for i in candidates[::-1].tolist():  # the last `extra` occurrences of a hash are left over
        h = int(mine[i])
        left = budget.setdefault(h, int(extra[i]))
        if left > 0:
            budget[h] = left - 1
            picked.append(i)
    return np.array(sorted(picked), dtype=np.int64)


@dataclass
class ChunkDiff:
    """Keys of each kind of difference found in one chunk, in key order."""

    missing: list[Key]
    unexpected: list[Key]
    duplicated: list[Key]
    different: list[Key]

    @property
    def empty(self) -> bool:
        return not (self.missing or self.unexpected or self.duplicated or self.different)


def diff_chunk(src: Hashed, dst: Hashed, *, shown: Sequence[str]) -> ChunkDiff:
    """Classify the rows that do not pair up: by key when there is one, by whole row otherwise.

    ``shown`` names the columns that identify a row in the report (the key, or every column).
    """
    s_left, d_left = _unmatched(src.hashes, dst.hashes), _unmatched(dst.hashes, src.hashes)
    s_all, d_all = src.keys(), dst.keys()
    s_keys, d_keys = s_all[s_left], d_all[d_left]
    n_src = _counts(s_all, np.concatenate([s_keys, d_keys]))
    n_dst = _counts(d_all, np.concatenate([s_keys, d_keys]))
    s_values = _values(src.rows, s_left, shown)
    d_values = _values(dst.rows, d_left, shown)
    groups: dict[int, tuple[list[Key], list[Key], int, int]] = {}
    for i, k in enumerate(s_keys.tolist()):
        groups.setdefault(k, ([], [], int(n_src[i]), int(n_dst[i])))[0].append(s_values[i])
    off = len(s_keys)
    for i, k in enumerate(d_keys.tolist()):
        groups.setdefault(k, ([], [], int(n_src[off + i]), int(n_dst[off + i])))[1].append(d_values[i])
    out = ChunkDiff([], [], [], [])
    for mine, theirs, ns, nd in groups.values():
        if ns == 0:
            out.unexpected.extend(theirs)
        elif nd == 0:
            out.missing.extend(mine)
        else:
            dups = min(max(nd - ns, 0), len(theirs))
            lost = min(max(ns - nd, 0), len(mine))
            out.duplicated.extend(theirs[len(theirs) - dups :])
            out.missing.extend(mine[len(mine) - lost :])
            out.different.extend(mine[: len(mine) - lost])
    for keys in (out.missing, out.unexpected, out.duplicated, out.different):
        keys.sort(key=_sortable)
    return out


def _values(rows: pa.Table, indices: np.ndarray, shown: Sequence[str]) -> list[Key]:
    if not indices.size:
        return []
    picked = rows.select(list(shown)).take(pa.array(indices))
    return [tuple(r.values()) for r in picked.to_pylist()]


def _sortable(key: Key) -> tuple[Any, ...]:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in key)


def record(findings: dict[str, Finding], diff: ChunkDiff, *, max_examples: int) -> None:
    for kind, keys in (
        ("missing", diff.missing),
        ("unexpected", diff.unexpected),
        ("duplicated", diff.duplicated),
        ("different", diff.different),
    ):
        findings[kind].add(keys, len(keys), max_examples=max_examples)
