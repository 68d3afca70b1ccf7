"""Options shared by the commands that move rows, and turning them into a SyncSpec."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bulksync.errors import UsageError
from bulksync.modes import BadValue, Mode

if TYPE_CHECKING:
    from bulksync.spec import Filter

ModeOpt = Annotated[
    Mode,
    typer.Option("--mode", "-m", envvar="BULKSYNC_MODE", help="append | replace | upsert | incremental"),
]
KeyOpt = Annotated[
    list[str] | None,
    typer.Option("--key", help="key column(s) that identify a row (default: the primary key)"),
]
CursorOpt = Annotated[
    str | None,
    typer.Option("--cursor", help="incremental mode: column that grows on change, e.g. updated_at"),
]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", help="equality filter COLUMN=VALUE (repeatable), e.g. channel=VN"),
]
DateColOpt = Annotated[
    str | None,
    typer.Option("--date-column", help="date/time column that --since/--until apply to"),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="only rows with date-column >= this (ISO date/time)")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="only rows with date-column < this (ISO date/time)")
]


def _deprecated_workers(ctx: typer.Context, param: typer.CallbackParam, value: int) -> int:
    """``--workers``/``BULKSYNC_WORKERS``, the old names of ``--partitions``: still honoured, with
    a note (``--workers`` means threads on ``serve``, tasks on ``worker``: one word, one meaning)."""
    from bulksync.cli.plain import print_warning

    found = ctx.get_parameter_source(param.name or "")
    source = found.name if found is not None else ""  # typer may carry its own copy of click
    old = [a for a in sys.argv[1:] if a == "--workers" or a.startswith(("--workers=", "-w"))]
    if source == "COMMANDLINE" and old:
        print_warning("--workers is deprecated here: use --partitions (the same number)")
    elif source == "ENVIRONMENT" and "BULKSYNC_PARTITIONS" not in os.environ:
        print_warning("BULKSYNC_WORKERS is deprecated: use BULKSYNC_PARTITIONS (the same number)")
    return value


WorkersOpt = Annotated[  # the SyncSpec's ``workers``: partitions (and tables) moved at once
    int,
    typer.Option(
        "--partitions",
        "-p",
        "--workers",
        "-w",
        envvar=["BULKSYNC_PARTITIONS", "BULKSYNC_WORKERS"],
        min=1,
        max=64,
        callback=_deprecated_workers,
        help="key-range partitions (and tables) moved at once; --workers/-w and BULKSYNC_WORKERS "
        "are its deprecated names",
    ),
]
MemoryOpt = Annotated[
    int,
    typer.Option(
        "--max-memory-mb",
        envvar="BULKSYNC_MAX_MEMORY_MB",
        min=64,
        help="memory guard: batches shrink and readers pause above 80 % of this",
    ),
]
BatchOpt = Annotated[
    float,
    typer.Option(
        "--batch-mb",
        envvar="BULKSYNC_BATCH_MB",
        min=0.01,
        help="starting batch size in MB (adapted to the observed write time)",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--statement-timeout",
        envvar="BULKSYNC_STATEMENT_TIMEOUT",
        help="seconds one batch may hold locks before it is retried",
    ),
]
RetriesOpt = Annotated[
    int, typer.Option("--retries", envvar="BULKSYNC_RETRIES", min=0, help="retries per batch")
]
LagOpt = Annotated[
    float,
    typer.Option("--lag-seconds", help="incremental: re-read this much before the watermark"),
]
RestartOpt = Annotated[
    bool, typer.Option("--restart", help="ignore checkpoints of an earlier run and start over")
]
BadValueOpt = Annotated[
    BadValue,
    typer.Option(
        "--on-bad-value",
        envvar="BULKSYNC_ON_BAD_VALUE",
        help="a value that does not fit its column's type (text in an INTEGER column of a SQLite "
        "file, an impossible date, invalid UTF-8): reject the row (to the reject table, with the "
        "reason), load the row with NULL there (and record it), or fail the table",
    ),
]
ForeignKeysOpt = Annotated[
    bool,
    typer.Option(
        "--foreign-keys/--no-foreign-keys",
        envvar="BULKSYNC_FOREIGN_KEYS",
        help="create the source's foreign keys between the migrated tables once all are loaded",
    ),
]
BackgroundOpt = Annotated[
    bool,
    typer.Option(
        "--background",
        help="record a job (BULKSYNC_JOB_STORE), run it in a detached process and print its id at once",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the result as JSON on stdout")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")]


_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # a name, not a path or a URL


def resolve_connection(value: str) -> str:
    """A configured connection's URL when ``value`` names one (``dk``), else ``value`` as given.

    A bare word (no folder, suffix or scheme) that is neither a configured connection nor an
    existing file is refused: it is a misspelled connection far more often than a new SQLite
    file that the command would create under that name.

    A URL or a path (anything but a bare name) is taken as given without loading the settings:
    pydantic-settings and reading them cost a copy ~0.1-0.2 s of start-up for nothing."""
    if not _BARE.match(value):
        return value
    from bulksync.settings import get_settings

    settings = get_settings()
    found = settings.resolve(value)
    if found == value and _BARE.match(value) and not Path(value).exists():
        known = ", ".join(sorted(settings.connections)) or "none configured"
        raise UsageError(
            f"{value!r} is not a configured connection (configured: {known}) nor an existing file; "
            f"set BULKSYNC_CONNECTIONS__{value.upper()}=<database URL>, or give a new SQLite file "
            f"a suffix or a folder (./{value}.db)"
        )
    return found


def build_filters(
    where: list[str] | None, date_column: str | None, since: str | None, until: str | None
) -> tuple[Filter, ...]:
    """Turn --where/--since/--until into structured filters (values become bound parameters)."""
    from bulksync.spec import Filter

    filters: list[Filter] = []
    for item in where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise UsageError(f"--where {item!r}: use COLUMN=VALUE, e.g. --where channel=VN")
        filters.append(Filter(column=column.strip(), op="eq", value=value))
    if (since or until) and not date_column:
        raise UsageError("--since/--until need --date-column (the date/time column to filter on)")
    if date_column and since:
        filters.append(Filter(column=date_column, op="ge", value=since))
    if date_column and until:
        filters.append(Filter(column=date_column, op="lt", value=until))
    return tuple(filters)


SchemaOpt = Annotated[
    str | None,
    typer.Option(
        "--schema",
        envvar="BULKSYNC_SCHEMA",
        help="a PostgreSQL destination's schema instead of public (copy and migrate create it if "
        "missing; migrate --schema NAME, then copy and verify --schema NAME)",
    ),
]


def into_schema(dest: str, schema: str) -> str:
    """``dest`` whose tables are in ``schema`` (a PostgreSQL URL only)."""
    from bulksync.connectors.registry import scheme_of
    from bulksync.identifiers import check_identifier

    if scheme_of(dest) not in ("postgresql", "postgres"):
        raise UsageError("--schema applies to a PostgreSQL destination (name another database instead)")
    from bulksync.connectors.postgres import with_schema

    return with_schema(dest, check_identifier(schema, "schema name"))
