"""Group commit of pages from many stores: one transaction (one fsync) for every page waiting.

Each page still commits with its own store's checkpoint — the rows of all the pages in the
group, their records set aside (``store_rejects``) and every one of their cursors are in the same
transaction, so a crash keeps or loses them together and each store resumes after its last
committed page. A group the destination refuses (a bad row) is committed again page by page
through the engine's ``commit_batch``, which isolates the bad rows; a page whose store fails is
reported to that store alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import pyarrow as pa

from bulksync.connectors.base import Destination, PartitionState, Reject
from bulksync.engine.write import WriteTarget
from bulksync.errors import SyncError
from bulksync.recipes import store_writes as sw
from bulksync.recipes.store_rejects import replace_rejects


@dataclass
class _Page:
    target: WriteTarget
    batch: pa.RecordBatch
    state: PartitionState
    done: asyncio.Future[int]
    rejects: Sequence[Reject] = ()  # the page's records set aside (not in ``batch``)


class PageCommitter:
    """Queues pages; up to ``flushers`` transactions in flight, each taking every page waiting."""

    def __init__(self, writers: sw.Writers, *, flushers: int, max_pages: int = 64) -> None:
        self._writers = writers
        self._flushers = flushers
        self._max_pages = max_pages
        self._pending: list[_Page] = []
        self._running = 0

    async def commit(
        self,
        target: WriteTarget,
        batch: pa.RecordBatch,
        state: PartitionState,
        rejects: Sequence[Reject] = (),
    ) -> int:
        """Commit ``batch`` and ``rejects`` with ``state``; rows written once it is committed (the
        rest of ``batch`` the destination refused: the engine recorded them as rejects)."""
        page = _Page(target, batch, state, asyncio.get_running_loop().create_future(), rejects)
        self._pending.append(page)
        if self._running < self._flushers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._flush())
        return await page.done

    async def _flush(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[: self._max_pages], self._pending[self._max_pages :]
                await self._commit_group(group)
        finally:
            self._running -= 1

    async def _commit_group(self, group: list[_Page]) -> None:
        try:
            await self._writers.run(lambda d: commit_group(d, group))
        except SyncError:
            for page in group:  # one by one: bad rows isolated, a failure kept to its store
                try:
                    rows = await self._writers.run(partial(_commit_alone, page=page))
                except SyncError as exc:
                    page.done.set_exception(exc)
                else:
                    page.done.set_result(rows)
            return
        for page in group:
            page.done.set_result(page.batch.num_rows)


def _commit_alone(dest: Destination, page: _Page) -> int:
    return sw.commit_page(dest, page.target, page.batch, page.state, page.rejects)


def commit_group(dest: Destination, group: list[_Page]) -> None:
    """Every page's rows (one upsert per table and set of columns: a table's own columns come
    only with the pages that have them), records set aside and checkpoint, in one transaction."""
    by_table: dict[tuple[str, tuple[str, ...]], list[_Page]] = {}
    for page in group:
        by_table.setdefault((page.target.table, tuple(page.batch.schema.names)), []).append(page)
    with dest.transaction() as tx:
        for (table, _), pages in by_table.items():
            batches = [p.batch for p in pages if p.batch.num_rows]
            if batches:
                rows = pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
                tx.write(table, rows, upsert_key=pages[0].target.key)
        for page in group:
            replace_rejects(dest, tx, page.target, page.rejects)
            tx.save_state(page.state)
