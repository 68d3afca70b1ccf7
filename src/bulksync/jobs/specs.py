"""A SyncSpec as a job record holds it: configured connections by name, other URLs without secrets.

A job record outlives the command that started it and may be read by anyone who can list jobs,
so it never holds a password. A source or destination that is a configured connection
(``BULKSYNC_CONNECTIONS__<NAME>``) is stored as its name and resolved again by whichever runner
runs the job; any other URL is stored as given only if it carries no password; a SQLite path is
made absolute (the runner may start in another directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulksync.connectors.registry import safe_url, scheme_of
from bulksync.errors import UsageError, redact

if TYPE_CHECKING:
    from bulksync.settings import Settings
    from bulksync.spec import SyncSpec

ROLES = ("source", "destination")


def spec_record(spec: SyncSpec, settings: Settings) -> dict[str, Any]:
    """``spec`` as stored: ``{"source": {"connection": "dk"} | {"url": …}, …}``; refuses secrets."""
    data = spec.model_dump(mode="json")
    for role in ROLES:
        data[role] = endpoint_record(getattr(spec, role), settings, role=role)
    return data


def endpoint_record(target: str, settings: Settings, *, role: str) -> dict[str, str]:
    """One side of a spec as stored: a connection name, or a URL/path without a password."""
    name = settings.name_of(target) or (target.lower() if target.lower() in settings.connections else None)
    if name is not None:
        return {"connection": name}
    if redact(target) != target or safe_url(target) != target:
        raise UsageError(
            f"a background job cannot take a {role} URL with a password (job records never hold "
            f"secrets): configure it as a named connection, BULKSYNC_CONNECTIONS__<NAME>=<url>, "
            f"and pass the name instead of {redact(target)!r}"
        )
    if scheme_of(target) == "sqlite" and "://" not in target and target != ":memory:":
        return {"url": str(Path(target).expanduser().resolve())}
    return {"url": target}


def spec_from_record(data: dict[str, Any], settings: Settings) -> SyncSpec:
    """The runnable SyncSpec of a stored record: connection names resolved with ``settings``."""
    from bulksync.spec import SyncSpec

    resolved = dict(data)
    for role in ROLES:
        side = data[role]
        if "connection" in side:
            resolved[role] = settings.connection(side["connection"], role=f"{role} connection")
        else:
            resolved[role] = side["url"]
    return SyncSpec.model_validate(resolved)


def describe(data: dict[str, Any]) -> str:
    """``dk → /data/x.db: bets as bets_vn, players`` for listings: where from, where to, which
    tables and the destination table where it has another name (names, password-free URLs)."""
    sides = [data[r].get("connection") or data[r].get("url", "?") for r in ROLES]
    tables = ", ".join(
        t["name"] + (f" as {t['dest_name']}" if t.get("dest_name") not in (None, t["name"]) else "")
        for t in data.get("tables", [])
    )
    return f"{sides[0]} → {sides[1]}: {tables}"
