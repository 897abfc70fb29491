"""The guest's stdin, stdout and stderr: objects the guest may use but never close.

`HostStream` lends the guest a host descriptor; `pystreams` has the ones backed by the
embedder's Python objects. Both are `Stdio`: rights by direction, flags that are the guest's view.

The embedder shares a lent descriptor, so the guest's NONBLOCK flag is never set on it: a
non-blocking guest read or write first asks poll(2), with no wait, whether the host is ready,
and is EAGAIN when it is not.
"""

from __future__ import annotations

import os
import select
from collections.abc import Sequence
from typing import Final

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Fdflags, Filetype, Rights
from .files import Filestat, Transfer, WasiFile
from .hostio import HostIO, filetype_of_mode
from .rights import SEEK
from .stop import StopSignal

STREAM_RIGHTS = (
    Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE
    | Rights.FD_SYNC | Rights.FD_DATASYNC | Rights.FD_ADVISE
)
# What poll(2) promises after POLLOUT on a pipe: this much is written without waiting.
_PIPE_BUF: Final = select.PIPE_BUF
_ALWAYS_READY: Final = (Filetype.REGULAR_FILE, Filetype.BLOCK_DEVICE)
_SETTABLE_FDFLAGS: Final = Fdflags.APPEND | Fdflags.NONBLOCK


class Stdio(WasiFile):
    """One of the guest's standard streams; `close` leaves what backs it to its owner."""

    direction: int  # FD_READ for stdin, FD_WRITE for stdout and stderr

    @property
    def rights(self) -> int:
        """Seek and tell only where the host can seek, so isatty() and pipes look right."""
        return STREAM_RIGHTS | self.direction | (SEEK if self.seekable() else 0)

    def set_fdflags(self, flags: int) -> None:
        """What backs the stream is never changed: APPEND is only recorded, NONBLOCK honoured
        by the stream, and a sync mode, which would need the host's flags, is ENOTSUP (as for
        files, where it cannot change after open)."""
        if flags & ~_SETTABLE_FDFLAGS:
            raise WasiErrno(Errno.NOTSUP)
        self.fdflags = flags

    def advise(self, offset: int, length: int, advice: int) -> None:
        """Advice is a hint; a stream has nothing to act on."""


class ClosedStdio(Stdio):
    """A standard stream whose host descriptor was closed when the guest was set up (a parent
    ran it with ``<&-``, say): the guest's reads and writes on it are EBADF, as under wasmtime
    and Node, and nothing crashes. The host number itself is never used, so a file the host
    opens there later is not the guest's."""

    def __init__(self, direction: int) -> None:
        self.direction = direction
        self.fdflags = 0

    def stat(self) -> Filestat:
        raise WasiErrno(Errno.BADF)

    def sync(self) -> None:
        raise WasiErrno(Errno.BADF)

    def datasync(self) -> None:
        raise WasiErrno(Errno.BADF)


class Closed:
    """The type of `CLOSED`."""

    def __repr__(self) -> str:
        return "pywasi.sandbox.stdio.CLOSED"


CLOSED: Final = Closed()
"""As `WASI(stdin=...)` (or stdout, stderr): the guest's stream answers EBADF (`ClosedStdio`),
as when the host's own descriptor is closed. `pywasi run` passes it for a closed 0, 1 or 2."""
STANDARD_FDS: Final = (0, 1, 2)


class HostStream(Stdio, HostIO):
    """A host descriptor lent to the guest; `close` only forgets it, the host keeps it open."""

    def __init__(self, host_fd: int, direction: int) -> None:
        """`direction` is FD_READ for stdin, FD_WRITE for stdout and stderr."""
        self.host_fd = host_fd
        self.direction = direction
        try:
            self.filetype = filetype_of_mode(os.fstat(host_fd).st_mode)
        except OSError:  # a closed host descriptor: calls on it report EBADF
            self.filetype = Filetype.UNKNOWN
        self.fdflags = 0
        # Set by `WASI`: a blocking read then waits for it too, so that the host can end it.
        self.stop: StopSignal | None = None

    def _nonblocking(self) -> bool:
        """NONBLOCK on a stream that can block: a read or write asks the host first (EAGAIN)."""
        return bool(self.fdflags & Fdflags.NONBLOCK) and self.filetype not in _ALWAYS_READY

    def _watched(self) -> bool:
        """A blocking read that waits for the stop signal too, so that the host can end it."""
        return self.stop is not None and self.filetype not in _ALWAYS_READY

    def _ready(self, event: int) -> None:
        """EAGAIN unless the host descriptor is ready for `event` right now."""
        poller = select.poll()
        poller.register(self.host_fd, event)
        if not poller.poll(0):
            raise WasiErrno(Errno.AGAIN)

    def reader(self) -> Transfer:
        # Through `read`, which asks first, when it must; else straight to the host.
        if self._nonblocking() or self._watched():
            return WasiFile.reader(self)
        return super().reader()

    def writer(self) -> Transfer:
        return WasiFile.writer(self) if self._nonblocking() else super().writer()

    def read(self, bufs: Sequence[memoryview]) -> int:
        if self._nonblocking():
            self._ready(select.POLLIN)
        elif self._watched():
            assert self.stop is not None
            self.stop.wait_for(self.host_fd, select.POLLIN)
        return super().read(bufs)

    def write(self, bufs: Sequence[memoryview]) -> int:
        """A non-blocking write moves at most PIPE_BUF bytes, what a ready pipe takes at once
        (a short write, as non-blocking writes may be)."""
        if not self._nonblocking():
            return super().write(bufs)
        self._ready(select.POLLOUT)
        room, chunks = _PIPE_BUF, []
        for buf in bufs:
            chunks.append(buf[:room])
            room -= len(chunks[-1])
        return super().write(chunks)
