"""Records a store sync sets aside: each in ``bulksync.rejects`` once, and counted per store.

``http_batch.records_to_batch`` sets aside a record with a value its field's type cannot hold
(``"views": "lots"``), its reason the page's one-line refusal; the page's other records land, and
the rejects commit with them and the store's cursor. A row PostgreSQL refuses (a NUL in a text)
is set aside by the engine's ``commit_batch``, with the server's reason. A job's rejects into a
table share one sync id from run to run (``store_writes.rejects_sid``), so a record refused again
— the same command the next night, a page fetched again after a crash — replaces its earlier
reject instead of adding a second one. How many records a store set aside so far in the run
rides in its checkpoint, after the cursor: a resumed run, a store skipped as done and the fleet's
summary count them as the run that rejected them did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bulksync.connectors.base import Destination, Key, PartitionState, Reject, Transaction
from bulksync.connectors.pg_internal import REJECT_TABLE
from bulksync.connectors.postgres import PostgresConnector
from bulksync.engine.checkpoint import encode_key
from bulksync.engine.write import WriteTarget


def replace_rejects(
    dest: Destination, tx: Transaction, target: WriteTarget, rejects: Sequence[Reject]
) -> None:
    """Record ``rejects`` in the open transaction ``tx``, each record's earlier reject removed."""
    if not rejects:
        return
    if isinstance(dest, PostgresConnector):  # the only destination of a store sync
        keys = sorted({encode_key(r.key) or "" for r in rejects})
        # the Transaction protocol adds rejects and never removes one: this statement runs in
        # ``tx`` all the same (the connector has one session, where ``tx`` began)
        dest._execute(
            f"DELETE FROM {REJECT_TABLE} WHERE sync_id = %s AND tbl = %s AND row_key = ANY(%s)",
            [target.sync_id, target.rejects_of, keys],
        )
    tx.save_rejects(target.sync_id, target.rejects_of, rejects)


def forget_older(dest: Destination, target: WriteTarget, keys: Sequence[Key]) -> None:
    """Remove each earlier reject of those of ``keys`` rejected again since: rows the destination
    refused, recorded by the engine's ``commit_batch``, which never removes a reject."""
    if keys and isinstance(dest, PostgresConnector):
        with dest.transaction():
            dest._execute(
                f"DELETE FROM {REJECT_TABLE} AS old USING {REJECT_TABLE} AS new "
                "WHERE old.sync_id = %s AND old.tbl = %s AND old.row_key = ANY(%s) "
                "AND new.sync_id = old.sync_id AND new.tbl = old.tbl AND new.row_key = old.row_key "
                "AND new.rejected_at > old.rejected_at",
                [target.sync_id, target.rejects_of, sorted({encode_key(k) or "" for k in keys})],
            )


def rejected_in(state: PartitionState) -> int:
    """Records the store set aside so far in its run (none in a checkpoint of an earlier build)."""
    last = state.last or ()
    return int(last[1]) if len(last) > 1 else 0


def page_state(state: PartitionState, *, cursor: object, rows: int, rejected: int) -> PartitionState:
    """The store's checkpoint after one more page: its cursor, ``rows`` written, ``rejected`` more."""
    return replace(state, last=(cursor, rejected_in(state) + rejected), rows=state.rows + rows)


def settled(state: PartitionState, *, refused: int) -> PartitionState:
    """``state`` once its page is committed: ``refused`` rows the destination refused (the engine
    set them aside with its reason) are rejected, not written."""
    if not refused or not state.last:
        return state
    return replace(state, last=(state.last[0], rejected_in(state) + refused), rows=state.rows - refused)


def rejects_note(message: str, rejected: int, first: str) -> str:
    """A store's message (``sync_logs``, the summary) with how many records it set aside and,
    for a store that succeeded, the first one's reason."""
    if not rejected:
        return message
    said = f"{rejected} record{'s' if rejected > 1 else ''} rejected, in {REJECT_TABLE}"
    if message:
        return f"{message}; {said}"
    return f"{said} (first: {first})" if first else said
