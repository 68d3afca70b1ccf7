"""Retries of transient failures: exponential backoff with jitter (tenacity), reconnecting first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bulksync.errors import ConnectError, ConnectionLost, TransientError

T = TypeVar("T")
log = logging.getLogger("bulksync.engine")  # a job's log shows retries; the CLI shows warnings only


def retrying(
    fn: Callable[[], T],
    *,
    retries: int,
    reconnect: Callable[[], None] | None = None,
    initial_wait: float = 0.2,
    max_wait: float = 10.0,
    landed: Callable[[], T | None] | None = None,
) -> T:
    """Call ``fn``; on a TransientError wait (backoff + jitter), reconnect if needed, try again.

    The reconnect is part of the next attempt: a server still restarting refuses it, and that
    costs one attempt (and its backoff), not the job. ``landed``, asked before each try after
    the first, returns the outcome of a try whose commit landed although its answer was lost
    (``engine/landed.py``), or None: then ``fn`` runs again.
    """
    lost = False

    def before_sleep(state: RetryCallState) -> None:
        nonlocal lost
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("retry %d of %d in %.1f s after: %s", state.attempt_number, retries, wait, exc)
        lost = isinstance(exc, ConnectionLost) and reconnect is not None

    for attempt in Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential_jitter(multiplier=initial_wait, max=max_wait),
        retry=retry_if_exception_type(TransientError),
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            if lost and reconnect is not None:
                _reconnect(reconnect)
            if landed is not None and attempt.retry_state.attempt_number > 1:
                done = landed()
                if done is not None:
                    return done
            return fn()
    raise AssertionError("unreachable: tenacity either returns or reraises")  # pragma: no cover


def _reconnect(reconnect: Callable[[], None]) -> None:
    try:
        reconnect()
    except ConnectError as exc:  # reachable a moment ago: a restart, a failover, a cut link
        raise ConnectionLost(f"reconnecting after a lost connection: {exc.message}") from exc
