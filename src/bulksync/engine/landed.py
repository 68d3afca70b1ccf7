"""A commit whose answer was lost: the checkpoint tells whether it landed.

A connection lost during ``COMMIT`` leaves its outcome unknown: the server may have committed
and the answer never arrived. Written again blind, the batch was doubled in a table without a
key (nothing fences a second insert there) and, in a keyed one, was refused as another writer's
move of the checkpoint, failing the copy. So a retry first reads the partition's stored
checkpoint: moved to exactly where this batch ends (a keyless table: by this batch's rows), the
batch is in, and is counted, not written again.
"""

from __future__ import annotations

import logging

from bulksync.connectors.base import Destination, Merged, PartitionState
from bulksync.engine.checkpoint import encode_key
from bulksync.engine.write import Written

log = logging.getLogger("bulksync.engine")


def landed_batch(
    dest: Destination, before: PartitionState, proposed: PartitionState, *, upsert: bool
) -> Written | None:
    """What the batch taking ``before`` to ``proposed`` did, if its commit landed; else None.

    ``proposed.rows`` counts every row of the batch; the stored count leaves out its rejected
    rows. An upsert's split into inserted and updated rows is not stored: its rows count as
    unchanged, and the log says so.
    """
    stored = dest.stored_state(before.sync_id, before.partition)
    if stored is None or encode_key(stored.last) != encode_key(proposed.last):
        return None
    if not before.rows <= stored.rows <= proposed.rows:
        return None
    if stored.rows == before.rows and encode_key(stored.last) == encode_key(before.prior):
        return None  # the checkpoint has not moved: the batch is not in
    batch_rows = proposed.rows - before.rows
    rejected = proposed.rows - stored.rows
    written = batch_rows - rejected
    log.info(
        "table %r, partition %d: the batch of %d rows ending at %s committed before its connection "
        "was lost; it is not written again%s",
        before.table, before.partition, batch_rows, encode_key(proposed.last) or "(no key)",
        " (its inserted/updated split is not known)" if upsert else "",
    )  # fmt: skip
    return Written(written, rejected, 0, Merged() if upsert else Merged.all_new(written))


def landed_chunk(dest: Destination, before: PartitionState) -> PartitionState | None:
    """A pulled chunk's commit that landed: the stored checkpoint past ``before``, else None."""
    stored = dest.stored_state(before.sync_id, before.partition)
    if stored is None or stored.rows <= before.rows or encode_key(stored.last) == encode_key(before.prior):
        return None
    log.info(
        "table %r, partition %d: the chunk up to %s committed before its connection was lost; "
        "it is not pulled again",
        before.table, before.partition, encode_key(stored.last),
    )  # fmt: skip
    return stored
