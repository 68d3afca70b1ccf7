"""One run of a store job into a table at a time.

Two runs of the same job — two overlapping crons, a cron and a hand-run, two store lists into one
table — would otherwise join one run: every store fetched twice (twice the API traffic, each
process applying its own ``--rate``), the run's summary row overwritten by whichever ended last,
and the two writing the same pages deadlocking now and then. So a run holds a PostgreSQL advisory
lock, named after the job and the table, on a session of its own for its whole life:

- a local run (the command, ``--background``) holds it alone: a second one stops at once, in one
  line naming the session that holds it, and changes nothing;
- the fleet's tasks of one job (and its coordinator opening and closing the run) hold it shared,
  so they run side by side but never beside a local run. Two fleet jobs of the same kind and
  table are told apart by the job store (``jobs.store_tasks``).

The lock belongs to the session: a run killed with -9 leaves nothing to clean up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bulksync.connectors.postgres import PostgresConnector
from bulksync.connectors.registry import open_connector
from bulksync.errors import RunInProgressError, UsageError


@contextlib.contextmanager
def one_run(dest_url: str, *, job_name: str, table: str, shared: bool = False) -> Iterator[None]:
    """Hold the job's run lock in ``dest_url`` meanwhile; ``RunInProgressError`` if another run has it."""
    dest = open_connector(dest_url)
    try:
        if not isinstance(dest, PostgresConnector):
            raise UsageError("a store sync writes to PostgreSQL only")
        holder = dest.try_lock(f"stores:{job_name}:{table}", shared=shared)
        if holder is not None:
            raise RunInProgressError(
                f"another run of {job_name} into {table!r} is in progress ({holder}): wait for it "
                "to end, or stop it (Ctrl-C where it runs, or bulksync cancel JOB)"
            )
        yield
    finally:
        dest.close()
