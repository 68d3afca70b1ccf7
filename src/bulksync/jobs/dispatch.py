"""Start a recorded job: on the embedded workers, or through the Dramatiq broker when one is set.

The job store is the truth; what this sends is only a hint that there is work. Without a broker
(``BULKSYNC_BROKER_URL`` unset) nothing is sent: the embedded workers of ``bulksync serve`` poll
the store and claim queued jobs, and ``--background`` starts a detached runner of its own.
"""

from __future__ import annotations

from bulksync.errors import UsageError
from bulksync.jobs.model import Job
from bulksync.settings import Settings


def uses_broker(settings: Settings) -> bool:
    return settings.broker_url is not None


def dispatch(job: Job, settings: Settings) -> str:
    """Make sure someone will run ``job``; returns ``"embedded"`` or ``"broker"``."""
    if not uses_broker(settings):
        return "embedded"
    raise UsageError("distributed jobs (BULKSYNC_BROKER_URL) are not available yet")


def check_broker(settings: Settings) -> None:
    """Raise a one-line SyncError if the configured broker cannot be reached (healthz)."""
    if uses_broker(settings):
        raise UsageError("distributed jobs (BULKSYNC_BROKER_URL) are not available yet")
