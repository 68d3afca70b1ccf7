"""Records of an API page → one Arrow batch of a declared schema.

Nested objects and lists are kept as JSON documents (a JSON column: ``jsonb`` in PostgreSQL; as
JSON text in a string column), never dropped; ISO times
become timestamps; a record repeated within one page is kept once (the last one), since an
upsert cannot meet the same key twice in one statement.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
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
) -> pa.RecordBatch:
    """The page's records as a batch of ``schema``; ``fixed`` values fill their columns (store_code)."""
    keys = [r.get(key) for r in records]
    if None in keys:
        raise BadPage(f"{label}: a record has no {key!r}")
    by_key = dict(zip(keys, records, strict=True))  # the last of a repeated key, at its first place
    unique = records if len(by_key) == len(records) else list(by_key.values())
    arrays = []
    for col in schema.columns:
        try:
            if col.name in fixed:
                arrays.append(pa.array([fixed[col.name]] * len(unique), type=col.type))
            else:
                arrays.append(_column([r.get(col.name) for r in unique], col.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise BadPage(f"{label}: field {col.name!r} holds a value that is not {col.type}") from exc
    try:
        return pa.RecordBatch.from_arrays(arrays, schema=schema.arrow_schema())
    except (pa.ArrowInvalid, ValueError) as exc:
        raise BadPage(f"{label}: a record lacks a required field ({exc})") from exc


# one encoder for every value (json.dumps with options builds a new one per call)
_to_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _column(values: list[Any], kind: pa.DataType) -> pa.Array:
    """One column; ISO times with a zone are parsed by Arrow (vectorised), the rest by ``_value``."""
    if is_json(kind):  # any JSON value is a document, a string too ("x" is the document "x")
        texts = [None if v is None else _to_json(v) for v in values]
        return pa.array(texts, pa.string()).cast(kind)
    if pa.types.is_timestamp(kind) and kind.tz is not None and all(isinstance(v, str | None) for v in values):
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
