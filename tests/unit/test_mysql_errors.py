"""MariaDB errors → the error tree: a server that went away mid-read or mid-write is retried."""

from __future__ import annotations

import pymysql
import pytest

from bulksync.connectors.mysql_errors import classify
from bulksync.errors import ConnectionLost, PermanentError


@pytest.mark.parametrize(
    "exc",
    [
        # connectorx (Rust) when the server is restarted or the session KILLed mid-result
        RuntimeError("CodecError { IO error: `bytes remaining on stream' }"),
        RuntimeError("CodecError { IO error: `Connection reset by peer (os error 104)' }"),
        RuntimeError("DriverError { Could not connect to address `127.0.0.1:3306': Connection refused }"),
        # PyMySQL: lost mid-query, and a statement on the connection it then closed
        pymysql.OperationalError(2013, "Lost connection to MySQL server during query"),
        pymysql.InterfaceError(0, ""),
    ],
)
def test_a_lost_server_is_retried(exc: BaseException) -> None:
    assert isinstance(classify(exc, context="read", where="mysql://h/db"), ConnectionLost)


def test_a_syntax_error_is_not() -> None:
    exc = pymysql.ProgrammingError(1064, "You have an error in your SQL syntax")
    assert type(classify(exc, context="read", where="mysql://h/db")) is PermanentError


def test_a_row_too_large_for_the_client_is_one_line_naming_the_table() -> None:
    exc = RuntimeError("CodecError { Packet is larger than max_allowed_packet }")
    said = classify(exc, context="read 'big' after key 41", where="mysql://h/db").message
    assert said.startswith("read 'big' after key 41: a row holds more than 1 GiB")
    assert "max_allowed_packet" in said and "CodecError" not in said and "\n" not in said
