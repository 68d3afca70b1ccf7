"""The ``bulksync`` command: one Typer app; errors become one line and an exit code.

A process builds only the command it runs: ``bulksync copy …`` imports ``cli/move.py`` and
none of the other command modules. The command list (bare ``bulksync``, ``--help``, a name
that is no command) is drawn from ``COMMANDS``, whose short help stands in for each module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection
from importlib import import_module
from typing import Any, Literal, NamedTuple

import typer

from bulksync.errors import SyncError, redact


class Entry(NamedTuple):
    """One command of ``bulksync``: where it lives and the first paragraph of its help."""

    target: str  # "module:attr" under bulksync.cli: a function, or a Typer sub-app
    kind: Literal["command", "sub-app"]
    help: str  # what the command list shows (shortened there as Click shortens a docstring)


# In the order of ``bulksync --help`` (Typer lists commands, then sub-apps). tests/unit/
# test_cli_app.py checks each help text against the command's own docstring.
COMMANDS: dict[str, Entry] = {
    "copy": Entry(
        "move:copy",
        "command",
        "Copy tables from SOURCE to DEST; re-run after a crash to continue where it stopped.",
    ),
    "migrate": Entry(
        "move:migrate",
        "command",
        "Copy every table of SOURCE to DEST: schema, keys and indexes created, tables in parallel, "
        "then their foreign keys, identity columns, defaults and portable CHECKs.",
    ),
    "generate": Entry(
        "generate:generate",
        "command",
        "Generate players, matches, bets, odds and statcast with consistent relationships.",
    ),
    "verify": Entry(
        "verify:verify_cmd",
        "command",
        "Compare tables of SOURCE and DEST chunk by chunk (counts and row checksums); read-only.",
    ),
    "jobs": Entry(
        "jobs:list_jobs",
        "command",
        "List background jobs, newest first: status, progress, records, what they move.",
    ),
    "status": Entry("jobs:status", "command", "Show a job's status and progress; --follow until it ends."),
    "cancel": Entry(
        "jobs:cancel",
        "command",
        "Cancel a job: a queued job at once; a running one stops reading at once and commits "
        "nothing after the batch it is committing.",
    ),
    "resume": Entry(
        "jobs:resume",
        "command",
        "Queue a failed or cancelled job again (or one whose runner died) and run it: it continues "
        "from its last committed batch.",
    ),
    "worker": Entry(
        "worker:worker",
        "command",
        "Run partition tasks of distributed jobs (BULKSYNC_BROKER_URL, a shared BULKSYNC_JOB_STORE) "
        "until SIGTERM or Ctrl-C; start one on every machine that should help.",
    ),
    "serve": Entry(
        "serve:serve",
        "command",
        "Serve the dashboard (/) and the HTTP API (/docs), running jobs on worker threads; Ctrl-C stops.",
    ),
    "bets": Entry(
        "bets:app",
        "sub-app",
        "Sync bets by day, date range and channel from the source connection "
        "(BET_SYNC_SOURCE_CONNECTION, default dk) into the bets table, upserted on the bet id.",
    ),
    "stores": Entry(
        "stores:app",
        "sub-app",
        "Sync users or videos of hundreds of rate-limited store APIs into PostgreSQL.",
    ),
    "fake-stores": Entry(
        "stores:fake_app", "sub-app", "A fake store API on localhost, for demos and the benchmark."
    ),
    "jackpot": Entry(
        "jackpot:app", "sub-app", "The jackpot's ledger (BULKSYNC_JACKPOT_CONNECTION): init, audit."
    ),
}


def load(name: str) -> Any:
    """The function or Typer sub-app of command ``name``, its module imported now."""
    module, _, attr = COMMANDS[name].target.partition(":")
    return getattr(import_module(f"bulksync.cli.{module}"), attr)


def build_app(command: str | None) -> typer.Typer:
    """The ``bulksync`` app with ``command`` alone when it is one of ``COMMANDS``; else every
    command described from the table, none of their modules imported (the command list)."""
    if command in COMMANDS:
        return _build(real={command})
    return _build(real=())


def _build(*, real: Collection[str]) -> typer.Typer:
    """The root app: the commands named in ``real`` as they are, with the others (when ``real``
    is not one command) as stand-ins that carry only their help."""
    app = _root_app()
    for name, entry in COMMANDS.items():
        if name in real:
            found = load(name)
        elif len(real) == 1:
            continue  # `bulksync copy …` needs no other command
        elif entry.kind == "sub-app":
            found = typer.Typer(help=entry.help)
        else:
            found = _described(name)
        if entry.kind == "sub-app":
            app.add_typer(found, name=name)
        else:
            app.command(name, help=None if name in real else entry.help)(found)
    return app


def _described(name: str) -> Callable[[], None]:
    def stand_in() -> None:  # never run: the command named in argv is built for real
        raise RuntimeError(f"bulksync {name}: built from its description only")

    return stand_in


def __getattr__(name: str) -> typer.Typer:
    """``bulksync.cli.app.app``: the whole app, every command module imported (tests, docs)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    full = _build(real=COMMANDS)
    globals()["app"] = full
    return full


def asked(argv: list[str]) -> str | None:
    """The command ``argv`` runs: its first word after ``bulksync`` when nothing precedes it
    (``bulksync --help copy`` lists the commands)."""
    return argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None


def _root_app() -> typer.Typer:
    app = typer.Typer(
        name="bulksync",
        help="Move millions of rows between databases fast, in flat memory, losing nothing.",
        no_args_is_help=True,
        epilog=(
            "Options can also come from the environment (BULKSYNC_PARTITIONS, BULKSYNC_MAX_MEMORY_MB, "
            "BULKSYNC_BATCH_MB, BULKSYNC_MODE, …): each command's --help names them. After a crash, "
            "run the same command again: it continues from the last committed batch."
        ),
        pretty_exceptions_enable=False,  # never print locals: they may hold a DSN with a password
        add_completion=False,
        rich_markup_mode=None,  # plain help wraps long env var names instead of cutting them off
    )
    app.callback()(_root)
    return app


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # 0.04 s (email, zipfile): only when asked

        typer.echo(f"bulksync {version('bulksync')}")
        raise typer.Exit()


def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """bulksync: copy, migrate and generate."""


def _validation_message(exc: Exception) -> str | None:
    """The one line of a pydantic ValidationError or a setting that cannot be read (a malformed
    ``BULKSYNC_*`` variable); None for any other exception."""
    found = sys.modules.get("pydantic_settings")
    if found is not None and isinstance(exc, found.SettingsError):
        why = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        text = str(exc).replace('source "EnvSettingsSource"', "the environment")
        return f"settings: {text}{why}"
    pydantic = sys.modules.get("pydantic")  # loaded by whatever raised one
    if pydantic is None or not isinstance(exc, pydantic.ValidationError):
        return None
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    text = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{where}: {text}" if where else text


def main() -> None:
    """Entry point: run the app; map every known failure to one line and an exit code."""
    try:
        _run()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    _leave(code or 0)


def _run() -> None:
    try:
        build_app(asked(sys.argv))()  # usage errors are Typer's: message + exit code 2
    except SyncError as exc:
        print_error(exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print_error("interrupted: re-run the same command to continue from the last checkpoint")
        sys.exit(130)
    except Exception as exc:
        message = _validation_message(exc)
        if message is None:
            raise
        print_error(redact(message))
        sys.exit(2)


def print_error(message: str) -> None:
    from bulksync.cli.plain import print_error as shown

    shown(message)


def _leave(code: int) -> None:
    """Exit without unloading the interpreter module by module.

    Every command has closed its connections and files when it returns; tearing numpy, pyarrow
    and SQLAlchemy down afterwards costs 0.1-0.4 s of a short command's wall time for nothing.
    Logs and the standard streams are flushed first.
    """
    logging = sys.modules.get("logging")  # loaded by whatever logged: --help never does
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (| head): nothing left to say there
    os._exit(code)


if __name__ == "__main__":
    main()
