"""``python -m bulksync.jobs JOB_ID``: the detached runner process that ``--background`` starts."""

from __future__ import annotations

import logging
import sys

from bulksync import logs
from bulksync.errors import SyncError
from bulksync.jobs.launch import open_store
from bulksync.jobs.runner import run_until_done
from bulksync.settings import get_settings

log = logging.getLogger("bulksync.jobs")


def main(argv: list[str]) -> int:
    """Run the job; its log (stderr: ``logs/<job>.log``) gets one line per record (jobs/journal.py),
    JSON unless BULKSYNC_LOG_FORMAT=console."""
    if len(argv) != 1:
        print("usage: python -m bulksync.jobs JOB_ID", file=sys.stderr)
        return 2
    settings = get_settings()
    logs.configure_for(settings)
    try:
        store = open_store(settings, create=False)  # the job is recorded in it
        try:
            status = run_until_done(store, argv[0], settings)
        finally:
            store.close()
    except SyncError as exc:
        log.error("%s: %s", argv[0], exc.message)
        return 1
    if status is None:
        log.info("%s: taken by another runner", argv[0])
    return 0 if status in ("succeeded", "cancelled", None) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
