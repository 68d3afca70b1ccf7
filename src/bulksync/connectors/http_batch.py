"""Records of an API page → one Arrow batch of a declared schema.

Nested objects and lists are kept as JSON text (a string column), never dropped; ISO times
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
from bulksync.schema import TableSchema


def records_to_batch(
    records: Sequence[Mapping[str, Any]],
    schema: TableSchema,
    *,
    fixed: Mapping[str, Any],
    key: str = "id",
    label: str = "",
) -> pa.RecordBatch:
    """The page's records as a batch of ``schema``; ``fixed`` values fill their columns (store_code)."""
    unique = list({_key(r, key, label): r for r in records}.values())
    arrays = []
    for col in schema.columns:
        if col.name in fixed:
            values = [fixed[col.name]] * len(unique)
        else:
            values = [_value(r.get(col.name), col.type) for r in unique]
        try:
            arrays.append(pa.array(values, type=col.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise BadPage(f"{label}: field {col.name!r} holds a value that is not {col.type}") from exc
    try:
        return pa.RecordBatch.from_arrays(arrays, schema=schema.arrow_schema())
    except (pa.ArrowInvalid, ValueError) as exc:
        raise BadPage(f"{label}: a record lacks a required field ({exc})") from exc


def _key(record: Mapping[str, Any], key: str, label: str) -> Any:
    found = record.get(key)
    if found is None:
        raise BadPage(f"{label}: a record has no {key!r}")
    return found


def _value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        return value if isinstance(value, str) else json.dumps(value)
    if pa.types.is_timestamp(kind) and isinstance(value, str):
        stamp = dt.datetime.fromisoformat(value)
        if kind.tz is None and stamp.tzinfo is not None:
            return stamp.astimezone(dt.UTC).replace(tzinfo=None)
        return stamp
    return value
