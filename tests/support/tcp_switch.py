"""A TCP switch: one listening port whose new connections go to a target that can change.

It is the seam of a rolling restart, as a Kubernetes Service is: switching moves new
connections to the new target while connections already open keep going to the old one
until either side closes them. It knows nothing of HTTP.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.tcp_listener import TcpListener

__all__ = ["TcpSwitch"]

_CHUNK_BYTES = 64 * 1024


class TcpSwitch(TcpListener):
    """Forwards every accepted connection to the target current at the time it is accepted."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._open_sockets: set[socket.socket] = set()
        super().__init__("tcp-switch")

    @property
    def target(self) -> tuple[str, int]:
        """Where new connections go."""
        with self._lock:
            return self._target

    def switch_to(self, target: tuple[str, int]) -> None:
        """Send every connection accepted from now on to `target`."""
        with self._lock:
            self._target = target

    def close_connections(self) -> None:
        """Close every connection still open."""
        with self._lock:
            sockets = list(self._open_sockets)
        for open_socket in sockets:
            _shut(open_socket)

    def serve(self, client: socket.socket) -> None:
        """Connect to the current target and pump bytes both ways until both sides ended."""
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            # Nothing listens at the target: the client sees its connection closed at once.
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._open_sockets.update((client, upstream))
        finished = threading.Barrier(2, action=lambda: self._forget(client, upstream))
        for source, destination in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=_pump, args=(source, destination, finished), name="tcp-switch-pump", daemon=True
            ).start()

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open_sockets.difference_update(sockets)
        for each in sockets:
            with contextlib.suppress(OSError):
                each.close()


def _pump(source: socket.socket, destination: socket.socket, finished: threading.Barrier) -> None:
    """Copy bytes one way until end of stream, then pass the end of stream on."""
    try:
        while chunk := source.recv(_CHUNK_BYTES):
            destination.sendall(chunk)
    except OSError:
        # A failure on one side ends both: no peer may wait for bytes that never come.
        # shutdown(), unlike close(), also wakes the other pump blocked in recv().
        _shut(source)
        _shut(destination)
    else:
        with contextlib.suppress(OSError):
            destination.shutdown(socket.SHUT_WR)
    with contextlib.suppress(threading.BrokenBarrierError):
        finished.wait()


def _shut(each: socket.socket) -> None:
    with contextlib.suppress(OSError):
        each.shutdown(socket.SHUT_RDWR)
