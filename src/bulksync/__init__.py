"""bulksync: move millions of rows between databases fast, in flat memory, losing nothing.

>>> from bulksync import SyncSpec, TableSpec, sync, verify
>>> spec = SyncSpec(source="a.db", destination="postgresql://…", tables=[TableSpec(name="bets")])
>>> result = sync(spec)
>>> assert verify(spec).equal  # the same tables: counts and row checksums, chunk by chunk
"""

from bulksync.engine.progress import ProgressEvent
from bulksync.engine.result import SyncResult, TableResult
from bulksync.engine.run import SyncFailed, sync
from bulksync.errors import PermanentError, SyncError, TransientError
from bulksync.spec import Filter, Mode, SyncSpec, TableSpec
from bulksync.verification import VerifyResult, VerifySpec, verify

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
