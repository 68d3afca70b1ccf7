"""bulksync: move millions of rows between databases fast, in flat memory, losing nothing.

>>> from bulksync import SyncSpec, TableSpec, sync, verify
>>> spec = SyncSpec(source="a.db", destination="postgresql://…", tables=[TableSpec(name="bets")])
>>> result = sync(spec)
>>> assert verify(spec).equal  # the same tables: counts and row checksums, chunk by chunk

The names below are imported on first use (PEP 562), so ``import bulksync`` — and every CLI
command that needs none of the engine, such as ``bulksync --version`` — costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bulksync.engine.progress import ProgressEvent
    from bulksync.engine.result import SyncResult, TableResult
    from bulksync.engine.run import SyncFailed, sync
    from bulksync.errors import PermanentError, SyncError, TransientError
    from bulksync.spec import Filter, Mode, SyncSpec, TableSpec
    from bulksync.verification import VerifyResult, VerifySpec, verify

_HOME = {
    "ProgressEvent": "bulksync.engine.progress",
    "SyncResult": "bulksync.engine.result",
    "TableResult": "bulksync.engine.result",
    "SyncFailed": "bulksync.engine.run",
    "sync": "bulksync.engine.run",
    "PermanentError": "bulksync.errors",
    "SyncError": "bulksync.errors",
    "TransientError": "bulksync.errors",
    "Filter": "bulksync.spec",
    "Mode": "bulksync.spec",
    "SyncSpec": "bulksync.spec",
    "TableSpec": "bulksync.spec",
    "VerifyResult": "bulksync.verification",
    "VerifySpec": "bulksync.verification",
    "verify": "bulksync.verification",
}

__all__ = [
    "Filter",
    "Mode",
    "PermanentError",
    "ProgressEvent",
    "SyncError",
    "SyncFailed",
    "SyncResult",
    "SyncSpec",
    "TableResult",
    "TableSpec",
    "TransientError",
    "VerifyResult",
    "VerifySpec",
    "sync",
    "verify",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'bulksync' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
