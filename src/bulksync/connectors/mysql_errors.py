"""MySQL/MariaDB errors → the bulksync error tree, by server error number.

PyMySQL carries the number in ``exc.args[0]``; connectorx only in its message text
(``MySqlError { ERROR 1146 (42S02): … }``), so both are read here.
"""

from __future__ import annotations

import re

import pymysql

from bulksync.errors import (
    BadRowsError,
    ConflictError,
    ConnectError,
    ConnectionLost,
    PermanentError,
    SyncError,
    UnknownTableError,
    redact,
)

_CONFLICT = {1205, 1213, 1969, 3024, 1180, 1181}  # lock wait, deadlock, statement timeouts, commit
_LOST = {2006, 2013, 2055, 1927, 1053, 2014, 0}  # 0: PyMySQL's "the connection is closed"
# connectorx reports a server that went away as text (it connects anew for every chunk); a
# socket that closes mid-result is a ``CodecError { IO error: `bytes remaining on stream' }``
_LOST_WORDS = (
    "lost connection", "timed out waiting for connection", "connection refused", "broken pipe",
    "io error", "connection reset", "could not connect",
)  # fmt: skip
_CONNECT = {1044, 1045, 1049, 2002, 2003, 2005, 1698, 1130}
MAX_ROW_BYTES = 1 << 30  # the largest row a MariaDB client can take: its max_allowed_packet's most
_BAD_ROWS = {
    1048, 1062, 1264, 1265, 1292, 1366, 1367, 1406, 1411, 1451, 1452, 1690, 3140, 4025, 1263, 1261, 1262,
}  # fmt: skip


def classify(exc: BaseException, *, context: str, where: str) -> SyncError:
    """Retry conflicts and lost connections, isolate bad rows, name what is missing."""
    if isinstance(exc, SyncError):
        return exc
    code, text = _code_and_text(exc)
    message = f"{context}: {text}"
    if code is None and "larger than max_allowed_packet" in text:  # connectorx's driver
        return PermanentError(
            f"{context}: a row holds more than {MAX_ROW_BYTES >> 30} GiB, the most a MariaDB client "
            "can receive (max_allowed_packet); shorten the value or leave the table out (migrate --exclude)"
        )
    if code in _CONFLICT:
        return ConflictError(message)
    if code in _LOST or (code is None and any(w in text.lower() for w in _LOST_WORDS)):
        return ConnectionLost(message)
    if code in _BAD_ROWS:
        return BadRowsError(message)
    if code == 1146:
        return UnknownTableError(message)
    if code in _CONNECT:
        return ConnectError(f"{context}: cannot connect to {where}: {text}")
    return PermanentError(message)


def error_text(exc: BaseException | None) -> str:
    """The server's message on one line, without a password."""
    return _code_and_text(exc)[1] if exc is not None else ""


def _code_and_text(exc: BaseException) -> tuple[int | None, str]:
    """The server's error number (if any) and its message, on one line, without a password."""
    if isinstance(exc, pymysql.Error) and len(exc.args) >= 2 and isinstance(exc.args[0], int):
        return exc.args[0], redact(" ".join(str(exc.args[1]).split()))
    text = redact(" ".join(str(exc).split()))
    found = re.search(r"\b(?:ERROR |error )?(\d{4})\b \(?[0-9A-Z]{5}\)?|\((\d{4})\)", text)
    code = None
    if found:
        code = int(found.group(1) or found.group(2))
    text = re.sub(r"^.*?ERROR \d{4} \([0-9A-Z]{5}\): ", "", text).removesuffix(" }")
    return code, text
