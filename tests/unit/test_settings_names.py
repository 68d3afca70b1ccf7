"""One name per meaning: ``bulksync serve``'s threads are BULKSYNC_SERVE_THREADS; the old shared
BULKSYNC_WORKER_THREADS (``bulksync worker``'s) still sets them, with a deprecation note."""

from __future__ import annotations

import pytest

from bulksync.settings import Settings


@pytest.mark.parametrize(
    ("env", "threads", "note"),
    [
        ({}, 2, None),
        ({"BULKSYNC_SERVE_THREADS": "0"}, 0, None),
        ({"BULKSYNC_WORKER_THREADS": "3"}, 3, "BULKSYNC_WORKER_THREADS for bulksync serve is deprecated"),
        ({"BULKSYNC_WORKER_THREADS": "3", "BULKSYNC_SERVE_THREADS": "1"}, 1, None),
    ],
)
def test_serve_threads_have_their_own_name(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], threads: int, note: str | None
) -> None:
    for name in ("BULKSYNC_SERVE_THREADS", "BULKSYNC_WORKER_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found, said = Settings().embedded_threads()
    assert found == threads
    assert (note in said) if note and said else said is note
