"""``bulksync stores sync users|videos`` (seed 004's two nightly jobs) and ``fake-stores serve``.

Exit codes: 0 every store succeeded; 3 every store succeeded, but records went to the reject
table (a value its field cannot hold: as ``copy`` exits 3 for rejected rows); 4 at least one store
failed (the run is ``partial``, or ``failed`` when none succeeded) — the others are synced and
each failure is in ``sync_logs``; 1 the job could not run at all (bad destination, database
down); 2 usage; 130 / 143 stopped by Ctrl-C / SIGTERM (the run stays open: the same command
continues it).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bulksync.connectors.http_options import Pagination, RetryPolicy
from bulksync.errors import UsageError

if TYPE_CHECKING:
    from bulksync.fakestores import FakeStores
    from bulksync.recipes.store_list import Store

PARTIAL_EXIT = 4

app = typer.Typer(help="Sync users or videos of hundreds of rate-limited store APIs into PostgreSQL.")
fake_app = typer.Typer(help="A fake store API on localhost, for demos and the benchmark.")


class Kind(StrEnum):
    users = "users"
    videos = "videos"


def _since(value: str | None) -> str | None:
    from bulksync.connectors.http_options import since_value

    try:
        return None if value is None else since_value(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--since ")) from None


@app.command("sync")
def sync_cmd(
    kind: Annotated[Kind, typer.Argument(help="users (SYNC_CONCURRENCY) or videos (VIDEO_SYNC_CONCURRENCY)")],
    to: Annotated[str, typer.Option("--to", help="PostgreSQL URL or configured connection name")],
    stores: Annotated[
        Path | None,
        typer.Option(
            "--stores",
            help="store list: CSV or JSON of store_code, base_url, credential (a name: its token "
            "comes from BULKSYNC_STORES_CREDENTIALS__<NAME>)",
        ),
    ] = None,
    stores_table: Annotated[
        str | None,
        typer.Option("--stores-table", help="or a table of the --to database with those columns"),
    ] = None,
    table: Annotated[str, typer.Option("--table", help="destination table (default store_<kind>)")] = "",
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="stores at once (default: SYNC_CONCURRENCY=30 for users, "
            "VIDEO_SYNC_CONCURRENCY=20 for videos)",
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.01,
            help="requests/second for all stores together (BULKSYNC_STORES_RATE); shared through Redis "
            "by every process when BULKSYNC_BROKER_URL is redis://…",
        ),
    ] = None,
    store_rate: Annotated[
        float | None,
        typer.Option(
            "--store-rate", min=0.01, help="requests/second for each store (BULKSYNC_STORES_STORE_RATE)"
        ),
    ] = None,
    pagination: Annotated[
        Pagination, typer.Option("--pagination", help="cursor | link | page | offset")
    ] = Pagination.CURSOR,
    page_size: Annotated[int, typer.Option("--page-size", min=1, help="records asked per page")] = 100,
    records_path: Annotated[
        str, typer.Option("--records-path", help="where a page's records are (dotted)")
    ] = "data",
    since: Annotated[
        str | None,
        typer.Option("--since", help="only records updated at or after (ISO time)", callback=_since),
    ] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", min=0.1, help="seconds per request")] = 30.0,
    max_page_mb: Annotated[
        float, typer.Option("--max-page-mb", min=0.001, help="a larger page fails its store")
    ] = 16.0,
    attempts: Annotated[
        int, typer.Option("--attempts", min=1, help="tries per request (429/5xx/timeouts)")
    ] = 5,
    backoff_s: Annotated[
        float, typer.Option("--backoff", min=0.0, help="first retry delay, doubled each time (with jitter)")
    ] = 1.0,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="reopen the last run and sync only the stores that failed in it"),
    ] = False,
    resume_within: Annotated[
        float | None,
        typer.Option(
            "--resume-within",
            min=0.0,
            help="resume the unfinished run only if it started less than this many hours ago "
            "and fetches the same; else start a new run (BULKSYNC_STORES_RESUME_WITHIN_HOURS, "
            "default 6; 0: never resume)",
        ),
    ] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            help="record a job (BULKSYNC_JOB_STORE), run it in a detached process (or on the "
            "bulksync worker fleet when BULKSYNC_BROKER_URL is set; one task per store) and print its id",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress")] = False,
) -> None:
    """Sync every store of the list; re-run the same command after a crash to resume the run.

    A record with a value its field cannot hold ("views": "lots") goes to bulksync.rejects with
    the reason; the store's other records land. Exit code 0: every store succeeded; 3: every
    store succeeded, but records were rejected; 4: a store failed (the others are synced); 1: the
    job could not run; 2: bad usage; 130 / 143: stopped (the same command continues the run).
    """
    from bulksync.cli.render import StoresView, print_stores_summary
    from bulksync.jobs.store_specs import shared_limit_url
    from bulksync.recipes.stores import StoreJob, sync_stores
    from bulksync.settings import get_settings, get_store_settings

    conf, settings = get_store_settings(), get_settings()
    dest = settings.resolve(to)
    if not dest.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise UsageError("--to must be a PostgreSQL database (a postgresql:// URL or a configured name)")
    default = conf.sync_concurrency if kind is Kind.users else conf.video_sync_concurrency
    job = StoreJob(
        kind.value, _stores(stores, stores_table, dest), dest, conf.credentials, table=table,
        concurrency=concurrency or default, rate=rate or conf.rate, store_rate=store_rate or conf.store_rate,
        pagination=pagination, page_size=page_size, records_path=records_path, since=since,
        timeout_s=timeout_s, max_page_bytes=int(max_page_mb * 1024 * 1024),
        policy=RetryPolicy(attempts=attempts, backoff_s=backoff_s), retry_failed=retry_failed,
        resume_within_s=3600 * (conf.resume_within_hours if resume_within is None else resume_within),
        shared_limit_url=shared_limit_url(settings, conf, rate=rate or conf.rate,
                                          fleet=background and settings.broker_url is not None),
    )  # fmt: skip
    if background:
        from bulksync.cli.stores_jobs import submit_store_job

        submit_store_job(job, destination=to, json_out=json_out)
        return
    stop = _Stop()
    with StoresView(enabled=not quiet and not json_out) as view, stop.on_signals():
        result = sync_stores(job, view, cancel=stop.event)
    if json_out:
        from bulksync.cli.plain import print_json

        print_json(result.as_dict())
    elif not quiet or result.records_rejected:
        print_stores_summary(result)
        for o in result.rejected_stores:  # the failed stores' lines say it too
            typer.echo(f"  {o.code}: {o.message}")
    if result.status == "cancelled":
        typer.echo(f"stopped by {stop.name}: the same command continues run {result.run_id}", err=True)
        raise typer.Exit(128 + stop.signum)
    if result.status != "succeeded":
        raise typer.Exit(PARTIAL_EXIT)
    if result.records_rejected:
        from bulksync.cli.move import EXIT_REJECTS

        raise typer.Exit(EXIT_REJECTS)


class _Stop:
    """Ctrl-C or SIGTERM: no store starts any more, running ones stop after their current page
    and the run's summary says ``cancelled``; a second signal interrupts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = signal.SIGINT.value
        self.name = "Ctrl-C"

    def _handle(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt  # the second one: the run's summary says 'interrupted'
        self.signum, self.name = signum, "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.event.set()

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only (a test calling the command in a thread)
            return
        before = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)


@app.command("retry")
def retry_cmd(
    job_id: Annotated[str, typer.Argument(help="a store-sync job id (bulksync jobs lists them)")],
) -> None:
    """Re-run only the stores that failed in a partial (or failed) store-sync job, in the background."""
    from bulksync.cli.stores_jobs import retry_store_job

    retry_store_job(job_id)


@fake_app.command("serve")
def serve_fake(
    stores: Annotated[int, typer.Option("--stores", min=1, help="how many stores")] = 300,
    port: Annotated[int, typer.Option("--port", help="0: a free port")] = 8765,
    latency_ms: Annotated[float, typer.Option("--latency-ms", min=0, help="per page")] = 30.0,
    vary: Annotated[bool, typer.Option("--vary/--same", help="latency 0.5-1.5x, per store")] = True,
    rate: Annotated[float | None, typer.Option("--rate", help="the API's global requests/second")] = None,
    store_rate: Annotated[
        float | None, typer.Option("--store-rate", help="the API's per-store requests/second")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 4,
    records: Annotated[str, typer.Option("--records", help="records per store, LOW-HIGH")] = "",
    style: Annotated[
        Pagination, typer.Option("--style", help="pagination in the written store list")
    ] = Pagination.CURSOR,
    write_list: Annotated[
        Path | None, typer.Option("--write-list", help="write a store list CSV here")
    ] = None,
) -> None:
    """Serve fake stores until Ctrl-C; their API token is 'fake-api-key' (credential 'fake')."""
    from bulksync.fakestores import FakeStoreServer

    server = FakeStoreServer(
        _catalog(stores, seed, records), port=port, latency_s=latency_ms / 1000,
        vary_latency=vary, rate=rate, store_rate=store_rate,
    )  # fmt: skip
    if write_list:
        server.write_store_list(str(write_list), style=style.value)
    typer.echo(f"fake stores on {server.url} (set BULKSYNC_STORES_CREDENTIALS__FAKE=fake-api-key)", err=True)
    try:
        server.serve_forever()
    finally:
        server.stop()


def _stores(path: Path | None, table: str | None, dest: str) -> list[Store]:
    from bulksync.recipes.store_list import load_stores, load_stores_table

    if (path is None) == (table is None):
        raise UsageError("give the store list as --stores FILE or --stores-table TABLE (one of them)")
    return load_stores(path) if path is not None else load_stores_table(dest, str(table))


def _catalog(stores: int, seed: int, records: str) -> FakeStores:
    from bulksync.fakestores import FakeStores

    if not records:
        return FakeStores(stores=stores, seed=seed)
    low, _, high = records.partition("-")
    if not (low.isdigit() and high.isdigit() and int(low) <= int(high)):
        raise UsageError(f"--records must be LOW-HIGH, e.g. 20-60 (got {records!r})")
    size = (int(low), int(high))
    return FakeStores(stores=stores, seed=seed, users=size, videos=size)
