"""Byte I/O and metadata on a host descriptor: what the guest's stdio and opened files share."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from functools import partial
from typing import Final

from ..abi.types import Filetype, Whence
from .files import Filestat, Transfer, WasiFile

_FILETYPES: Final = {
    stat.S_IFREG: Filetype.REGULAR_FILE,
    stat.S_IFDIR: Filetype.DIRECTORY,
    stat.S_IFCHR: Filetype.CHARACTER_DEVICE,
    stat.S_IFBLK: Filetype.BLOCK_DEVICE,
    stat.S_IFLNK: Filetype.SYMBOLIC_LINK,
    stat.S_IFSOCK: Filetype.SOCKET_STREAM,
}


_S_IFMT: Final = 0o170000  # stat.S_IFMT(mode) is mode & this, without a call


def filetype_of_mode(mode: int) -> Filetype:
    """The WASI file type for a host `st_mode` (FIFOs have none, so they are UNKNOWN)."""
    return _FILETYPES.get(mode & _S_IFMT, Filetype.UNKNOWN)


def filestat_of(st: os.stat_result) -> Filestat:
    # Positional, in Filestat's order: half the cost of keywords, on every stat call.
    return Filestat(st.st_dev, st.st_ino, filetype_of_mode(st.st_mode), st.st_nlink, st.st_size,
                    st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)


class HostIO(WasiFile):
    """A `WasiFile` backed by host descriptor `host_fd`; subclasses decide who closes it."""

    host_fd: int

    def fileno(self) -> int | None:
        return self.host_fd

    def read(self, bufs: Sequence[memoryview]) -> int:
        return os.readv(self.host_fd, bufs)

    def write(self, bufs: Sequence[memoryview]) -> int:
        return os.writev(self.host_fd, bufs)

    def reader(self) -> Transfer:
        # Python has no readinto for a raw descriptor (3.14 adds os.readinto): readv it is.
        host_fd = self.host_fd
        return Transfer(lambda buf: os.readv(host_fd, (buf,)), partial(os.readv, host_fd))

    def writer(self) -> Transfer:
        # Straight into os.write, with no Python frame between: os.write costs less than
        # os.writev of one buffer, and this is the hottest call there is.
        return Transfer(partial(os.write, self.host_fd), partial(os.writev, self.host_fd))

    def pread(self, bufs: Sequence[memoryview], offset: int) -> int:
        return os.preadv(self.host_fd, bufs, offset)

    def pwrite(self, bufs: Sequence[memoryview], offset: int) -> int:
        return os.pwritev(self.host_fd, bufs, offset)

    def seek(self, offset: int, whence: Whence) -> int:
        return os.lseek(self.host_fd, offset, whence)

    def seekable(self) -> bool:
        """What the host says: lseek works on files and some devices, never on pipes,
        terminals or sockets (ESPIPE)."""
        try:
            os.lseek(self.host_fd, 0, os.SEEK_CUR)
        except OSError:
            return False
        return True

    def stat(self) -> Filestat:
        return filestat_of(os.fstat(self.host_fd))

    def sync(self) -> None:
        os.fsync(self.host_fd)

    def datasync(self) -> None:
        os.fdatasync(self.host_fd)
