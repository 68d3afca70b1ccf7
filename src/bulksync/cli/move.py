"""``bulksync copy`` and ``bulksync migrate``: move tables with progress and a summary."""

from __future__ import annotations

from typing import Annotated

import typer

from bulksync.cli import options as o
from bulksync.cli.jobs import BackgroundOpt, submit_background
from bulksync.cli.options import resolve_connection
from bulksync.cli.render import ProgressView, print_json, print_summary
from bulksync.connectors.registry import open_connector
from bulksync.engine.run import SyncFailed, sync
from bulksync.spec import Mode, SyncSpec, TableSpec

SourceArg = Annotated[
    str,
    typer.Argument(
        help="SQLite path, postgresql:// or mysql:// URL, or a configured connection name "
        "(BULKSYNC_CONNECTIONS__<NAME>) to read",
        callback=resolve_connection,
    ),
]
DestArg = Annotated[
    str,
    typer.Argument(
        help="SQLite path, postgresql:// or mysql:// URL, or a configured connection name to write",
        callback=resolve_connection,
    ),
]


def copy(
    source: SourceArg,
    dest: DestArg,
    table: Annotated[list[str], typer.Option("--table", "-t", help="table to copy (repeatable)")],
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="destination table name (one --table)")
    ] = None,
    mode: o.ModeOpt = Mode.APPEND,
    key: o.KeyOpt = None,
    cursor: o.CursorOpt = None,
    where: o.WhereOpt = None,
    date_column: o.DateColOpt = None,
    since: o.SinceOpt = None,
    until: o.UntilOpt = None,
    workers: o.WorkersOpt = 2,
    max_memory_mb: o.MemoryOpt = 512,
    batch_mb: o.BatchOpt = 1.0,
    statement_timeout: o.TimeoutOpt = 120.0,
    retries: o.RetriesOpt = 5,
    lag_seconds: o.LagOpt = 0.0,
    restart: o.RestartOpt = False,
    background: BackgroundOpt = False,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Copy tables from SOURCE to DEST; re-run after a crash to continue where it stopped."""
    if dest_table and len(table) != 1:
        raise typer.BadParameter("--dest-table needs exactly one --table")
    filters = o.build_filters(where, date_column, since, until)
    tables = tuple(
        TableSpec(name=t, dest_name=dest_table, key=tuple(key or ()), cursor=cursor, filters=filters)
        for t in table
    )
    _run(
        SyncSpec(
            source=source,
            destination=dest,
            tables=tables,
            mode=mode,
            workers=workers,
            max_memory_mb=max_memory_mb,
            batch_mb=batch_mb,
            statement_timeout_s=statement_timeout,
            retries=retries,
            lag_seconds=lag_seconds,
            restart=restart,
            foreign_keys=False,  # one table at a time: its keys are migrate's to make
        ),
        json_out=json_out,
        quiet=quiet,
        background=background,
    )


def migrate(
    source: SourceArg,
    dest: DestArg,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="table to leave out (repeatable)")
    ] = None,
    mode: o.ModeOpt = Mode.REPLACE,
    workers: o.WorkersOpt = 2,
    max_memory_mb: o.MemoryOpt = 512,
    batch_mb: o.BatchOpt = 1.0,
    statement_timeout: o.TimeoutOpt = 120.0,
    retries: o.RetriesOpt = 5,
    restart: o.RestartOpt = False,
    foreign_keys: o.ForeignKeysOpt = True,
    background: BackgroundOpt = False,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Copy every table of SOURCE to DEST (schema created, tables in parallel, then their
    foreign keys, identity columns, defaults and portable CHECKs)."""
    conn = open_connector(source)
    try:
        names = [n for n in conn.list_tables() if n not in set(exclude or ())]
    finally:
        conn.close()
    if not names:
        raise typer.BadParameter(f"no tables to migrate in {source!r}")
    _run(
        SyncSpec(
            source=source,
            destination=dest,
            tables=tuple(TableSpec(name=n) for n in names),
            mode=mode,
            workers=workers,
            max_memory_mb=max_memory_mb,
            batch_mb=batch_mb,
            statement_timeout_s=statement_timeout,
            retries=retries,
            restart=restart,
            foreign_keys=foreign_keys,
        ),
        json_out=json_out,
        quiet=quiet,
        background=background,
        kind="migrate",
    )


def _run(
    spec: SyncSpec, *, json_out: bool, quiet: bool, background: bool = False, kind: str = "copy"
) -> None:
    if background:
        submit_background(spec, kind=kind, json_out=json_out)
        return
    with ProgressView(enabled=not quiet) as view:
        try:
            result = sync(spec, listeners=[view])
        except SyncFailed as failed:
            if json_out:
                print_json({**failed.result.to_dict(), "error": failed.message})
            raise
    if json_out:
        print_json(result.to_dict())
    elif not quiet:
        print_summary(result)
