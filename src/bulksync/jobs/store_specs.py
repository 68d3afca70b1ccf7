"""A store sync as a job record holds it (kind ``stores``): the store list and every option, the
destination as a configured name (or a password-free URL), credentials by name only.

    {"source": {"url": "300 store APIs"}, "destination": {"connection": "default"},
     "tables": [{"name": "users", "dest_name": "store_users"}],
     "stores": {"kind": "users", "list": [["s0001", "https://…", "main"], …], "concurrency": 30, …}}

``source`` and ``tables`` are there for listings (``bulksync jobs``, the dashboard); the runner
reads ``stores``. Tokens are resolved again by whichever process runs the job, from its own
``BULKSYNC_STORES_CREDENTIALS__<NAME>``: a record never holds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bulksync.connectors.http_options import Pagination, RetryPolicy
from bulksync.errors import UsageError, redact
from bulksync.jobs.specs import endpoint_record
from bulksync.recipes.store_list import Store
from bulksync.settings import Settings, StoreSyncSettings

if TYPE_CHECKING:
    from bulksync.recipes.stores import StoreJob

KIND = "stores"


def store_job_record(job: StoreJob, settings: Settings, *, destination: str) -> dict[str, Any]:
    """``job`` as stored; ``destination`` as the user gave it (a name, or a URL without password)."""
    for s in job.stores:
        if redact(s.base_url) != s.base_url or "@" in s.base_url.split("/")[2]:
            raise UsageError(f"store {s.code}: a base_url with a user or password cannot go in a job record")
    return {
        "source": {"url": f"{len(job.stores)} store APIs"},
        "destination": endpoint_record(destination, settings, role="destination"),
        "tables": [{"name": job.kind, "dest_name": job.table_name}],
        "stores": {
            "kind": job.kind,
            "list": [[s.code, s.base_url, s.credential] for s in job.stores],
            "table": job.table_name,
            "concurrency": job.concurrency,
            "rate": job.rate,
            "store_rate": job.store_rate,
            "pagination": job.pagination.value,
            "page_size": job.page_size,
            "records_path": job.records_path,
            "since": job.since,
            "timeout_s": job.timeout_s,
            "max_page_bytes": job.max_page_bytes,
            "attempts": job.policy.attempts,
            "backoff_s": job.policy.backoff_s,
            "resume_within_s": job.resume_within_s,
        },
    }


def store_job_from_record(
    record: dict[str, Any],
    settings: Settings,
    conf: StoreSyncSettings,
    *,
    retry_failed: bool = False,
    only: set[str] | None = None,
) -> StoreJob:
    """The runnable job: destination and credentials resolved here; ``only`` these store codes."""
    from bulksync.recipes.stores import StoreJob

    side, o = record["destination"], record["stores"]
    if "connection" in side:
        dest = settings.connection(side["connection"], role="destination connection")
    else:
        dest = str(side["url"])
    fleet = settings.broker_url is not None  # a worker, or what sends to one
    stores = [Store(code, url, cred) for code, url, cred in o["list"] if only is None or code in only]
    return StoreJob(
        o["kind"], stores, dest, conf.credentials, table=o["table"], concurrency=int(o["concurrency"]),
        rate=o["rate"], store_rate=o["store_rate"], pagination=Pagination(o["pagination"]),
        page_size=int(o["page_size"]), records_path=o["records_path"], since=o["since"],
        timeout_s=float(o["timeout_s"]), max_page_bytes=int(o["max_page_bytes"]),
        policy=RetryPolicy(attempts=int(o["attempts"]), backoff_s=float(o["backoff_s"])),
        retry_failed=retry_failed,
        resume_within_s=float(o.get("resume_within_s", conf.resume_within_hours * 3600)),  # older records
        shared_limit_url=shared_limit_url(settings, conf, rate=o["rate"], fleet=fleet),
    )  # fmt: skip


def shared_limit_url(
    settings: Settings, conf: StoreSyncSettings, *, rate: float | None, fleet: bool
) -> str | None:
    """The Redis that holds the global limit for every process: BULKSYNC_STORES_RATE_LIMIT_URL,
    else the broker when it is Redis, else none (the limit is per process).

    ``fleet``: the job runs on the worker fleet, where a per-process limit would be multiplied by
    the workers: with a global ``rate``, a broker that is not Redis (RabbitMQ) and no limit URL,
    the job is refused rather than sent to break the API's limit.
    """
    if conf.rate_limit_url is not None:
        return conf.rate_limit_url.get_secret_value()
    broker = settings.broker_url.get_secret_value() if settings.broker_url else None
    if broker and broker.startswith(("redis://", "rediss://")):
        return broker
    if fleet and broker and rate:
        raise UsageError(
            "a global rate (--rate / BULKSYNC_STORES_RATE) on the worker fleet is shared through "
            "Redis and the broker is not Redis: set BULKSYNC_STORES_RATE_LIMIT_URL=redis://…"
        )
    return None


def store_codes(record: dict[str, Any]) -> list[str]:
    return [str(entry[0]) for entry in record["stores"]["list"]]


def retrying(result: dict[str, Any] | None) -> bool:
    """A job resumed after a run that ended (partial or failed) re-runs only its failed stores;
    one whose run never ended (its runner died, a cancel) continues that run."""
    return result is not None and result.get("status") in ("partial", "failed")
