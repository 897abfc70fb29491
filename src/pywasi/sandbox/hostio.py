"""Byte I/O and metadata on a host descriptor: what the guest's stdio and opened files share."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from ..abi.types import Filetype, Whence
from .files import Filestat, WasiFile


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


class HostIO(WasiFile):
    """A `WasiFile` backed by host descriptor `host_fd`; subclasses decide who closes it."""

    host_fd: int

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

    def stat(self) -> Filestat:
        return filestat_of(os.fstat(self.host_fd))

    def sync(self) -> None:
        os.fsync(self.host_fd)

    def datasync(self) -> None:
        os.fdatasync(self.host_fd)
