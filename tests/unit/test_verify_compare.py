"""The row-level diff of one chunk: each leftover row lands in exactly one kind, with its key."""

from __future__ import annotations

import pyarrow as pa

from bulksync.verification.canonical import kind_of, row_hashes
from bulksync.verification.compare import Hashed, diff_chunk


def side(rows: list[tuple[int, str]], *, keyed: bool = True) -> Hashed:
    table = pa.table({"id": pa.array([r[0] for r in rows], pa.int64()), "v": pa.array([r[1] for r in rows])})
    kinds = [kind_of(n, table.schema.field(n).type, table.schema.field(n).type) for n in ("id", "v")]
    hashes = row_hashes(table, kinds)
    return Hashed(table, hashes, row_hashes(table, kinds[:1]) if keyed else hashes)


def test_keyed_rows_are_missing_unexpected_different_or_duplicated() -> None:
    src = side([(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")])
    dst = side([(1, "a"), (3, "C"), (4, "d"), (4, "d"), (5, "e"), (6, "f"), (5, "x")])

    diff = diff_chunk(src, dst, shown=["id"])

    assert diff.missing == [(2,)]
    assert diff.unexpected == [(6,)]
    assert diff.different == [(3,)]
    assert sorted(diff.duplicated) == [(4,), (5,)]  # one extra copy each, whatever its values


def test_equal_chunks_have_no_difference_in_any_order() -> None:
    rows = [(i, f"v{i}") for i in range(50)]
    assert diff_chunk(side(rows), side(rows[::-1]), shown=["id"]).empty


def test_keyless_rows_compare_as_multisets() -> None:
    src = side([(1, "a"), (1, "a"), (2, "b"), (3, "c")], keyed=False)
    dst = side([(1, "a"), (2, "b"), (2, "b"), (2, "b"), (4, "z")], keyed=False)

    diff = diff_chunk(src, dst, shown=["id", "v"])

    assert diff.missing == [(1, "a"), (3, "c")]  # one of two copies lost, and a whole row
    assert diff.duplicated == [(2, "b"), (2, "b")]
    assert diff.unexpected == [(4, "z")]
    assert diff.different == []
