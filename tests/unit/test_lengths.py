"""The per-batch check of lengths a source never enforced (``engine/lengths.py``): characters,
not bytes, every space counted, nulls and slices and large strings handled."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from bulksync.connectors.base import Capabilities
from bulksync.connectors.memory import MemoryConnector
from bulksync.engine.lengths import TextLimit, too_long, unenforced_lengths, widened_notes
from bulksync.schema import Column, TableSchema


def batch(**columns: pa.Array) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns)


def test_ascii_within_the_length_passes_and_one_character_more_is_found() -> None:
    b = batch(name=pa.array(["abc", "abcde", None]))

    assert too_long(b, {"name": 5}) == {}
    assert too_long(b, {"name": 4}) == {"name": 5}


def test_multibyte_text_counts_characters_not_bytes() -> None:
    """'é' * 10 is 20 bytes: past 10 by bytes, within 10 by characters."""
    b = batch(name=pa.array(["é" * 10, "🎲" * 3, "ab"]))

    assert too_long(b, {"name": 10}) == {}
    assert too_long(b, {"name": 9}) == {"name": 10}
    assert too_long(b, {"name": 2}) == {"name": 10}  # the longest, in characters


def test_trailing_spaces_count_like_any_character() -> None:
    """PostgreSQL cuts spaces past VARCHAR(n) without an error: the check must see them."""
    b = batch(code=pa.array(["ab" + " " * 8]))

    assert too_long(b, {"code": 5}) == {"code": 10}


def test_nulls_and_an_all_null_column_are_never_too_long() -> None:
    b = batch(a=pa.array([None, None], pa.string()), b=pa.array([None, "x" * 7]))

    assert too_long(b, {"a": 1, "b": 7}) == {}
    assert too_long(b, {"a": 1, "b": 6}) == {"b": 7}


def test_a_slice_is_checked_on_its_own_rows_only() -> None:
    whole = batch(name=pa.array(["x" * 50, "short", "tiny", "y" * 30]))

    assert too_long(whole.slice(1, 2), {"name": 10}) == {}
    assert too_long(whole.slice(2, 2), {"name": 10}) == {"name": 30}


def test_large_string_columns_are_checked_too() -> None:
    b = batch(name=pa.array(["ok", "é" * 12], pa.large_string()))

    assert too_long(b, {"name": 12}) == {}
    assert too_long(b, {"name": 11}) == {"name": 12}


def test_columns_not_in_the_batch_or_not_text_are_left_alone() -> None:
    b = batch(n=pa.array([123456]), raw=pa.array([b"0123456789"]))

    assert too_long(b, {"n": 2, "raw": 2, "missing": 2}) == {}


def test_only_a_source_that_does_not_enforce_into_one_that_does_is_checked() -> None:
    read = TableSchema(
        "t",
        (
            Column("id", pa.int64()),
            Column("Name", pa.string(), length=10),
            Column("notes", pa.string()),
            Column("blob", pa.binary(), length=4),
        ),
    )
    made = TableSchema("t", tuple(Column(c.name.lower(), c.type, length=c.length) for c in read.columns))

    class Widening(MemoryConnector):
        capabilities = Capabilities(enforces_lengths=True)

        unbounded: frozenset[str] = frozenset()

        def text_lengths(self, table: str) -> dict[str, int | None]:
            return {}

        def made_unbounded(self, table: TableSchema) -> frozenset[str]:
            return self.unbounded

        def widen_text(self, table: TableSchema, longest: object) -> None:
            pass

    loose, strict = MemoryConnector("memory://a"), Widening("memory://b")

    assert unenforced_lengths(loose, strict, read=read, made=made) == (TextLimit("Name", "name", 10),)
    assert unenforced_lengths(strict, strict, read=read, made=made) == ()
    assert unenforced_lengths(loose, loose, read=read, made=made) == ()  # it would not refuse them
    strict.unbounded = frozenset({"name"})  # made without its length (MariaDB's row size): nothing to check
    assert unenforced_lengths(loose, strict, read=read, made=made) == ()


def test_the_note_names_each_column_the_destination_now_holds_longer() -> None:
    limits = (TextLimit("Name", "name", 10), TextLimit("code", "code", 3), TextLimit("k", "k", 5))

    notes = widened_notes(limits, {"name": None, "code": 3, "k": 255}, source="sqlite")

    assert notes == [
        "Name: length 10 not carried (SQLite never enforced it and a value is longer): "
        "the column has no length",
        "k: length 5 not carried (SQLite never enforced it and a value is longer): "
        "the column's length is 255",
    ]


@pytest.mark.parametrize("kind", ["ascii", "multibyte"])
def test_the_check_costs_little_per_million_rows(kind: str) -> None:
    """Five text columns of 1 M rows, all within their length: well under the time it takes to
    write them (~2 s); measured here at ~10 ms ASCII, ~25 ms multibyte."""
    text = "win" if kind == "ascii" else "été"
    b = batch(**{f"c{i}": pa.array([text] * 1_000_000) for i in range(5)})
    limits = {f"c{i}": 3 if kind == "ascii" else 4 for i in range(5)}

    began = time.process_time()
    found = too_long(b, limits)
    took = time.process_time() - began

    assert found == {}
    assert took < 0.5


def test_a_null_whose_slot_spans_bytes_is_not_taken_for_a_long_value() -> None:
    """Arrow lets a null's offsets cover bytes: the byte pass may count them, the character
    count then leaves the null out."""
    offsets = pa.py_buffer(bytes(pa.array([0, 20, 22], pa.int32()).buffers()[1]))
    validity = pa.py_buffer(bytes([0b10]))
    values = pa.Array.from_buffers(pa.string(), 2, [validity, offsets, pa.py_buffer(b"x" * 20 + b"ok")])

    assert values.to_pylist() == [None, "ok"]
    assert too_long(batch(name=values), {"name": 2}) == {}
