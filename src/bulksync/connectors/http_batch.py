"""Records of an API page → one Arrow batch of a declared schema.

Nested objects and lists are kept as JSON documents (a JSON column: ``jsonb`` in PostgreSQL; as
JSON text in a string column), never dropped; ISO times
become timestamps; a record repeated within one page is kept once (the last one), since an
upsert cannot meet the same key twice in one statement.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pyarrow as pa

from bulksync.connectors.http_errors import BadPage
from bulksync.schema import TableSchema, is_json


def records_to_batch(
    records: Sequence[Mapping[str, Any]],
    schema: TableSchema,
    *,
    fixed: Mapping[str, Any],
    key: str = "id",
    label: str = "",
    optional: Collection[str] = (),
) -> pa.RecordBatch:
    """The page's records as a batch of ``schema``; ``fixed`` values fill their columns (store_code).

    An ``optional`` column no record of the page has is left out of the batch (an upsert then
    leaves that column of the table as it is), not written as NULL."""
    keys = [r.get(key) for r in records]
    if None in keys:
        raise BadPage(f"{label}: a record has no {key!r}")
    by_key = dict(zip(keys, records, strict=True))  # the last of a repeated key, at its first place
    unique = records if len(by_key) == len(records) else list(by_key.values())
    arrays, fields = [], []
    for col in schema.columns:
        if col.name in optional and not any(col.name in r for r in unique):
            continue
        fields.append(pa.field(col.name, col.type, col.nullable))
        values = [fixed[col.name]] * len(unique) if col.name in fixed else [r.get(col.name) for r in unique]
        try:
            arrays.append(_column(values, col.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OverflowError) as exc:
            raise BadPage(_refusal(label, col.name, col.type, unique, key, exc)) from exc
    try:
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    except (pa.ArrowInvalid, ValueError) as exc:
        raise BadPage(f"{label}: a record lacks a required field ({exc})") from exc


# one encoder for every value (json.dumps with options builds a new one per call)
_to_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


class _Refused(ValueError):
    """A value no rule takes as its field's type without changing it."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


def _refusal(
    label: str, name: str, kind: pa.DataType, records: Sequence[Mapping[str, Any]], key: str, exc: Exception
) -> str:
    """The page's one-line error: the record, the field, its value and why it is refused."""
    if not isinstance(exc, _Refused):
        exc = _first_refused([r.get(name) for r in records], kind) or exc
    if not isinstance(exc, _Refused):
        return f"{label}: field {name!r} holds a value that is not {kind}"
    record = records[exc.index]
    shown = json.dumps(record.get(name), default=str)[:80]
    return f"{label}: record {key} {record.get(key)!r}: field {name!r} holds {shown}, {exc.reason}"


def _first_refused(values: list[Any], kind: pa.DataType) -> _Refused | None:
    """The first value Arrow refuses on its own (the page already failed: cost is no concern)."""
    if pa.types.is_integer(kind):
        try:
            _check_integers(values)
        except _Refused as exc:
            return exc
    for i, v in enumerate(values):
        try:
            _column([v], kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, OverflowError):
            what = "an integer" if pa.types.is_integer(kind) else f"{kind}"
            return _Refused(i, f"not {'an ISO-8601 time' if pa.types.is_timestamp(kind) else what}")
    return None


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
