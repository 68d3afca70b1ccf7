"""Start a recorded job: on the embedded workers, or through the Dramatiq broker when one is set.

The job store is the truth; what this sends is only a hint that there is work. Without a broker
(``BULKSYNC_BROKER_URL`` unset) nothing is sent: the embedded workers of ``bulksync serve`` poll
the store and claim queued jobs, and ``--background`` starts a detached runner of its own. With
a broker, a ``plan_job`` message goes to the ``bulksync worker`` fleet (jobs/actors.py), which
splits the job into partition tasks; a resumed job is sent the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bulksync.settings import Settings

if TYPE_CHECKING:
    from bulksync.jobs.model import Job


def uses_broker(settings: Settings) -> bool:
    return settings.broker_url is not None


def dispatch(job: Job, settings: Settings) -> str:
    """Make sure someone will run ``job``; returns ``"embedded"`` or ``"broker"``."""
    if not uses_broker(settings):
        return "embedded"
    from bulksync.jobs.broker import PLAN_JOB, make_broker, send  # Dramatiq only when used

    broker = make_broker(settings)
    try:
        send(broker, PLAN_JOB, job.id)
    finally:
        broker.close()
    return "broker"


def check_broker(settings: Settings) -> None:
    """Raise a one-line SyncError if the configured broker cannot be reached (healthz)."""
    if uses_broker(settings):
        from bulksync.jobs.broker import ping

        ping(settings, timeout_s=3.0)
