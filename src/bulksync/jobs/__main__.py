"""``python -m bulksync.jobs JOB_ID``: the detached runner process that ``--background`` starts."""

from __future__ import annotations

import sys

from bulksync.errors import SyncError
from bulksync.jobs.launch import open_store
from bulksync.jobs.runner import run_until_done
from bulksync.settings import get_settings


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bulksync.jobs JOB_ID", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        store = open_store(settings, create=False)  # the job is recorded in it
        try:
            status = run_until_done(store, argv[0], settings)
        finally:
            store.close()
    except SyncError as exc:
        print(f"job {argv[0]}: {exc.message}", file=sys.stderr)
        return 1
    print(f"job {argv[0]}: {status or 'taken by another runner'}", file=sys.stderr)
    return 0 if status in ("succeeded", "cancelled", None) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
