"""The one interface every guest-visible file, directory, stream or socket implements.

A file descriptor in the guest names a `WasiFile`. System calls only ever talk to this
interface, so host files, in-memory trees, read-only wrappers and Python streams all slot in
by subclassing it. Every method defaults to the errno WASI gives for an object that cannot do
the operation, so an implementation only writes what it supports.

It is public (``pywasi.WasiFile``, with `Filestat`, `Dirent` and `Transfer`) and stable: an
embedder backs a file with anything (a database blob, an HTTP range reader, a generator) by
overriding a handful of methods and putting the object in a `MemoryDir`, or passes a directory
of its own as a preopen. Method names and signatures stay; methods added later come with
defaults. Fail with ``raise WasiErrno(Errno.X)`` (`OSError` is translated too).

Paths handed to the ``*_at`` methods are guest bytes relative to the directory, already checked
to hold no NUL; resolving them safely is the implementation's job (see `resolver`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Eventtype, Filetype, Whence


class Filestat(NamedTuple):
    dev: int
    ino: int
    filetype: Filetype
    nlink: int
    size: int
    atim: int
    mtim: int
    ctim: int


class Dirent(NamedTuple):
    """One directory entry; `next` is the cookie that resumes after it."""

    next: int
    ino: int
    name: bytes
    filetype: Filetype


class Transfer(NamedTuple):
    """fd_read's or fd_write's way into a file, made once per descriptor: `one` moves a single
    buffer (what nearly every call has), `many` a list. Both return the bytes moved."""

    one: Callable[[memoryview], int]
    many: Callable[[list[memoryview]], int]


class Readiness(NamedTuple):
    """What poll_oneoff reports for a ready file: the bytes that can be read (or written) at
    once, 0 where that is unknown, and whether the other end is gone (input at its end)."""

    nbytes: int
    hangup: bool = False


def fail(errno: Errno) -> WasiErrno:
    return WasiErrno(errno)


class WasiFile:
    """Base of all guest-visible objects: override what the object supports."""

    filetype: Filetype = Filetype.UNKNOWN
    fdflags: int = 0
    # True for an object that refuses every change (see `readonly`): descriptors naming it
    # carry no right to change anything, and it answers EROFS if asked anyway.
    read_only: bool = False

    def close(self) -> None:
        """Release host resources; called once, when the last guest fd naming it goes away."""

    def fileno(self) -> int | None:
        """A host descriptor to wait on in poll_oneoff, if there is one."""
        return None

    def readiness(self, event: Eventtype) -> Readiness:
        """poll_oneoff's answer, at once, for a file it has no host descriptor to wait on (and
        for a regular file, which is always ready): `event` is FD_READ or FD_WRITE. A file that
        can tell how much input is left, or that it has ended, says so here."""
        if event is Eventtype.FD_READ and self.filetype is Filetype.REGULAR_FILE:
            try:
                return Readiness(max(0, self.stat().size - self.tell()))
            except (WasiErrno, OSError):
                pass
        return Readiness(0)

    # -- byte streams and files -------------------------------------------------------------
    def read(self, bufs: Sequence[memoryview]) -> int:
        raise fail(Errno.BADF)

    def write(self, bufs: Sequence[memoryview]) -> int:
        raise fail(Errno.BADF)

    def reader(self) -> Transfer:
        """`read` as fd_read calls it. A file whose reads can skip a Python frame per call
        (a host descriptor, say) returns faster callables here."""
        return Transfer(lambda buf: self.read((buf,)), self.read)

    def writer(self) -> Transfer:
        """`write` as fd_write calls it; see `reader`."""
        return Transfer(lambda buf: self.write((buf,)), self.write)

    def pread(self, bufs: Sequence[memoryview], offset: int) -> int:
        raise fail(Errno.SPIPE)

    def pwrite(self, bufs: Sequence[memoryview], offset: int) -> int:
        raise fail(Errno.SPIPE)

    def seek(self, offset: int, whence: Whence) -> int:
        raise fail(Errno.SPIPE)

    def tell(self) -> int:
        return self.seek(0, Whence.CUR)

    def seekable(self) -> bool:
        """Whether `seek` and `tell` work, asked once when a descriptor is made for it."""
        return self.filetype in (Filetype.REGULAR_FILE, Filetype.BLOCK_DEVICE)

    def set_fdflags(self, flags: int) -> None:
        raise fail(Errno.NOTSUP)

    def stat(self) -> Filestat:
        return Filestat(0, 0, self.filetype, 1, 0, 0, 0, 0)

    def set_size(self, size: int) -> None:
        raise fail(Errno.INVAL)

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        """Set timestamps in ns; None leaves one as it is. `*_NOW` is resolved by the caller."""
        raise fail(Errno.INVAL)

    def advise(self, offset: int, length: int, advice: int) -> None:
        raise fail(Errno.BADF)

    def allocate(self, offset: int, length: int) -> None:
        raise fail(Errno.BADF)

    def sync(self) -> None:
        raise fail(Errno.INVAL)

    def datasync(self) -> None:
        raise fail(Errno.INVAL)

    # -- directories ------------------------------------------------------------------------
    def readdir(self, cookie: int) -> Iterable[Dirent]:
        """Entries from `cookie` on, `.` and `..` included; cookie 0 is the start, and each
        entry's `next` resumes right after it."""
        raise fail(Errno.NOTDIR)

    def open_at(self, path: bytes, follow: bool, oflags: int, fdflags: int,
                read: bool, write: bool) -> WasiFile:
        """Open `path` (`follow`: a last symbolic link is followed, else ELOOP). `oflags` and
        `fdflags` are WASI's; `read`/`write` are the access the new descriptor's rights need."""
        raise fail(Errno.NOTDIR)

    def mkdir_at(self, path: bytes) -> None:
        raise fail(Errno.NOTDIR)

    def stat_at(self, path: bytes, follow: bool) -> Filestat:
        raise fail(Errno.NOTDIR)

    def set_times_at(self, path: bytes, follow: bool, atim: int | None, mtim: int | None) -> None:
        raise fail(Errno.NOTDIR)

    def link_at(self, old_path: bytes, new_dir: WasiFile, new_path: bytes) -> None:
        """Hard-link `old_path` (a last symbolic link itself, never its target) as `new_path`
        in `new_dir` (EXDEV if that is another kind)."""
        raise fail(Errno.NOTDIR)

    def readlink_at(self, path: bytes) -> bytes:
        raise fail(Errno.NOTDIR)

    def rmdir_at(self, path: bytes) -> None:
        raise fail(Errno.NOTDIR)

    def unlink_at(self, path: bytes) -> None:
        raise fail(Errno.NOTDIR)

    def rename_at(self, old_path: bytes, new_dir: WasiFile, new_path: bytes) -> None:
        raise fail(Errno.NOTDIR)

    def symlink_at(self, target: bytes, path: bytes) -> None:
        """Create `path` holding `target`, which is only checked when a lookup follows it."""
        raise fail(Errno.NOTDIR)

    # -- sockets ----------------------------------------------------------------------------
    def sock_accept(self, fdflags: int) -> WasiFile:
        raise fail(Errno.NOTSOCK)

    def sock_recv(self, bufs: Sequence[memoryview], riflags: int) -> tuple[int, int]:
        raise fail(Errno.NOTSOCK)

    def sock_send(self, bufs: Sequence[memoryview], siflags: int) -> int:
        raise fail(Errno.NOTSOCK)

    def sock_shutdown(self, how: int) -> None:
        raise fail(Errno.NOTSOCK)
