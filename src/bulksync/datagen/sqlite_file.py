"""Generate into a SQLite file: the same tables and rows as through the SQLite connector, faster.

- The tables are created by the SQLite connector (same DDL as a sync would create), and the
  batches are put into SQLite's storage classes by the connector's own conversion
  (``to_sqlite_storage``), but on the generator thread: the writer thread only ingests.
- A file that does not exist yet is built under a scratch name next to it, with no rollback
  journal and no fsync per commit (``journal_mode=OFF``, ``synchronous=OFF``: a quarter less
  ingest CPU than WAL commits) and 16 KiB pages: a crash can only damage the scratch file, which
  a failed run deletes. Once every table and index is in, the file is switched to WAL (as the
  connector leaves the files it creates), flushed to disk once and renamed to the destination:
  the file is complete or absent.
- An existing file is written in place, one WAL transaction per batch, keeping its other tables.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Self

import adbc_driver_manager
import pyarrow as pa

from bulksync.connectors.adbc_dbapi import sqlite as adbc_sqlite
from bulksync.connectors.conform import to_sqlite_storage
from bulksync.connectors.sqlite import SqliteConnector, sqlite_path
from bulksync.datagen.plan import Plan
from bulksync.datagen.tables import TABLES
from bulksync.datagen.write import Progress, load, prepare
from bulksync.errors import ConflictError, PermanentError, SyncError

# 16 KiB pages: a quarter of the page writes and reads of 4 KiB ones (~13 % less CPU for 1 M bets);
# the page size of a file is fixed when its first table is written, so the empty scratch file is
# rewritten (VACUUM: the tables are still empty) once the journal is off.
FRESH = ("PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF", "PRAGMA page_size = 16384", "VACUUM")
IN_PLACE = ("PRAGMA busy_timeout = 120000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL")


def generate_sqlite(
    url: str, plan: Plan, *, replace: bool, batch_rows: int, on_progress: Progress | None
) -> None:
    """Generate ``plan`` into the SQLite file at ``url`` (see the module docstring)."""
    path = sqlite_path(url)
    fresh = not path.exists()
    work = path.with_name(f"{path.name}.partial-{os.getpid()}") if fresh else path
    flush = _Flush(work)
    try:
        indexes = _create_tables(work, plan, replace=replace)
        with _Loader(work, fresh=fresh, shown=path) as db:

            def index(name: str) -> None:
                if fresh:  # the table's pages go to disk while its indexes build
                    flush.start()
                db.run(indexes[name], context=f"index {name!r}")

            load(
                plan,
                write=db.write,
                index=index,
                batch_rows=batch_rows,
                on_progress=on_progress,
                convert=_storage_form,
            )
        if fresh:
            flush.finish()
            os.replace(work, path)
            if os.name == "posix":  # make the rename durable too (no directory fsync elsewhere)
                _fsync(path.parent)
    except BaseException:
        if fresh:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)
        raise


def _storage_form(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``to_sqlite_storage``, with timestamps printed at whole seconds straight away.

    Generated instants are whole seconds (a fraction makes the cast raise), whose text the
    connector's conversion also prints, but only after printing every value with its fraction
    too: 0.4 s of CPU per million bets. A test compares both paths' files row by row.
    """
    fields, arrays = [], []
    for field, arr in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            arr = arr.cast(pa.timestamp("s")).cast(pa.string())
            field = field.with_type(pa.string())
        fields.append(field)
        arrays.append(arr)
    return to_sqlite_storage(pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)))


class _Flush:
    """fsync the scratch file on a helper thread (it is written without fsync), so most of its
    pages reach the disk while the writer builds indexes rather than at the end."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def start(self) -> None:
        """Flush what is written so far, unless a flush is still running."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="datagen-fsync", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            _fsync(self._path)
        except OSError as exc:  # reported by finish: a later fsync may not see the same error
            self._error = exc

    def finish(self) -> None:
        """Wait for the helper, then flush the rest; raise if either flush failed."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        _fsync(self._path)


def _fsync(target: Path) -> None:
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_tables(path: Path, plan: Plan, *, replace: bool) -> dict[str, list[str]]:
    """Create the tables through the connector; return each table's index statements."""
    conn = SqliteConnector(str(path), create=True)
    try:
        prepare(conn, plan, replace=replace)
        return {name: [conn.index_sql(name, ix) for ix in TABLES[name].indexes] for name in plan.rows}
    finally:
        conn.close()


class _Loader:
    """One ADBC connection that appends batches already in storage form and builds indexes."""

    def __init__(self, path: Path, *, fresh: bool, shown: Path) -> None:
        self._fresh, self._shown = fresh, shown  # errors name the destination, not the scratch file
        try:
            self._conn = adbc_sqlite.connect(str(path), autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise self._translate(exc, "open") from exc
        self._cur = self._conn.cursor()
        self.run(list(FRESH if fresh else IN_PLACE), context="open")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None and self._fresh:
                self.run(["PRAGMA journal_mode = WAL"], context="finish")
        finally:
            self._cur.close()
            self._conn.close()

    def run(self, statements: list[str], *, context: str) -> None:
        """Execute each statement in turn (pragmas, index builds)."""
        for sql in statements:
            try:
                self._cur.execute(sql)
            except adbc_driver_manager.Error as exc:
                raise self._translate(exc, context) from exc

    def write(self, table: str, batch: pa.RecordBatch) -> None:
        """Append one batch in its own transaction."""
        self.run(["BEGIN IMMEDIATE"], context=f"write to {table!r}")
        try:
            self._cur.adbc_ingest(table, batch, mode="append")
        except adbc_driver_manager.Error as exc:
            self._cur.close()  # finalize the failed statement, or ROLLBACK keeps the lock
            self._cur = self._conn.cursor()
            if not self._fresh:  # a scratch file without journal is deleted, not rolled back
                self.run(["ROLLBACK"], context=f"write to {table!r}")
            raise self._translate(exc, f"write to {table!r}") from exc
        self.run(["COMMIT"], context=f"write to {table!r}")

    def _translate(self, exc: Exception, context: str) -> SyncError:
        text = " ".join(str(exc).split())
        where = f"{context} in SQLite file {str(self._shown)!r}"
        if "locked" in text or "busy" in text.lower():
            return ConflictError(f"{where}: the file is busy (another writer?): {text}")
        return PermanentError(f"{where}: {text}")
