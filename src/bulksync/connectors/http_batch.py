"""Records of an API page → one Arrow batch of a declared schema, and the records set aside.

Nested objects and lists are kept as JSON documents (a JSON column: ``jsonb`` in PostgreSQL; as
JSON text in a string column), never dropped; ISO times
become timestamps; a record repeated within one page is kept once (the last one), since an
upsert cannot meet the same key twice in one statement. A record with a value its field's type
cannot hold unchanged is left out of the batch and returned as a ``Reject``, its reason the
page's one-line refusal; the page's other records are converted as usual.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bulksync.connectors.base import Reject
from bulksync.connectors.http_errors import BadPage
from bulksync.schema import TableSchema, is_json

_ARROW_REFUSALS = (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OverflowError)


@dataclass(frozen=True)
class PageBatch:
    """A page's records as a batch, and the records set aside with why (not in the batch)."""

    batch: pa.RecordBatch
    rejects: list[Reject]


def records_to_batch(
    records: Sequence[Mapping[str, Any]],
    schema: TableSchema,
    *,
    fixed: Mapping[str, Any],
    key: str = "id",
    label: str = "",
    optional: Collection[str] = (),
) -> PageBatch:
    """The page's records as a batch of ``schema``; ``fixed`` values fill their columns (store_code).

    An ``optional`` column no record of the page has is left out of the batch (an upsert then
    leaves that column of the table as it is), not written as NULL. A record without ``key`` fails
    the page (``BadPage``): nothing tells which record it is."""
    keys = [r.get(key) for r in records]
    if None in keys:
        raise BadPage(f"{label}: a record has no {key!r}")
    by_key = dict(zip(keys, records, strict=True))  # the last of a repeated key, at its first place
    unique: Sequence[Mapping[str, Any]] = records if len(by_key) == len(records) else list(by_key.values())
    rejects: list[Reject] = []
    while True:  # once per refused column: its refused records go, the others are tried again
        try:
            return PageBatch(_batch(unique, schema, fixed=fixed, optional=optional, label=label), rejects)
        except _ColumnRefused as refused:
            taken = _set_aside(unique, refused, label=label, key=key)
            if not taken:  # values refused only together: no one record to set aside
                why = f"field {refused.name!r} holds a value that is not {refused.kind}"
                raise BadPage(f"{label}: {why}") from refused
            rejects += [_reject(unique[i], reason, schema, fixed, key) for i, reason in taken.items()]
            unique = [r for i, r in enumerate(unique) if i not in taken]


class _ColumnRefused(Exception):
    """Arrow (or a rule of ``_column``) refused one column of the page."""

    def __init__(self, name: str, kind: pa.DataType) -> None:
        super().__init__(name)
        self.name, self.kind = name, kind


def _batch(
    records: Sequence[Mapping[str, Any]],
    schema: TableSchema,
    *,
    fixed: Mapping[str, Any],
    optional: Collection[str],
    label: str,
) -> pa.RecordBatch:
    arrays, fields = [], []
    for col in schema.columns:
        if col.name in optional and not any(col.name in r for r in records):
            continue
        fields.append(pa.field(col.name, col.type, col.nullable))
        values = [fixed[col.name]] * len(records) if col.name in fixed else [r.get(col.name) for r in records]
        try:
            arrays.append(_column(values, col.type))
        except _ARROW_REFUSALS as exc:
            raise _ColumnRefused(col.name, col.type) from exc
    try:
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    except (pa.ArrowInvalid, ValueError) as exc:
        raise BadPage(f"{label}: a record lacks a required field ({exc})") from exc


def _set_aside(
    records: Sequence[Mapping[str, Any]], refused: _ColumnRefused, *, label: str, key: str
) -> dict[int, str]:
    """The records whose value of the refused column is refused on its own: index → reason."""
    values = [r.get(refused.name) for r in records]
    return {
        i: _one_line(label, records[i], refused.name, key, why)
        for i, why in _each_refused(values, refused.kind).items()
    }


def _reject(
    record: Mapping[str, Any], reason: str, schema: TableSchema, fixed: Mapping[str, Any], key: str
) -> Reject:
    """The record as the API sent it (with its fixed values), keyed as the table is."""
    row = {**record, **fixed}
    return Reject(tuple(row.get(k) for k in schema.primary_key or (key,)), row, reason)


# one encoder for every value (json.dumps with options builds a new one per call)
_to_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


class _Refused(ValueError):
    """A value no rule takes as its field's type without changing it."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


def _one_line(label: str, record: Mapping[str, Any], name: str, key: str, why: str) -> str:
    """The refusal of one record: the record, the field, its value and why it is refused."""
    shown = json.dumps(record.get(name), default=str)[:80]
    return f"{label}: record {key} {record.get(key)!r}: field {name!r} holds {shown}, {why}"


def _each_refused(values: list[Any], kind: pa.DataType) -> dict[int, str]:
    """Each value refused on its own, by index, with why (its column was refused: cost is no concern)."""
    found: dict[int, str] = {}
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            if pa.types.is_integer(kind):
                _check_integers([v])  # 2**70 is an int: Arrow's own error would not say why
            _column([v], kind)
        except _Refused as exc:
            found[i] = exc.reason
        except _ARROW_REFUSALS:
            what = "an integer" if pa.types.is_integer(kind) else f"{kind}"
            found[i] = f"not {'an ISO-8601 time' if pa.types.is_timestamp(kind) else what}"
    return found


_INT64 = (-(2**63), 2**63 - 1)


def _check_integers(values: list[Any]) -> None:
    """Refuse what an integer field would change: a fraction (1.9 → 1) or a number beyond int64;
    an integral float (2.0) is that integer."""
    for i, v in enumerate(values):
        if type(v) is float and not v.is_integer():
            raise _Refused(i, "not an integer (a fraction is never cut off)")
        if isinstance(v, int | float) and not isinstance(v, bool) and not _INT64[0] <= v <= _INT64[1]:
            raise _Refused(i, "beyond the 64-bit integer range")


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    """One column; ISO times with a zone are parsed by Arrow (vectorised), the rest by ``_value``."""
    if pa.types.is_integer(kind) and any(type(v) is not int for v in values if v is not None):
        _check_integers(values)  # Arrow would cut 1.9 to 1 without a word
    elif pa.types.is_timestamp(kind):
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                # epoch seconds, milliseconds or microseconds: no unit can be told from the number
                raise _Refused(i, "a bare number, not a time (send ISO-8601 text, e.g. 2026-11-02T00:00:00Z)")
    if is_json(kind):  # any JSON value is a document, a string too ("x" is the document "x")
        texts = [None if v is None else _to_json(v) for v in values]
        return pa.array(texts, pa.string()).cast(kind)
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return pa.array(values, pa.string()).cast(kind)
    if pa.types.is_string(kind) and all(isinstance(v, str | None) for v in values):
        return pa.array(values, kind)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_timestamp(kind)):
        try:  # numbers and booleans as JSON gave them: Arrow converts the list in one call
            return pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # e.g. "12" for an integer: value by value, with the page's one-line error
    return pa.array([_value(v, kind) for v in values], type=kind)


def _value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if isinstance(value, dict | list):
            return _to_json(value)
        return value if isinstance(value, str) else json.dumps(value)
    if pa.types.is_timestamp(kind) and isinstance(value, str):
        stamp = dt.datetime.fromisoformat(value)
        if kind.tz is None and stamp.tzinfo is not None:
            return stamp.astimezone(dt.UTC).replace(tzinfo=None)
        return stamp
    return value
