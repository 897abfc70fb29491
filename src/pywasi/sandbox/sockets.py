"""Host sockets as `WasiFile`s: listeners the guest accepts on, connections it talks over.

The guest's non-blocking flag is kept here, never set on the host descriptor: a socket the
embedder passed in shares its blocking mode with the embedder's own copy (see `WASI`'s
``sockets``). A non-blocking guest call uses ``MSG_DONTWAIT`` (or polls before accepting);
a blocking guest call on a host descriptor that happens to be non-blocking waits in poll(2)
and tries again.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Fdflags, Filetype, Riflags, Roflags, Sdflags
from .files import Filestat, WasiFile
from .hostio import filestat_of
from .stop import StopSignal

_T = TypeVar("_T")

_RECV_FLAGS: Final = {Riflags.RECV_PEEK: socket.MSG_PEEK, Riflags.RECV_WAITALL: socket.MSG_WAITALL}
_SHUTDOWN_HOW: Final = {
    Sdflags.RD: socket.SHUT_RD,
    Sdflags.WR: socket.SHUT_WR,
    Sdflags.RD | Sdflags.WR: socket.SHUT_RDWR,
}
# A write to a peer that has gone must fail with EPIPE, not kill the host with SIGPIPE.
_SEND_FLAGS: Final = getattr(socket, "MSG_NOSIGNAL", 0)


class HostSocket(WasiFile):
    """A host socket the guest owns: closing the guest's last fd closes it."""

    def __init__(self, sock: socket.socket, fdflags: int = 0,
                 stop: StopSignal | None = None) -> None:
        self.sock = sock
        # Set by `WASI`: a blocking call then waits for it too, so that the host can end it.
        self.stop = stop
        self.filetype = (Filetype.SOCKET_DGRAM if sock.type == socket.SOCK_DGRAM
                         else Filetype.SOCKET_STREAM)
        self.fdflags = fdflags & Fdflags.NONBLOCK

    @property
    def _nonblocking(self) -> bool:
        return bool(self.fdflags & Fdflags.NONBLOCK)

    def _dontwait(self) -> int:
        return socket.MSG_DONTWAIT if self._nonblocking else 0

    def _ready(self, events: int, timeout_ms: int | None) -> bool:
        """Wait up to `timeout_ms` (None: for ever) for the host socket to be ready."""
        poller = select.poll()
        poller.register(self.sock, events)
        return bool(poller.poll(timeout_ms))

    def _retry(self, attempt: Callable[[], _T], events: int) -> _T:
        """Run `attempt`. A blocking guest call first waits for the host socket to be ready
        (and for the stop signal, if there is one, which ends the wait), and runs it again if
        the host would block all the same."""
        while True:
            if not self._nonblocking:
                if self.stop is not None:
                    self.stop.wait_for(self.sock.fileno(), events)
                else:
                    self._ready(events, None)
            try:
                return attempt()
            except BlockingIOError:
                if self._nonblocking:
                    raise

    def fileno(self) -> int | None:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def stat(self) -> Filestat:
        return filestat_of(os.fstat(self.sock.fileno()))._replace(
                                   filetype=self.filetype)

    def set_fdflags(self, flags: int) -> None:
        if flags & ~Fdflags.NONBLOCK:
            raise WasiErrno(Errno.INVAL)
        self.fdflags = flags

    def read(self, bufs: Sequence[memoryview]) -> int:
        return self.sock_recv(bufs, 0)[0]

    def write(self, bufs: Sequence[memoryview]) -> int:
        return self.sock_send(bufs, 0)

    def sock_accept(self, fdflags: int) -> HostSocket:
        def accept() -> socket.socket:
            if self._nonblocking and not self._ready(select.POLLIN, 0):
                raise WasiErrno(Errno.AGAIN)
            return self.sock.accept()[0]

        connection = self._retry(accept, select.POLLIN)
        connection.setblocking(True)  # blocking is the guest's choice, made per call (see above)
        return HostSocket(connection, fdflags, self.stop)

    def sock_recv(self, bufs: Sequence[memoryview], riflags: int) -> tuple[int, int]:
        flags = self._dontwait()
        for riflag, host_flag in _RECV_FLAGS.items():
            if riflags & riflag:
                flags |= host_flag
        nbytes, _, msg_flags, _ = self._retry(
            lambda: self.sock.recvmsg_into(bufs, 0, flags), select.POLLIN)
        return nbytes, Roflags.RECV_DATA_TRUNCATED if msg_flags & socket.MSG_TRUNC else 0

    def sock_send(self, bufs: Sequence[memoryview], siflags: int) -> int:
        flags = self._dontwait() | _SEND_FLAGS
        return self._retry(lambda: self.sock.sendmsg(bufs, (), flags), select.POLLOUT)

    def sock_shutdown(self, how: int) -> None:
        self.sock.shutdown(_SHUTDOWN_HOW[how])
