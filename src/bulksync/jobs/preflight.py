"""Check both ends of a spec before a job is recorded: the API's 422/503 and the CLI's one line.

Every table, key, cursor, order and filter column is looked up in the source catalog, and the
destination is reached (a SQLite destination only needs its folder: the job creates the file).
A job that could only fail a second later is refused here, and nothing is recorded (not even the
job store is created). A name the catalog refuses comes back as a ``SpecError`` saying where in
the spec it is (table 0's ``key`` 1), so the API can name the request's field.

The count is the source's ``stats`` for each table's filters — what the planner asks for: exact
for filtered reads and tables under 100,000 rows, the catalog's estimate (InnoDB's
``TABLE_ROWS``, PostgreSQL's ``reltuples``) above. Seed 000 sends big syncs to the background
on it, and a job starts with it as its estimate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bulksync.connectors.registry import open_connector, same_sqlite_file, scheme_of
from bulksync.errors import ConnectError, PermanentError, SyncError, UnknownColumnError, UsageError
from bulksync.spec import SyncSpec, TableSpec

if TYPE_CHECKING:
    from bulksync.connectors.base import Connector

Path = tuple[str | int, ...]  # where in a table spec: ("name",), ("key", 1), ("filters", 0, "column")


class SpecError(PermanentError):
    """A name of the spec that the source catalog refuses, and where in the spec it is."""

    def __init__(self, error: SyncError, *, table: int, path: Path) -> None:
        super().__init__(error.message)
        self.error, self.table, self.path = error, table, path
        self.exit_code = error.exit_code


def check_ends(spec: SyncSpec) -> int:
    """Check every table against the source and reach the destination; the rows to read."""
    source = open_connector(spec.source, statement_timeout_s=spec.statement_timeout_s)
    try:
        total = sum(_check_table(spec, n, t, source) for n, t in enumerate(spec.tables))
        _check_destination(spec, source)
    finally:
        source.close()
    return total


def _check_table(spec: SyncSpec, number: int, table: TableSpec, source: Connector) -> int:
    try:
        schema = source.describe(table.name)
    except SyncError as exc:
        if isinstance(exc, ConnectError):
            raise
        raise SpecError(exc, table=number, path=("name",)) from exc
    for path, column in _columns(table):
        try:
            schema.column(column)
        except UnknownColumnError as exc:
            raise SpecError(exc, table=number, path=path) from exc
    try:
        from bulksync.engine.plan import check_table  # with the first check, not with serve

        checked = check_table(spec, table, source)
    except UsageError as exc:  # no primary key and no key given
        raise SpecError(exc, table=number, path=("key",)) from exc
    return source.stats(checked.schema, checked.key[0], table.filters).rows


def _columns(table: TableSpec) -> Iterator[tuple[Path, str]]:
    for n, f in enumerate(table.filters):
        yield ("filters", n, "column"), f.column
    for n, column in enumerate(table.key):
        yield ("key", n), column
    if table.cursor is not None:
        yield ("cursor",), table.cursor
    if table.order_by is not None:
        yield ("order_by",), table.order_by


def _check_destination(spec: SyncSpec, source: Connector) -> None:
    """Reach the destination without creating anything; refuse copying a table onto itself."""
    onto_itself = [n for n, t in enumerate(spec.tables) if t.target == t.name]
    if scheme_of(spec.destination) == "sqlite":
        from bulksync.connectors.sqlite import sqlite_path

        path = sqlite_path(spec.destination)
        if not path.exists():
            if not path.parent.is_dir():
                raise ConnectError(f"folder {str(path.parent)!r} for SQLite file does not exist")
            return  # the job creates the file
        if onto_itself and same_sqlite_file(spec.source, spec.destination):
            _refuse_onto_itself(spec, onto_itself[0])
    dest = open_connector(spec.destination, statement_timeout_s=spec.statement_timeout_s)
    try:
        if onto_itself and dest.same_database(source):
            _refuse_onto_itself(spec, onto_itself[0])
    finally:
        dest.close()


def _refuse_onto_itself(spec: SyncSpec, number: int) -> None:
    """At the table's destination name (the API's ``body.tables.N.dest_name``)."""
    table = spec.tables[number].name
    error = UsageError(
        f"source and destination are the same table {table!r} (one database): give it another "
        "destination name (--dest-table; dest_name in the API)"
    )
    raise SpecError(error, table=number, path=("dest_name",))
