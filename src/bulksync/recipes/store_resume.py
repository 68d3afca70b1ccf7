"""Whether a store sync may resume the job's unfinished run: only the same fetch, and recently.

A run records in its checkpoint what decides the records it fetches — ``--since``,
``--page-size``, ``--pagination``, ``--records-path`` and the store list (codes and base URLs, as
a digest); the kind and the table are in the checkpoint's own id. The next command resumes that
run only when all of them are the same and the run started less than ``--resume-within`` hours
ago (``BULKSYNC_STORES_RESUME_WITHIN_HOURS``, 6 by default; 0: never). Otherwise it starts a new
run and the old one is closed as ``abandoned``: last night's finished stores are not skipped
tonight, and a store's cursor is never reused with another page size or filter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence

# a recorded parameter → how the user names it in a message
OPTION_NAMES = {
    "since": "--since",
    "page_size": "--page-size",
    "pagination": "--pagination",
    "records_path": "--records-path",
    "stores": "store list",
}


def fetch_params(
    *,
    since: str | None,
    page_size: int,
    pagination: str,
    records_path: str,
    stores: Sequence[tuple[str, str]],
) -> str:
    """What a run fetches, as the JSON text its checkpoint keeps (``stores``: (code, base URL))."""
    digest = hashlib.sha256(json.dumps(sorted(stores)).encode()).hexdigest()[:16]
    params = {
        "since": since or "",
        "page_size": str(page_size),
        "pagination": pagination,
        "records_path": records_path,
        "stores": digest,
    }
    return json.dumps(params, sort_keys=True)


def differing(recorded: str | None, wanted: str) -> list[str]:
    """The options (as the user names them) whose recorded value is not ``wanted``'s."""
    if not recorded:
        return []
    was: Mapping[str, str] = json.loads(recorded)
    now: Mapping[str, str] = json.loads(wanted)
    keys = [*OPTION_NAMES, *(k for k in now if k not in OPTION_NAMES)]
    return [OPTION_NAMES.get(k, k) for k in keys if was.get(k) != now.get(k)]


def refusal(
    recorded: str | None, wanted: str, *, started: dt.datetime, now: dt.datetime, within_s: float
) -> str | None:
    """Why an unfinished run may not be resumed (None: it may)."""
    if not recorded:
        return "its options were not recorded (a run of an earlier build)"
    changed = differing(recorded, wanted)
    if changed:
        return f"its {' and '.join(changed)} differed"
    age = (now - started).total_seconds()
    if age > within_s:
        return f"it started {age / 3600:.1f} h ago, more than --resume-within {within_s / 3600:g} h"
    return None


def shown(run_id: str, started: dt.datetime) -> str:
    """A run as messages name it: ``run <id> from <UTC time>``."""
    return f"run {run_id} from {started.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
