"""``bulksync bets sync``: seed 000's ``php artisan sync:bets``, on configured connections."""

from __future__ import annotations

from typing import Annotated

import typer

from bulksync.cli import options as o

app = typer.Typer(
    help=(
        "Sync bets by day, date range and channel from the source connection "
        "(BET_SYNC_SOURCE_CONNECTION, default dk) into the bets table, upserted on the bet id."
    ),
    no_args_is_help=True,
)


@app.command("sync")
def sync_bets(
    start_date: Annotated[
        str | None, typer.Option("--start-date", help="first day, YYYY-MM-DD (default: today)")
    ] = None,
    end_date: Annotated[
        str | None, typer.Option("--end-date", help="last day, included (default: today)")
    ] = None,
    days_back: Annotated[
        int | None, typer.Option("--days-back", help="the N days before today, and today")
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel",
            help="one channel of BET_SYNC_ALLOWED_CHANNELS, or ALL (default: BET_SYNC_DEFAULT_CHANNEL)",
        ),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            min=1,
            help="bets fetched from the source at a time (default: BET_SYNC_CHUNK_SIZE, 1000); "
            "transactions, each with its checkpoint, are sized by the engine",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="bets per write statement (default: BET_SYNC_BATCH_SIZE, 500)"
        ),
    ] = None,
    background: Annotated[
        bool, typer.Option("--background", help="run as a background job and return its id")
    ] = False,
    workers: o.WorkersOpt = 2,
    max_memory_mb: o.MemoryOpt = 512,
    json_out: o.JsonOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Sync the bets of today, the last --days-back N days, or --start-date..--end-date (idempotent)."""
    from bulksync.cli.jobs import submit_background
    from bulksync.cli.plain import print_json, print_warning, progress_view
    from bulksync.cli.render import print_fields
    from bulksync.engine.run import SyncFailed, sync
    from bulksync.recipes import bets as recipe  # here, not at start-up of every command
    from bulksync.settings import get_bet_settings, get_settings

    bets = get_bet_settings()
    days = recipe.resolve_range(
        bets, start_date=start_date, end_date=end_date, days_back=days_back, channel=channel
    )
    spec = recipe.build_spec(
        days,
        get_settings(),
        bets,
        chunk_size=chunk_size,
        batch_size=batch_size,
        workers=workers,
        max_memory_mb=max_memory_mb,
    )
    if background:
        submit_background(
            spec, kind="bets", json_out=json_out, tries=bets.job_tries, timeout_s=float(bets.job_timeout)
        )
        return
    listeners = [recipe.MemoryWarning(bets.memory_warning, print_warning)]
    interval = bets.progress_interval if bets.enable_progress_log else None
    with progress_view(enabled=not quiet and bets.enable_progress_log, log_every_rows=interval) as view:
        try:
            result = sync(spec, listeners=[view, *listeners])
        except SyncFailed as failed:
            if json_out:
                print_json({**recipe.summary(days, failed.result, spec), "error": failed.message})
            raise
    body = recipe.summary(days, result, spec)
    if json_out:
        print_json(body)
    elif not quiet:
        data = body["data"]
        assert isinstance(data, dict)
        perf = data["performance"]
        print_fields(
            f"bet sync {result.status}",
            [
                ("date" if days.start == days.end else "date range", days.label),
                ("total records", f"{data['total_records']:,}"),
                ("failed records", f"{data['failed_records']:,}"),
                ("execution time", f"{data['execution_time_seconds']:.2f} s"),
                ("records per second", f"{perf['records_per_second']:,.0f}"),
                ("chunk size", f"{perf['chunk_size']:,}"),
                ("batch size", f"{perf['batch_size']:,}"),
                ("peak memory", f"{perf['peak_memory_mb']:.0f} MB"),
            ],
        )
