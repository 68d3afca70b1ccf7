"""Log lines a person or a machine can read, through structlog, for every logger of the process.

``BULKSYNC_LOG_FORMAT=json`` writes one JSON object per line: ``timestamp`` (ISO 8601 UTC),
``level``, ``event`` (the message), ``logger``, and the context a caller attached
(``job``, ``table``, ``partition``, ``store``, ``phase``, ``attempt``), e.g.

    {"event": "job_3f…: t: copying 5,000/20,000 rows …", "job": "job_3f…", "table": "t", …}

``console`` writes the same as aligned text for a terminal; ``auto`` (the default) is JSON when
stderr is not a terminal. Every line passes ``redact`` (no password of a URL) and masks the
configured API tokens, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

import structlog

from bulksync.errors import redact

if TYPE_CHECKING:
    from bulksync.settings import Settings

LogFormat = Literal["auto", "json", "console"]
CONTEXT = ("job", "table", "partition", "store", "phase", "attempt")
MASK = "***"


class Redactor:
    """A structlog processor: passwords in URLs and the given secrets become ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return redact(text)

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = self.clean(value)
            elif not isinstance(value, int | float | bool | type(None)):
                event[key] = self.clean(str(value))
        return event


def _json(value: Any, **kwargs: Any) -> str:
    return json.dumps(value, ensure_ascii=False, **kwargs)  # "→" stays "→", greppable


def configure(
    *,
    level: str | int = "INFO",
    fmt: LogFormat = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send every log record of the process to ``stream`` (stderr) in ``fmt``; call once at start."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    before: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(allow=CONTEXT),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=before,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)


def configure_for(settings: Settings, *, level: str | int = "INFO") -> None:
    """``configure`` with the settings' format, masking every configured API token."""
    tokens = [t.token.get_secret_value() for t in settings.api_tokens.values()]
    configure(level=level, fmt=settings.log_format, secrets=tokens)


def context(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the job, table, partition or store a line is about."""
    unknown = set(values) - set(CONTEXT)
    assert not unknown, f"not a log context key: {sorted(unknown)}"
    return {k: v for k, v in values.items() if v is not None}
