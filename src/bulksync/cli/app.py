"""The ``bulksync`` command: one Typer app; errors become one line and an exit code."""

from __future__ import annotations

import logging
import os
import sys

import typer

from bulksync.cli import bets as bets_cmd
from bulksync.cli import generate as generate_cmd
from bulksync.cli import jackpot as jackpot_cmd
from bulksync.cli import jobs as jobs_cmd
from bulksync.cli import move
from bulksync.cli import serve as serve_cmd
from bulksync.cli import stores as stores_cmd
from bulksync.cli import verify as verify_cmd
from bulksync.cli import worker as worker_cmd
from bulksync.errors import SyncError, redact

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
app.command("copy")(move.copy)
app.command("migrate")(move.migrate)
app.command("generate")(generate_cmd.generate)
app.command("verify")(verify_cmd.verify_cmd)
app.add_typer(bets_cmd.app, name="bets")
app.add_typer(stores_cmd.app, name="stores")
app.add_typer(stores_cmd.fake_app, name="fake-stores")
app.add_typer(jackpot_cmd.app, name="jackpot")
app.command("jobs")(jobs_cmd.list_jobs)
app.command("status")(jobs_cmd.status)
app.command("cancel")(jobs_cmd.cancel)
app.command("resume")(jobs_cmd.resume)
app.command("worker")(worker_cmd.worker)
app.command("serve")(serve_cmd.serve)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # 0.04 s (email, zipfile): only when asked

        typer.echo(f"bulksync {version('bulksync')}")
        raise typer.Exit()


@app.callback()
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
        app()  # usage errors are Typer's: message + exit code 2
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
    from bulksync.cli.render import print_error as shown  # Rich only when there is an error

    shown(message)


def _leave(code: int) -> None:
    """Exit without unloading the interpreter module by module.

    Every command has closed its connections and files when it returns; tearing numpy, pyarrow
    and SQLAlchemy down afterwards costs 0.1-0.4 s of a short command's wall time for nothing.
    Logs and the standard streams are flushed first.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (| head): nothing left to say there
    os._exit(code)


if __name__ == "__main__":
    main()
