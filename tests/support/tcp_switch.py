"""A TCP switch: one listening port whose new connections go to a target that can change.

It is the seam of a rolling restart, as a Kubernetes Service is: switching moves new
connections to the new target while connections already open keep going to the old one
until either side closes them. It knows nothing of HTTP.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

__all__ = ["TcpSwitch"]

_CHUNK_BYTES = 64 * 1024


class TcpSwitch:
    """Forwards every accepted connection to the target current at the time it is accepted."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        # close() from another thread does not wake accept(): the acceptor polls for it.
        self._listener.settimeout(0.2)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._open_sockets: set[socket.socket] = set()
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_forever, name="tcp-switch", daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        """The switch's address as an HTTP base URL."""
        return f"http://{self.address[0]}:{self.address[1]}"

    @property
    def target(self) -> tuple[str, int]:
        """Where new connections go."""
        with self._lock:
            return self._target

    def switch_to(self, target: tuple[str, int]) -> None:
        """Send every connection accepted from now on to `target`."""
        with self._lock:
            self._target = target

    def close(self) -> None:
        """Stop listening and close every connection still open."""
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._open_sockets)
        for open_socket in sockets:
            _shut(open_socket)
        self._acceptor.join(timeout=5)

    def __enter__(self) -> TcpSwitch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _accept_forever(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
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
