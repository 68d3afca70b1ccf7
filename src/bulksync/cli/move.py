"""``bulksync copy`` and ``bulksync migrate``: move tables with progress and a summary."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated

import typer

from bulksync.cli import options as o
from bulksync.cli.options import BackgroundOpt, resolve_connection
from bulksync.modes import DEFAULT_BATCH_MB, BadValue, Mode

if TYPE_CHECKING:
    from bulksync.engine.result import SyncResult
    from bulksync.spec import SyncSpec

# The engine, connectors and pydantic load when a command runs, not for --help; the job
# store with --background; Rich to draw on a terminal or to print a summary.

EXIT_REJECTS = 3  # done, but some rows are in the reject table (or loaded with a NULL value)

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
    batch_mb: o.BatchOpt = DEFAULT_BATCH_MB,
    statement_timeout: o.TimeoutOpt = 120.0,
    retries: o.RetriesOpt = 5,
    lag_seconds: o.LagOpt = 0.0,
    restart: o.RestartOpt = False,
    on_bad_value: o.BadValueOpt = BadValue.REJECT,
    schema: o.SchemaOpt = None,
    background: BackgroundOpt = False,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Copy tables from SOURCE to DEST; re-run after a crash to continue where it stopped.

    Exit code 0: done; 1: failed; 2: bad usage; 3: done, but rows went to the reject table.
    """
    if dest_table and len(table) != 1:
        raise typer.BadParameter("--dest-table needs exactly one --table")
    from bulksync.spec import SyncSpec, TableSpec

    filters = o.build_filters(where, date_column, since, until)
    if schema is not None:
        dest = o.into_schema(dest, schema)
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
            on_bad_value=on_bad_value,
            foreign_keys=False,  # one table at a time: its keys are migrate's to make
        ),
        json_out=json_out,
        quiet=quiet,
        background=background,
    )


KeepCaseOpt = Annotated[
    bool,
    typer.Option(
        "--keep-case",
        envvar="BULKSYNC_KEEP_CASE",
        help='into PostgreSQL: keep names as they are (TrackId stays "TrackId") instead of '
        "folding them to lower case",
    ),
]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        envvar="BULKSYNC_VERIFY",
        help="compare every table with its source once loaded (as bulksync verify does); exit 1 "
        "on a difference the summary does not account for",
    ),
]


def migrate(
    source: SourceArg,
    dest: DestArg,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="table to leave out (repeatable)")
    ] = None,
    mode: o.ModeOpt = Mode.REPLACE,
    workers: o.WorkersOpt = 2,
    max_memory_mb: o.MemoryOpt = 512,
    batch_mb: o.BatchOpt = DEFAULT_BATCH_MB,
    statement_timeout: o.TimeoutOpt = 120.0,
    retries: o.RetriesOpt = 5,
    restart: o.RestartOpt = False,
    keep_case: KeepCaseOpt = False,
    schema: o.SchemaOpt = None,
    on_bad_value: o.BadValueOpt = BadValue.REJECT,
    verify: VerifyOpt = False,
    foreign_keys: o.ForeignKeysOpt = True,
    background: BackgroundOpt = False,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Copy every table of SOURCE to DEST: schema, keys and indexes created, tables in parallel,
    then their foreign keys, identity columns, defaults and portable CHECKs.

    Tables without a primary key are copied whole. Every table is carried whatever its name
    (spaces, quotes, unicode, reserved words); into PostgreSQL, names are folded to lower case
    (--keep-case keeps them). A table the destination cannot hold (its name too long, or one
    with another's after folding) stops the migration before anything is created: no table is
    ever left out with exit 0.

    Exit code 0: done, every table; 1: failed (or --verify found a difference); 2: bad usage,
    nothing changed; 3: done, but rows went to the reject table (see the summary).
    """
    from bulksync.cli.plain import print_warning
    from bulksync.connectors.extras import not_carried
    from bulksync.connectors.registry import open_connector, safe_url, scheme_of
    from bulksync.spec import SyncSpec, TableSpec

    lower = scheme_of(dest) in ("postgresql", "postgres") and not keep_case
    if schema is not None:
        dest = o.into_schema(dest, schema)
    conn = open_connector(source)
    try:
        names = [n for n in conn.list_tables() if n not in set(exclude or ())]
        extras = not_carried(conn)
    finally:
        conn.close()
    if not names:
        raise typer.BadParameter(f"no tables to migrate in {safe_url(source)!r}")
    for what in extras:
        print_warning(f"not migrated: {what}")
    tables = tuple(
        TableSpec(name=n, dest_name=n.lower() if lower and n.lower() != n else None) for n in names
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
            restart=restart,
            lower_names=lower,
            on_bad_value=on_bad_value,
            verify=verify,
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
    from bulksync.cli.plain import print_json, progress_view
    from bulksync.engine.run import SyncFailed, sync

    if background:
        from bulksync.cli.jobs import submit_background

        submit_background(spec, kind=kind, json_out=json_out)
        return
    with progress_view(enabled=not quiet) as view:
        try:
            result = sync(spec, listeners=[view])
        except SyncFailed as failed:
            if json_out:
                since = _since_process_start(failed.result)
                print_json(
                    {
                        **failed.result.to_dict(),
                        "first_batch_from_process_start_s": since,
                        "error": failed.message,
                    }
                )
            raise
    if json_out:
        print_json({**result.to_dict(), "first_batch_from_process_start_s": _since_process_start(result)})
    elif not quiet or result.recorded_rows or result.verify_failed:
        from bulksync.cli.render import print_summary

        print_summary(result)
    if not json_out:  # (in JSON: each table's "warnings")
        from bulksync.cli.plain import print_warning

        for warning in (w for t in result.tables for w in t.warnings):
            print_warning(warning)
    if result.verify_failed:
        raise typer.Exit(1)
    if result.recorded_rows:
        raise typer.Exit(EXIT_REJECTS)


def _since_process_start(result: SyncResult) -> float | None:
    """Seconds from this process's start (interpreter and imports included) to the sync's first
    committed batch: what a user waits for at a prompt (``bench/startup.py`` reads it)."""
    if result.first_commit_at is None:
        return None
    return round(result.first_commit_at - process_started_at(), 3)


def process_started_at() -> float:
    """When this process started, ``time.time()`` scale, to 10 ms.

    psutil's ``create_time`` adds the start to the boot time, which Linux gives in whole seconds:
    up to a second early (0.34 s on the bench machine). /proc/uptime has hundredths."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            up = float(uptime.read().split()[0])
        return time.time() - (up - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):  # not Linux
        import psutil

        return float(psutil.Process().create_time())
