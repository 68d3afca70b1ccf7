"""``bulksync jackpot init|audit``: create the ledger's tables and pools; recompute them from the ledger."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from bulksync.errors import ConnectError, UsageError

app = typer.Typer(
    help="The jackpot's ledger (BULKSYNC_JACKPOT_CONNECTION): init, audit.", no_args_is_help=True
)

ConnectionOpt = Annotated[
    str | None,
    typer.Option(
        "--connection", envvar="BULKSYNC_JACKPOT_CONNECTION",
        help="configured PostgreSQL connection (BULKSYNC_CONNECTIONS__<NAME>) holding the ledger",
    ),
]  # fmt: skip


def _connect(name: str | None) -> Any:
    import psycopg

    from bulksync.settings import get_settings

    if not name:
        raise UsageError("no jackpot connection: set BULKSYNC_JACKPOT_CONNECTION or pass --connection")
    url = get_settings().connection(name, role="jackpot connection")
    try:
        return psycopg.connect(url, connect_timeout=5)
    except psycopg.Error as exc:
        raise ConnectError(f"cannot connect to jackpot connection {name!r}: {type(exc).__name__}") from exc


@app.command("init")
def init(connection: ConnectionOpt = None) -> None:
    """Create the ledger's tables and the configured pools (BULKSYNC_JACKPOT_POOLS) that are missing."""
    from bulksync.jackpot.config import JackpotSettings
    from bulksync.jackpot.ledger import init as init_ledger

    with _connect(connection) as conn:
        for line in init_ledger(conn, JackpotSettings()):
            typer.echo(line)


@app.command("audit")
def audit(
    connection: ConnectionOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="the audit as JSON on stdout")] = False,
) -> None:
    """Recompute every pool and win from the ledger; exit 1 if anything drifted."""
    from bulksync.jackpot.audit import audit as run_audit
    from bulksync.jackpot.money import to_text

    with _connect(connection) as conn:
        result = run_audit(conn)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"{result.contributions:,} contributions in the ledger")
        for p in result.pools:
            typer.echo(
                f"{p.name:<10} amount {to_text(p.amount_minor):>14}  ledger {to_text(p.expected_minor):>14}"
                f"  drift {to_text(p.drift_minor):>8}  wins {p.wins}"
            )
        for line in result.bad_wins:
            typer.echo(line)
        typer.echo("clean: every pool and win matches the ledger" if result.clean else "DRIFT: see above")
    if not result.clean:
        raise typer.Exit(1)
