"""Log lines: one JSON object per line (time, level, event, logger, the job / table context) or
console text, JSON by default off a terminal, and never a secret — a URL's password, an API
token — in the message, the context or a traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bulksync import logs

TOKEN = "tok-0123456789abcdef-secret"
DSN = "postgresql://loader:Pa55word@wh.internal/dw"


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(fmt: logs.LogFormat) -> tuple[io.StringIO, logging.Logger]:
    out = io.StringIO()  # not a terminal
    logs.configure(fmt=fmt, secrets=[TOKEN], stream=out)
    return out, logging.getLogger("bulksync.jobs")


def test_json_lines_carry_time_level_event_and_the_bound_context() -> None:
    out, log = lines("auto")  # off a terminal: JSON
    log.info("%s: t: copying", "job_1", extra=logs.context(job="job_1", table="t", phase="copying"))
    log.warning("store %s slow", "s17", extra=logs.context(job="job_2", store="s17", partition=3))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "job_1: t: copying" and first["level"] == "info"
    assert (first["job"], first["table"], first["phase"], first["logger"]) == (
        "job_1",
        "t",
        "copying",
        "bulksync.jobs",
    )
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert (second["level"], second["store"], second["partition"]) == ("warning", "s17", 3)


def test_no_secret_in_a_message_its_context_or_a_traceback() -> None:
    out, log = lines("json")
    log.error("cannot reach %s with %s", DSN, TOKEN, extra=logs.context(store=f"{DSN}?t={TOKEN}"))
    try:
        raise RuntimeError(f"connect {DSN} token={TOKEN}")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    assert "Pa55word" not in text and TOKEN not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["event"] == "cannot reach postgresql://loader:***@wh.internal/dw with ***"
    assert "RuntimeError: connect postgresql://loader:***@wh.internal/dw token=***" in records[1]["exception"]


def test_console_lines_read_as_text() -> None:
    out, log = lines("console")
    log.info("job_1: succeeded after 1.2 s", extra=logs.context(job="job_1"))
    line = out.getvalue().strip()
    assert "job_1: succeeded after 1.2 s" in line and "job=job_1" in line and "[info" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_context_key_outside_the_vocabulary_is_a_bug() -> None:
    with pytest.raises(AssertionError, match="not a log context key"):
        logs.context(job_id="job_1")
