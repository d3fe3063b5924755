"""A local TCP port that hands each connection it accepts to a thread of its own.

The base of the test doubles that stand between a component and what it connects to
(`tests.support.faults.FaultProxy`, `tests.support.tcp_switch.TcpSwitch`): they differ
only in what they do with a connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

__all__ = ["TcpListener"]


class TcpListener:
    """Listens on a free local port; `serve` each accepted connection, on a thread, until closed.

    A subclass sets up what `serve` uses before calling `__init__`: the first connection
    may arrive as soon as it returns.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.host, self.port = self._listener.getsockname()[:2]
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_forever, name=name, daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect: (host, port)."""
        return (self.host, self.port)

    @property
    def url(self) -> str:
        """The address as an HTTP base URL."""
        return f"http://{self.host}:{self.port}"

    def serve(self, client: socket.socket) -> None:
        """Handle one accepted connection; it runs on a thread of its own."""
        raise NotImplementedError

    def close_connections(self) -> None:
        """Close every connection still open; called once the port stopped listening."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            # close() alone does not wake the acceptor blocked in accept(); shutdown() does.
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self.close_connections()
        self._acceptor.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _accept_forever(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self.serve, args=(client,), name=f"{self._name}-conn", daemon=True
            ).start()
