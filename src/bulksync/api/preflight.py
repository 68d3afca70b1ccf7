"""Check a spec against the source catalog and count its rows, before any job is recorded.

A request naming a table or column the source does not have is refused here with the engine's
own message (``check_table``), so no job is created for it. The count is the source's filtered
``COUNT`` (the same ``stats`` the planner asks for): seed 000 uses it to send big syncs to the
background, and a job starts with it as its estimate.
"""

from __future__ import annotations

from bulksync.connectors.registry import open_connector
from bulksync.engine.plan import check_table
from bulksync.spec import SyncSpec


def estimate_rows(spec: SyncSpec) -> int:
    """Rows the sync would read (every table, its filters applied); raises on unknown names."""
    source = open_connector(spec.source, statement_timeout_s=spec.statement_timeout_s)
    try:
        total = 0
        for table in spec.tables:
            checked = check_table(spec, table, source)
            total += source.stats(checked.schema, checked.key[0], table.filters).rows
        return total
    finally:
        source.close()
