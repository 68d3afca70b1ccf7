"""PostgreSQL sessions that notice a dead or silent server instead of waiting forever.

Three layers, each for a different way a connection dies:

- ``statement_timeout`` / ``lock_timeout`` (server side): a statement that runs too long or waits
  on a lock is cancelled by the server, which says so — a ``ConflictError``, retried.
- TCP keepalives (kernel): a peer that vanished from the network (power loss, a partition) stops
  answering probes and the kernel drops the socket after ~``KEEPALIVE_IDLE_S`` + 3 x interval.
- A read deadline (client side, psycopg connections): no answer to one request within
  ``read_deadline(statement_timeout)`` — the statement timeout plus a margin — means the server's
  own timeout could not reach us either (a black hole: a stalled proxy, a frozen server, a link
  that still takes our packets). The connection is dropped and the batch retried on a new one.
  Keepalives cannot see this case: whatever still holds the TCP connection answers the probes.
  ADBC (the keyset reads of a PostgreSQL source) has no such hook: its read runs in a helper
  thread (``within_deadline``) and is abandoned past the same deadline; the helper closes that
  connection if the answer ever comes.

And one for the other side of a frozen process (SIGSTOP, a paused VM) that left a transaction
open: ``idle_in_transaction_session_timeout`` (twice the statement timeout: a batch's transaction
is never idle longer than one read) lets the server end it, so its locks — a checkpoint row the
fence holds — do not block the writer that took its partition over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from urllib.parse import quote as urlquote

import psycopg
from psycopg.abc import PQGen

RV = TypeVar("RV")

KEEPALIVE_IDLE_S = 30
KEEPALIVES = {"keepalives": "1", "keepalives_idle": str(KEEPALIVE_IDLE_S), "keepalives_interval": "10",
              "keepalives_count": "3"}  # fmt: skip


def read_deadline(statement_timeout_s: float) -> float:
    """How long to wait for any answer: the server's own timeout must have fired by then."""
    return statement_timeout_s * 1.5 + 5.0


def with_keepalives(url: str) -> str:
    """``url`` with libpq's TCP keepalive parameters (those the URL sets itself are kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    have = {k for k, _ in query}
    query += [(k, v) for k, v in KEEPALIVES.items() if k not in have]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=urlquote)))


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server ends after ``deadline_s`` seconds."""

    deadline_s: float | None = None

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        try:
            return super().wait(gen, interval, timeout if timeout is not None else self.deadline_s)
        except psycopg.errors._WaitTimeout as exc:
            self.close()  # midway through the protocol: this connection can never be used again
            raise psycopg.OperationalError(
                f"no answer from the server within {self.deadline_s:.0f} s (read deadline): "
                "connection dropped"
            ) from exc


def connect(url: str, *, statement_timeout_s: float) -> DeadlineConnection:
    """An autocommit session with keepalives, a read deadline and the server-side timeouts."""
    conn = DeadlineConnection.connect(with_keepalives(url), autocommit=True, connect_timeout=10)
    conn.deadline_s = read_deadline(statement_timeout_s)
    timeout_ms = int(statement_timeout_s * 1000)
    conn.execute(f"SET statement_timeout = {timeout_ms}")
    conn.execute(f"SET lock_timeout = {timeout_ms}")
    conn.execute(f"SET idle_in_transaction_session_timeout = {2 * timeout_ms}")
    return conn


def deadline_of(conn: psycopg.Connection[Any]) -> float | None:
    """The read deadline of a connection ``connect`` opened (None for any other)."""
    return conn.deadline_s if isinstance(conn, DeadlineConnection) else None


class DeadlineExceeded(Exception):
    """No answer within the read deadline; the read was abandoned."""


def within_deadline(fn: Callable[[], RV], *, deadline_s: float, abandon: Callable[[], None]) -> RV:
    """``fn()`` in a helper thread, waited for ``deadline_s`` at most (a driver blocked in C on a
    silent socket cannot be interrupted). Past it the read is given up: ``DeadlineExceeded`` is
    raised here and ``abandon()`` runs in the helper once ``fn`` returns, if it ever does."""
    done = threading.Event()
    lock = threading.Lock()
    given_up = False
    result: list[Any] = []

    def run() -> None:
        try:
            result.append((True, fn()))
        except BaseException as exc:
            result.append((False, exc))
        with lock:
            done.set()
            late = given_up
        if late:
            abandon()

    threading.Thread(target=run, name="read-deadline", daemon=True).start()
    if not done.wait(deadline_s):
        with lock:
            given_up = not done.is_set()
        if given_up:
            raise DeadlineExceeded(f"no answer from the server within {deadline_s:.0f} s (read deadline)")
    ok, value = result[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
