"""The guest's stdin, stdout and stderr: objects the guest may use but never close.

`HostStream` lends the guest a host descriptor; `pystreams` has the ones backed by the
embedder's Python objects. Both are `Stdio`: rights by direction, flags that are the guest's view.
"""

from __future__ import annotations

import os

from ..abi.types import Fdflags, Filetype, Rights
from .files import WasiFile
from .hostio import HostIO, filetype_of_mode

STREAM_RIGHTS = (
    Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE
    | Rights.FD_SYNC | Rights.FD_DATASYNC | Rights.FD_ADVISE
)
_SEEK_RIGHTS = Rights.FD_SEEK | Rights.FD_TELL


class Stdio(WasiFile):
    """One of the guest's standard streams; `close` leaves what backs it to its owner."""

    direction: int  # FD_READ for stdin, FD_WRITE for stdout and stderr

    @property
    def rights(self) -> int:
        """Seek and tell only where the host can seek, so isatty() and pipes look right."""
        if self.filetype in (Filetype.REGULAR_FILE, Filetype.BLOCK_DEVICE):
            return STREAM_RIGHTS | self.direction | _SEEK_RIGHTS
        return STREAM_RIGHTS | self.direction

    def set_fdflags(self, flags: int) -> None:
        # The flags are the guest's view only: the host's own stdio is left as it is.
        self.fdflags = flags & (Fdflags.APPEND | Fdflags.NONBLOCK)

    def advise(self, offset: int, length: int, advice: int) -> None:
        """Advice is a hint; a stream has nothing to act on."""


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
