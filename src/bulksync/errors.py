"""Every error bulksync raises on purpose.

    SyncError                      root: catch this to catch everything below
    ├── TransientError             worth retrying with backoff (the batch is rolled back first)
    │   ├── ConnectionLost         the server went away mid-batch
    │   ├── ConflictError          deadlock, serialization failure, lock or statement timeout
    │   └── BrokerUnavailable      the job broker (Redis, RabbitMQ) cannot be reached
    └── PermanentError             retrying cannot help; the job stops and says why
        ├── UsageError             the request itself is wrong (bad mode/filter combination)
        ├── ConnectError           bad DSN, unreachable host, wrong password, missing file
        ├── UnknownTableError      a table that the catalog does not have
        ├── UnknownColumnError     a column that the table does not have
        ├── UnsupportedTypeError   a column type bulksync cannot carry faithfully
        ├── SchemaMismatchError    the destination table exists with incompatible columns
        ├── FencedOut              another writer took the partition over: this batch is refused
        ├── RunInProgressError     another run of the same store job, into the same table, holds it
        └── BadRowsError           the destination refused rows of a batch (constraint, bad value):
            │                      the engine splits the batch to isolate and reject them
            └── KeyCollisionError  an upsert's keys equal others only under the destination's
                                   collation ('a' = 'A'): the rows it names are rejected

Messages are one line, name the table / key range / fix, and never contain a password.
The CLI exits with ``exit_code``: 1, or 2 for a ``UsageError`` and for any error ``refusal``
marks as raised before anything was written (a column type found while planning).
Connectors translate driver exceptions into these at their boundary (``raise … from exc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote

# the password runs to the LAST '@' before the host: a raw '@' inside it must not leak its tail
_DSN_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>\S*?)(?=@[^@\s]*(?:\s|$|[,;)'\"]))", re.I
)
# a URL's password as written, spaces and raw '@' included: what lies between the user's ':' and
# the last '@' (a driver quotes pieces of it when it cannot parse them)
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@]*:(?P<pw>.*)@[^@]*$", re.I | re.S)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)


def redact(text: str) -> str:
    """Return ``text`` with every password in a URL or ``password=`` pair replaced by ``***``."""
    text = _DSN_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + "***", text)


def hide_password(text: str, url: str) -> str:
    """``text`` (a driver's message about ``url``) without ``url``'s password, nor any piece of
    it: a driver that cannot parse the URL quotes what it read there (libpq: ``unexpected spaces
    found in "s3c ret pw"``, ``failed to resolve host 'ret'`` for ``s3c@ret#pw``)."""
    found = _URL_PASSWORD.match(url.strip())
    if found is None or not found.group("pw"):
        return redact(text)
    secret = found.group("pw")
    pieces = {secret, unquote(secret), *(p for p in re.split(r"[\s@#:/?%&=]+", secret) if len(p) >= 3)}
    for piece in sorted(pieces, key=len, reverse=True):
        if piece:
            text = text.replace(piece, "***")
    return redact(text)


class SyncError(Exception):
    """Sync failed."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        text = message if message is not None else (type(self).__doc__ or "").strip()
        super().__init__(redact(" ".join(text.split())))

    @property
    def message(self) -> str:
        return str(self)


class TransientError(SyncError):
    """A temporary failure; the batch was rolled back and can be retried."""


class ConnectionLost(TransientError):
    """The connection to the database was lost mid-batch."""


class ConflictError(TransientError):
    """The database refused the batch because of a lock conflict or timeout."""


class BrokerUnavailable(TransientError):
    """The broker cannot be reached."""


class PermanentError(SyncError):
    """The sync cannot continue; retrying will not help."""


class UsageError(PermanentError):
    """The request is invalid."""

    exit_code = 2


class ConnectError(PermanentError):
    """Cannot connect to the database."""


class UnknownTableError(PermanentError):
    """No such table."""


def unknown_table(table: str, where: str, known: list[str]) -> UnknownTableError:
    """The one message for a missing table: where we looked and what is there."""
    return UnknownTableError(
        f"table {table!r} does not exist in {where} (tables: {', '.join(known) or 'none'})"
    )


class UnknownColumnError(PermanentError):
    """No such column."""


class UnsupportedTypeError(PermanentError):
    """A column has a type bulksync cannot carry faithfully."""


class SchemaMismatchError(PermanentError):
    """The destination table does not match the source."""


class FencedOut(PermanentError):
    """Another writer took this partition over; this writer's batch is refused."""


class RunInProgressError(PermanentError):
    """Another run of the same job into the same table is in progress."""


class BadRowsError(PermanentError):
    """The destination refused one or more rows of the batch."""


class KeyCollisionError(BadRowsError):
    """An upsert would merge rows whose keys differ but are equal under the key's collation.

    ``collisions`` maps each such row's key (the destination's values) to why it is refused.
    """

    def __init__(self, collisions: Mapping[tuple[Any, ...], str]) -> None:
        self.collisions = dict(collisions)
        reasons = list(self.collisions.values())
        more = f" (and {len(reasons) - 1:,} more rows like it)" if len(reasons) > 1 else ""
        super().__init__(reasons[0] + more if reasons else None)

    def __reduce__(self) -> tuple[type[KeyCollisionError], tuple[dict[tuple[Any, ...], str]]]:
        return type(self), (self.collisions,)


def refusal(exc: SyncError) -> SyncError:
    """``exc``, raised before anything was written: a refusal, exit code 2 like bad usage (its
    class, which the API reports, stays the same)."""
    exc.exit_code = 2
    return exc


T = TypeVar("T")


def connect_again(connect: Callable[[], T]) -> T:
    """Connect once more mid-run: the server was there a moment ago, so a refusal now (a
    restart, a killed session) is worth a retry, not the end of the job."""
    try:
        return connect()
    except ConnectError as exc:
        raise ConnectionLost(f"reconnecting: {exc.message}") from exc
