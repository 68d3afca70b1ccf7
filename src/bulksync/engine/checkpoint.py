"""Checkpoint identity and key encoding.

A checkpoint row (``_bulksync_state`` in the destination) holds, per partition, the last key
written. It is committed in the same transaction as the batch it describes, so after a crash the
destination's data and its checkpoint always agree: resuming after ``last`` loses nothing and
doubles nothing.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from typing import Any

from bulksync.spec import Mode, TableSpec

Key = tuple[Any, ...]


def sync_id(*, source: str, destination: str, table: TableSpec, mode: Mode) -> str:
    """A stable id for 'this table, from there to here, this way' (no secrets in it)."""
    ident = {
        "source": source,
        "destination": destination,
        "table": table.name,
        "target": table.target,
        "mode": mode.value,
        "key": list(table.key),
        "cursor": table.cursor,
        "filters": [f.model_dump() for f in table.filters],
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:32]


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"dec": str(value)}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        if tag == "ts":
            return dt.datetime.fromisoformat(text)
        if tag == "date":
            return dt.date.fromisoformat(text)
        if tag == "dec":
            return decimal.Decimal(text)
        if tag == "hex":
            return bytes.fromhex(text)
    return value


def encode_key(key: Key | None) -> str | None:
    """Serialise a key tuple to JSON, keeping datetimes, dates, decimals and bytes exact."""
    if key is None:
        return None
    return json.dumps([_encode_value(v) for v in key])


def decode_key(text: str | None) -> Key | None:
    if text is None or text == "":
        return None
    return tuple(_decode_value(v) for v in json.loads(text))
