"""bulksync: move millions of rows between databases fast, in flat memory, losing nothing.

>>> from bulksync import SyncSpec, TableSpec, sync
>>> result = sync(SyncSpec(source="a.db", destination="postgresql://…",
...                        tables=[TableSpec(name="bets")]))
"""

from bulksync.engine.progress import ProgressEvent
from bulksync.engine.result import SyncResult, TableResult
from bulksync.engine.run import SyncFailed, sync
from bulksync.errors import PermanentError, SyncError, TransientError
from bulksync.spec import Filter, Mode, SyncSpec, TableSpec

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
    "sync",
]
