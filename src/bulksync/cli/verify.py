"""``bulksync verify``: prove a copy holds exactly the source's rows (exit 0), or say where not (1)."""

from __future__ import annotations

import ctypes
from typing import Annotated

import typer

from bulksync.cli import options as o

SourceArg = Annotated[
    str,
    typer.Argument(
        help="SQLite path, postgresql:// or mysql:// URL, or configured connection name of the source",
        callback=o.resolve_connection,
    ),
]
DestArg = Annotated[
    str,
    typer.Argument(
        help="SQLite path, postgresql:// or mysql:// URL, or configured connection name of the copy",
        callback=o.resolve_connection,
    ),
]
ChunkOpt = Annotated[
    int | None,
    typer.Option(
        "--chunk-rows",
        min=2,
        envvar="BULKSYNC_VERIFY_CHUNK_ROWS",
        help="rows per compared chunk  [default: as many as fit in 2 MB, from the rows read]",
        show_default=False,
    ),
]
ExamplesOpt = Annotated[
    int, typer.Option("--examples", min=0, help="first keys listed for each kind of difference")
]


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse instead of handing it back to the kernel at once.

    Each chunk's Arrow buffers and numpy temporaries (~2 MB a chunk and side) are
    freed and allocated again for the next chunk; by default glibc maps every block above its
    threshold afresh and trims the heap's free top, so each chunk paid again for its pages:
    ~50,000 page faults per million rows per side, measured 0.1-0.2 s of CPU on this 2-core VM.
    A short-lived process of one command can keep them (its peak memory is unchanged: the
    memory is reused, not added). No-op where malloc is not glibc's.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest: blocks up to 32 MB come from the heap
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def verify_cmd(
    source: SourceArg,
    dest: DestArg,
    table: Annotated[list[str], typer.Option("--table", "-t", help="table to compare (repeatable)")],
    dest_table: Annotated[
        str | None, typer.Option("--dest-table", help="destination table name (one --table)")
    ] = None,
    key: o.KeyOpt = None,
    where: o.WhereOpt = None,
    date_column: o.DateColOpt = None,
    since: o.SinceOpt = None,
    until: o.UntilOpt = None,
    chunk_rows: ChunkOpt = None,
    examples: ExamplesOpt = 10,
    statement_timeout: o.TimeoutOpt = 120.0,
    schema: o.SchemaOpt = None,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Compare tables of SOURCE and DEST chunk by chunk (counts and row checksums); read-only.

    Reports rows missing from DEST, unexpected in DEST, duplicated and different, with their
    key ranges. Exit code 0: equal; 1: different (or an error); 2: bad usage.
    """
    if dest_table and len(table) != 1:
        raise typer.BadParameter("--dest-table needs exactly one --table")
    from bulksync.cli.plain import print_json, progress_view
    from bulksync.cli.render import print_verify_summary
    from bulksync.spec import TableSpec
    from bulksync.verification import VerifySpec, verify

    keep_freed_memory()
    filters = o.build_filters(where, date_column, since, until)
    if schema is not None:
        dest = o.into_schema(dest, schema)
    tables = tuple(
        TableSpec(name=t, dest_name=dest_table, key=tuple(key or ()), filters=filters) for t in table
    )
    spec = VerifySpec(
        source=source,
        destination=dest,
        tables=tables,
        chunk_rows=chunk_rows,
        max_examples=examples,
        statement_timeout_s=statement_timeout,
    )
    with progress_view(enabled=not quiet, busy_phases=("verifying",)) as view:
        result = verify(spec, listeners=[view])
    if json_out:
        print_json(result.to_dict())
    elif not quiet or not result.equal:
        print_verify_summary(result)
    if not result.equal:
        raise typer.Exit(1)
