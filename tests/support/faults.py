"""A fault-injecting TCP proxy: a dependency that answers, stalls or refuses on demand.

Point a component at `proxy.address` instead of its dependency (PostgreSQL, S3, a peer)
and switch the proxy between three modes while the component runs:

- ``pass``: every connection is forwarded to the target, both ways;
- ``stall``: connections are accepted and read from, and never answered, as a frozen
  server or a black-holed network does; connections already open go silent too;
- ``refuse``: new connections are closed at once, and open ones are closed, as a
  stopped server does.

Bytes read while stalled are dropped, so a connection that stalled is closed when the
mode changes again: it could never resume where its protocol stopped.

Usage::

    with FaultProxy(("127.0.0.1", 5432)) as proxy:
        url = f"postgresql://user@{proxy.host}:{proxy.port}/db"
        proxy.stall()
        ...
        proxy.pass_through()

It knows nothing of the protocols it carries.
"""

from __future__ import annotations

import contextlib
import enum
import selectors
import socket
import threading

from tests.support.tcp_listener import TcpListener

__all__ = ["FaultMode", "FaultProxy"]

_CHUNK_BYTES = 64 * 1024
# How often a connection's loop looks at the mode: the delay of a switch taking effect.
_POLL_SECONDS = 0.05


class FaultMode(enum.Enum):
    """What the proxy does with connections."""

    PASS = "pass"
    STALL = "stall"
    REFUSE = "refuse"


class _Connection:
    """One accepted client connection, and its upstream one while it forwards."""

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.stalled = upstream is None
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()


class FaultProxy(TcpListener):
    """Listens on a free local port and forwards to `target`, or stalls, or refuses."""

    def __init__(self, target: tuple[str, int], *, connect_timeout_seconds: float = 5.0) -> None:
        self.target = target
        self._connect_timeout = connect_timeout_seconds
        self._mode = FaultMode.PASS
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        super().__init__("fault-proxy")

    @property
    def mode(self) -> FaultMode:
        """The current mode."""
        return self._mode

    def pass_through(self) -> None:
        """Forward new connections; stalled ones are closed."""
        self._switch(FaultMode.PASS)

    def stall(self) -> None:
        """Accept and read, never answer; open connections go silent."""
        self._switch(FaultMode.STALL)

    def refuse(self) -> None:
        """Close new connections at once, and every open one."""
        self._switch(FaultMode.REFUSE)

    def close_connections(self) -> None:
        """Close every connection."""
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            connection.close()

    def _switch(self, mode: FaultMode) -> None:
        with self._lock:
            self._mode = mode
            connections = list(self._connections)
        for connection in connections:
            if mode is FaultMode.STALL:
                connection.stalled = True
            elif mode is FaultMode.REFUSE or connection.stalled:
                connection.close()

    def serve(self, client: socket.socket) -> None:
        """Forward, stall or refuse the connection, as the mode says."""
        mode = self._mode
        if mode is FaultMode.REFUSE:
            with contextlib.suppress(OSError):
                client.close()
            return
        upstream = None
        if mode is FaultMode.PASS:
            try:
                upstream = socket.create_connection(self.target, timeout=self._connect_timeout)
            except OSError:
                with contextlib.suppress(OSError):
                    client.close()
                return
        connection = _Connection(client, upstream)
        with self._lock:
            self._connections.add(connection)
        try:
            self._pump(connection)
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def _pump(self, connection: _Connection) -> None:
        peers = {connection.client: connection.upstream}
        if connection.upstream is not None:
            peers[connection.upstream] = connection.client
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(True)
                selector.register(sock, selectors.EVENT_READ)
            while not connection.closed.is_set():
                try:
                    ready = selector.select(timeout=_POLL_SECONDS)
                except (OSError, ValueError):
                    return
                for key, _ in ready:
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(_CHUNK_BYTES)
                    except OSError:
                        return
                    if not data:
                        return
                    if connection.stalled:
                        continue  # read, never answered, never passed on
                    destination = peers[source]
                    if destination is None:
                        continue
                    try:
                        destination.sendall(data)
                    except OSError:
                        return
