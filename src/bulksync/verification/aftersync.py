"""``migrate --verify``: compare every table with its source right after the sync loaded it.

Each table's result gets a verdict line. Rows the sync rejected are missing from the copy by
design, and values it loaded as NULL (``--on-bad-value null``) differ by design: a copy whose
differences are exactly those is equal "but for" them, which is what a user needs to know.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from bulksync.engine.progress import Listener
from bulksync.engine.result import SyncResult, TableResult
from bulksync.spec import SyncSpec
from bulksync.verification.result import TableVerdict
from bulksync.verification.run import VerifySpec, verify


def verify_loaded(
    spec: SyncSpec,
    result: SyncResult,
    *,
    listeners: Iterable[Listener] = (),
    cancel: threading.Event | None = None,
) -> None:
    """Verify each table of ``result`` against its source; set its ``verified`` fields."""
    tables = tuple(
        t.model_copy(update={"cursor": None, "dest_name": r.target})
        for t, r in zip(spec.tables, result.tables, strict=True)
    )
    checked = verify(
        VerifySpec(
            source=spec.source,
            destination=spec.destination,
            tables=tables,
            statement_timeout_s=spec.statement_timeout_s,
        ),
        listeners=listeners,
        cancel=cancel,
    )
    for table, verdict in zip(result.tables, checked.tables, strict=True):
        table.verified = verdict_line(table, verdict)
        table.verify_equal = explained(table, verdict)
        table.differences = {k: f.rows for k, f in verdict.findings.items() if f.rows}


def explained(table: TableResult, verdict: TableVerdict) -> bool:
    """True when every difference is a row the sync rejected or a value it loaded as NULL."""
    rows = {k: f.rows for k, f in verdict.findings.items()}
    return (
        rows["unexpected"] == 0
        and rows["duplicated"] == 0
        and rows["missing"] == table.rows_rejected
        and rows["different"] <= table.values_nulled
    )


def verdict_line(table: TableResult, verdict: TableVerdict) -> str:
    """'equal', 'equal but for 3 rejected rows', or 'DIFFERENT: 2 missing, 1 different'."""
    if verdict.equal:
        return "equal"
    if explained(table, verdict):
        parts = [f"{table.rows_rejected:,} rejected rows"] if table.rows_rejected else []
        parts += [f"{table.values_nulled:,} values loaded as NULL"] if table.values_nulled else []
        return "equal but for " + " and ".join(parts)
    found = ", ".join(f"{f.rows:,} {kind}" for kind, f in verdict.findings.items() if f.rows)
    return f"DIFFERENT: {found}"
