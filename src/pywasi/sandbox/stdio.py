"""The guest's stdin, stdout and stderr: host descriptors the guest may use but never close."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from ..abi.types import Fdflags, Filetype, Rights, Whence
from .files import Filestat, WasiFile

_STREAM_RIGHTS = (
    Rights.FD_FDSTAT_SET_FLAGS | Rights.FD_FILESTAT_GET | Rights.POLL_FD_READWRITE
    | Rights.FD_SYNC | Rights.FD_DATASYNC | Rights.FD_ADVISE
)
_SEEK_RIGHTS = Rights.FD_SEEK | Rights.FD_TELL


def filetype_of_mode(mode: int) -> Filetype:
    """The WASI file type for a host `st_mode` (FIFOs have none, so they are UNKNOWN)."""
    if stat.S_ISREG(mode):
        return Filetype.REGULAR_FILE
    if stat.S_ISDIR(mode):
        return Filetype.DIRECTORY
    if stat.S_ISCHR(mode):
        return Filetype.CHARACTER_DEVICE
    if stat.S_ISBLK(mode):
        return Filetype.BLOCK_DEVICE
    if stat.S_ISLNK(mode):
        return Filetype.SYMBOLIC_LINK
    if stat.S_ISSOCK(mode):
        return Filetype.SOCKET_STREAM
    return Filetype.UNKNOWN


def filestat_of(st: os.stat_result) -> Filestat:
    return Filestat(
        dev=st.st_dev, ino=st.st_ino, filetype=filetype_of_mode(st.st_mode), nlink=st.st_nlink,
        size=st.st_size, atim=st.st_atime_ns, mtim=st.st_mtime_ns, ctim=st.st_ctime_ns,
    )


class HostStream(WasiFile):
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

    @property
    def rights(self) -> int:
        """Seek and tell only where the host can seek, so isatty() and pipes look right."""
        if self.filetype in (Filetype.REGULAR_FILE, Filetype.BLOCK_DEVICE):
            return _STREAM_RIGHTS | self.direction | _SEEK_RIGHTS
        return _STREAM_RIGHTS | self.direction

    def fileno(self) -> int | None:
        return self.host_fd

    def read(self, bufs: Sequence[memoryview]) -> int:
        return os.readv(self.host_fd, bufs)

    def write(self, bufs: Sequence[memoryview]) -> int:
        if len(bufs) == 1:  # the usual case, and os.write is cheaper than os.writev
            return os.write(self.host_fd, bufs[0])
        return os.writev(self.host_fd, bufs)

    def pread(self, bufs: Sequence[memoryview], offset: int) -> int:
        return os.preadv(self.host_fd, bufs, offset)

    def pwrite(self, bufs: Sequence[memoryview], offset: int) -> int:
        return os.pwritev(self.host_fd, bufs, offset)

    def seek(self, offset: int, whence: Whence) -> int:
        return os.lseek(self.host_fd, offset, whence)

    def set_fdflags(self, flags: int) -> None:
        # The flags are the guest's view only: the host's own stdio is left as it is.
        self.fdflags = flags & (Fdflags.APPEND | Fdflags.NONBLOCK)

    def stat(self) -> Filestat:
        return filestat_of(os.fstat(self.host_fd))

    def sync(self) -> None:
        os.fsync(self.host_fd)

    def datasync(self) -> None:
        os.fdatasync(self.host_fd)

    def advise(self, offset: int, length: int, advice: int) -> None:
        """Advice is a hint; a stream has nothing to act on."""
