"""PostgreSQL → PostgreSQL between two databases: binary COPY relayed without decoding it.

``relay`` moves one chunk's COPY TO stream into the destination's COPY FROM until its trailer.

``CopyStream`` keeps one ``COPY (SELECT key, … ORDER BY key) TO STDOUT`` open for a partition's
whole key range and cuts it into chunks at row boundaries: PostgreSQL sends every row as its
own CopyData message (the first one also carries the file header, the trailer comes alone), so
a chunk is the next ``limit`` messages, relayed unchanged into ``COPY … FROM STDIN`` in the
destination's open transaction. The chunk's last key, its checkpoint, is read from its last
row: the key is the row's first field, a big-endian integer. The source is asked once per
partition instead of twice per chunk (its bounds, then its rows), as a ``psql | psql`` pipe does.
"""

from __future__ import annotations

import select
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.pq.abc import PGconn

from bulksync.connectors.pg_session import deadline_of

RELAY_BYTES = 1 << 20
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
TRAILER = b"\xff\xff"
_HEADER_FIXED = len(SIGNATURE) + 8  # signature, int32 flags, int32 length of the extension


def _next_message(pgconn: PGconn, deadline_s: float | None) -> Any:
    """The next CopyData message's bytes, or None when the COPY ended (an error follows).

    Silence longer than ``deadline_s`` (the source's read deadline) is a dead source.
    """
    while True:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes > 0:
            return data
        if nbytes < 0:
            return None
        # wait for the socket without holding the GIL
        if not select.select([pgconn.socket], [], [], deadline_s)[0]:
            pgconn.finish()  # midway through the COPY: this connection is done
            raise psycopg.OperationalError(
                f"no data from the source within {deadline_s:.0f} s (read deadline): connection dropped"
            )
        pgconn.consume_input()


def relay(pgconn: PGconn, into: psycopg.Copy) -> None:
    """Move one binary ``COPY TO`` stream into ``into`` until its trailer, in 1 MB writes.

    psycopg's ``Copy.read`` costs several µs of Python per message; polling libpq directly is
    ~0.7 µs. The trailer (int16 -1, its own message) is forwarded and the loop stops there, so
    psycopg still reads the end of the COPY and its result, and the connection stays its own.
    """
    buf = bytearray()
    deadline_s = deadline_of(into.connection)
    while (data := _next_message(pgconn, deadline_s)) is not None:
        buf += data
        if len(data) == 2 and data == TRAILER:
            into.write(buf)
            return
        if len(buf) >= RELAY_BYTES:
            into.write(buf)
            buf = bytearray()
    raise psycopg.OperationalError("the source ended its COPY without the binary trailer")


@dataclass
class CopyStream:
    """One open ``COPY … TO STDOUT`` on the source, positioned after ``position``."""

    what: tuple[Any, ...]  # what it reads (table, upper bound, filters): a chunk must match
    position: int | None  # the key of the last row relayed (None: from the range's start)
    _conn: psycopg.Connection[Any]
    _context: AbstractContextManager[psycopg.Copy]
    _copy: psycopg.Copy
    _header: bytes
    _pending: Any = None  # the first row, which came in the header's message
    ended: bool = False

    @classmethod
    def open(
        cls,
        conn: psycopg.Connection[Any],
        sql: str,
        params: list[Any],
        what: tuple[Any, ...],
        after: int | None,
    ) -> CopyStream:
        context = conn.cursor().copy(sql, params)
        copy = context.__enter__()
        first = _next_message(conn.pgconn, deadline_of(conn))
        if first is None or bytes(first[: len(SIGNATURE)]) != SIGNATURE:
            raise psycopg.OperationalError("the source's COPY did not start with the binary header")
        size = _HEADER_FIXED + int.from_bytes(first[_HEADER_FIXED - 4 : _HEADER_FIXED], "big")
        stream = cls(what, after, conn, context, copy, bytes(first[:size]))
        rest = first[size:]
        if len(rest) == 2 and rest == TRAILER:
            stream.ended = True
        elif len(rest):
            stream._pending = rest
        return stream

    def relay_chunk(self, into: psycopg.Copy, limit: int) -> int:
        """Relay up to ``limit`` rows into ``into`` (a whole COPY: header to trailer); their count.

        ``position`` moves to the last relayed row's key; ``ended`` tells the range is done.
        """
        pgconn = self._conn.pgconn
        buf = bytearray(self._header)
        rows, last = 0, None
        if self._pending is not None:
            buf += self._pending
            rows, last, self._pending = 1, self._pending, None
        get_copy_data, deadline_s = pgconn.get_copy_data, deadline_of(self._conn)
        while rows < limit and not self.ended:
            nbytes, data = get_copy_data(1)  # the common case inline: a row libpq holds already
            if nbytes <= 0:
                waited = _next_message(pgconn, deadline_s) if nbytes == 0 else None
                if waited is None:
                    raise psycopg.OperationalError("the source ended its COPY without the binary trailer")
                data = waited
            if len(data) == 2 and data == TRAILER:
                self.ended = True
                break
            buf += data
            rows, last = rows + 1, data
            if len(buf) >= RELAY_BYTES:
                into.write(buf)
                buf = bytearray()
        buf += TRAILER
        into.write(buf)
        if last is not None:
            self.position = first_int_field(last)
        return rows

    def finish(self) -> None:
        """After the trailer: let psycopg read the end of the COPY and its result."""
        while self._copy.read():
            pass
        self._context.__exit__(None, None, None)


def first_int_field(row: Any) -> int:
    """The first field of a binary COPY row (int16 field count, int32 length, value) as an int."""
    size = int.from_bytes(row[2:6], "big", signed=True)
    if size not in (2, 4, 8):
        raise psycopg.DataError(f"the stream's key field has {size} bytes, not an integer's")
    return int.from_bytes(row[6 : 6 + size], "big", signed=True)
