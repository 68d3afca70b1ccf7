"""The stores to sync: store code, API base URL and credential reference, from a CSV or JSON
file or a table of the destination database.

The credential column names a secret configured elsewhere (``BULKSYNC_STORES_CREDENTIALS__<NAME>``),
never the secret itself, so the list can be committed, printed and stored in a job record.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bulksync.errors import UsageError

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Store:
    code: str
    base_url: str
    credential: str  # a reference, resolved by ``token_for``


def load_stores(path: Path) -> list[Store]:
    """Read the store list; a clear error for a missing file, column or a repeated code."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV starts with a BOM
    except OSError as exc:
        raise UsageError(f"cannot read the store list {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the store list {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start:,}): save it as UTF-8"
        ) from None
    is_json = path.suffix.lower() == ".json"
    rows = _json_rows(text, path) if is_json else list(csv.DictReader(text.splitlines()))
    stores = [_store(row, n, path) for n, row in enumerate(rows, start=1)]
    _no_repeats(stores, path.name)
    return stores


def load_stores_table(url: str, table: str) -> list[Store]:
    """Read the store list from a table (store_code, base_url, credential) of the database ``url``."""
    from bulksync.connectors.base import ChunkQuery
    from bulksync.connectors.registry import open_connector

    conn = open_connector(url)
    try:
        schema = conn.describe(table)
        rows = [r for b in conn.read_stream(ChunkQuery(schema, (), 10_000)) for r in b.to_pylist()]
    finally:
        conn.close()
    stores = sorted(
        (_store(row, n, Path(table)) for n, row in enumerate(rows, start=1)), key=lambda s: s.code
    )
    _no_repeats(stores, table)
    return stores


def _no_repeats(stores: list[Store], where: str) -> None:
    """A list with stores, each once (an empty one "succeeded: 0/0 stores", exit 0)."""
    if not stores:
        raise UsageError(f"store list {where} has no stores")
    counts = Counter(s.code for s in stores)  # counted once each: 100,000 stores were 10^10 steps
    repeated = sorted(c for c, n in counts.items() if n > 1)
    if repeated:
        raise UsageError(f"store list {where}: store codes repeated: {', '.join(repeated[:5])}")


def _json_rows(text: str, path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"store list {path.name} is not valid JSON") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"store list {path.name} must be a JSON list of objects")
    return rows


def _store(row: Mapping[str, Any], n: int, path: Path) -> Store:
    code = str(row.get("store_code") or row.get("code") or "").strip()
    url = str(row.get("base_url") or "").strip().rstrip("/")
    cred = str(row.get("credential") or "").strip()
    if not _CODE.match(code) or not url.startswith(("http://", "https://")):
        raise UsageError(
            f"store list {path.name}, entry {n}: needs store_code (letters, digits, _.-) and an "
            "http(s) base_url"
        )
    return Store(code, url, cred)


def token_for(store: Store, credentials: Mapping[str, SecretStr]) -> SecretStr | None:
    """The store's token, or None when its list entry names no credential."""
    if not store.credential:
        return None
    found = credentials.get(store.credential.lower())
    if found is None:
        raise UsageError(
            f"store {store.code}: credential {store.credential!r} is not configured; set "
            f"BULKSYNC_STORES_CREDENTIALS__{store.credential.upper()}=<token>"
        )
    return found
