"""PostgreSQL → PostgreSQL through Arrow without losing what only PostgreSQL's text holds.

A chunk whose column types differ between the two databases goes through Arrow, and Arrow has
no numeric ``NaN`` or ``±Infinity``, no timestamp or date ``±infinity``, and no per-value
scale: an unconstrained numeric is a decimal of scale 30, so ``1.5`` would land as
``1.500000000000000000000000000000``. Between two PostgreSQL databases each such value is
sent as the source's own text instead, which the destination's type reads back as the same
value: every value of an unconstrained numeric going into an unconstrained numeric or text,
and the special values going into a column of their kind (a numeric, a float or text; a
timestamp or a date). The rest of the row still comes from Arrow, converted and checked as on every path;
a special value the destination's type cannot hold (``Infinity`` into ``numeric(10,2)``) is
refused by the server, and its row is rejected with the server's reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from bulksync.connectors.base import ChunkQuery
from bulksync.connectors.conform import BadValue, bad_values, with_bad_values
from bulksync.connectors.pg_dates import INFINITY
from bulksync.schema import UNBOUNDED_NUMERIC, Column, TableSchema

_NUMBERS = ("NaN", "Infinity", "-Infinity")
_INFINITIES = ("infinity", "-infinity")


@dataclass
class SourceText:
    """The cells of a batch to be written as the source's text rather than from Arrow."""

    columns: dict[int, pa.Array] = field(default_factory=dict)  # batch column → its text, every row
    cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, batch column) → text

    def __bool__(self) -> bool:
        return bool(self.columns or self.cells)


def take_source_text(
    raw: pa.Table, batch: pa.RecordBatch, step: ChunkQuery, dest: Sequence[Column]
) -> tuple[pa.RecordBatch, SourceText]:
    """``batch`` (``step`` read as ``raw``) without the BadValues the destination holds as their
    text, and the texts to write for them; ``dest``: the columns the batch's columns go into.
    An unconstrained numeric into text becomes that text in the batch itself (not a key: the
    checkpoint compares numbers). The BadValues left still refuse the batch."""
    text, taken = SourceText(), set()
    source = step.table.columns
    arrays, fields = list(batch.columns), list(batch.schema)
    for i, (ours, theirs) in enumerate(zip(source, dest, strict=True)):
        if _as_text(ours.type, theirs.type):
            taken.add(i)
            words = raw.column(i).combine_chunks()  # numerics are read as text
            if _is_text(theirs.type) and ours.name not in step.order:
                arrays[i], fields[i] = words, fields[i].with_type(pa.string())
            else:
                text.columns[i] = words
    index = {c.name: i for i, c in enumerate(source)}
    kept: list[BadValue] = []
    for b in bad_values(batch):
        i = index[b.column]
        if i in taken:
            continue
        if _holds(b, source[i].type, dest[i].type):
            text.cells[(b.row, i)] = b.value
        else:
            kept.append(b)
    if not (text or taken):
        return batch, text
    batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    return with_bad_values(batch, kept), text


def _as_text(source: pa.DataType, dest: pa.DataType) -> bool:
    """An unconstrained numeric into an unconstrained numeric or text: its every value as text
    (as a decimal of scale 30, 1.5 would be 1.500000000000000000000000000000 there)."""
    return source == UNBOUNDED_NUMERIC and (dest == UNBOUNDED_NUMERIC or _is_text(dest))


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _holds(bad: BadValue, source: pa.DataType, dest: pa.DataType) -> bool:
    """Whether ``bad`` is a special value of ``source`` that a column of type ``dest`` reads as
    the same value (or refuses, for the server to say why)."""
    if pa.types.is_decimal(source) and bad.value in _NUMBERS:
        return bool(pa.types.is_decimal(dest) or pa.types.is_floating(dest) or _is_text(dest))
    if bad.reason == INFINITY and bad.value in _INFINITIES:
        return bool(pa.types.is_timestamp(dest) or pa.types.is_date(dest))
    return False


def numbers_as_text(query: ChunkQuery, dest: TableSchema) -> ChunkQuery:
    """``query`` reading as text each unconstrained numeric going into an unconstrained numeric
    or text of ``dest`` (not a key column: the keyset and checkpoints compare numbers)."""
    into = {c.name: c.type for c in dest.columns}
    columns = tuple(
        replace(c, type=pa.string())
        if c.name in into and _as_text(c.type, into[c.name]) and c.name not in query.order
        else c
        for c in query.table.columns
    )
    return replace(query, table=replace(query.table, columns=columns))


def texts_of(batch: pa.RecordBatch, dest: Sequence[Column]) -> SourceText:
    """The text columns of ``batch`` going into an unconstrained numeric (``numbers_as_text``)."""
    return SourceText(
        columns={
            i: batch.column(i)
            for i, col in enumerate(dest)
            if col.type == UNBOUNDED_NUMERIC and pa.types.is_string(batch.schema.field(i).type)
        }
    )


def text_rows(data: pa.RecordBatch, text: SourceText) -> Iterator[tuple[Any, ...]]:
    """``data``'s rows as Python values for a text COPY, the source's text where ``text`` says."""
    columns = [
        text.columns[i].to_pylist() if i in text.columns else data.column(i).to_pylist()
        for i in range(data.num_columns)
    ]
    for (row, i), value in text.cells.items():
        columns[i][row] = value
    return zip(*columns, strict=True)
