"""A small TCP fault proxy (toxiproxy's toxics we need, which cannot be installed here).

It sits between bulksync and a database and, switched at any moment from the test:

- ``latency``: holds every chunk it forwards for that many seconds, both ways;
- ``cut()``: resets every open connection (SO_LINGER 0, so the peers see a RST), new ones pass;
- ``blackhole``: stops forwarding without closing anything: open and new connections are
  accepted and then hear nothing, as behind a dead router or a frozen server;
- ``lose_answer(marker, after_sent=b"")``: the next answer from the server holding ``marker``
  (on a connection whose client has sent ``after_sent``) is dropped and the connection reset.
  For PostgreSQL's ``COMMIT`` tag that is the one failure a client cannot tell apart: the
  server committed, the client heard of no commit.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

from faultservers import free_port


class FaultProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream``; faults switched by attributes."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.latency = 0.0
        self.blackhole = False
        self.connections = 0
        self.cuts = 0
        self.answers_lost = 0
        self._marker: bytes | None = None
        self._after_sent = b""
        self._generation = 0
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Reset every connection open now (the peers get a RST mid-stream)."""
        self._generation += 1
        self.cuts += 1

    def lose_answer(self, marker: bytes, *, after_sent: bytes = b"") -> None:
        self._marker, self._after_sent = marker, after_sent

    def heal(self) -> None:
        self.latency = 0.0
        self.blackhole = False

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        generation = self._generation
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        except OSError:
            _reset(client)
            return
        peers = {client: server, server: client}
        sent = False  # the client sent ``after_sent`` on this connection
        try:
            while generation == self._generation and not self._closed.is_set():
                if self.blackhole:
                    time.sleep(0.05)  # read nothing, send nothing, close nothing
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in readable:
                    data = sock.recv(1 << 16)
                    if not data:
                        return
                    if self.latency:
                        time.sleep(self.latency)
                    if generation != self._generation:
                        return
                    sent = sent or (sock is client and self._after_sent in data)
                    if sock is server and self._marker is not None and self._marker in data and sent:
                        self._marker = None
                        self.answers_lost += 1
                        return  # the answer is dropped and both sides reset
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            _reset(client)
            _reset(server)


def _reset(sock: socket.socket) -> None:
    """Close with a RST instead of a FIN: the way a crashed peer or a firewall drops it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
