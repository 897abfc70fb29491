"""Read-only views of any directory: ``preopens={"/ro": ReadOnly("/host/dir")}``.

`ReadOnly` wraps a host path, a `MemoryDir` or a directory `WasiFile`; the guest gets a
`ReadOnlyDir` over it, and everything opened beneath is wrapped again, so no descriptor the
guest can ever obtain there reaches the writable object. Two walls stand in the way of a write:

* rights: a read-only object's descriptors carry none of the rights that change anything
  (`rights.maximum`), so fdstat shows it and the system call layer refuses first (EROFS,
  `rights.lacking`, as POSIX programs expect of a read-only tree);
* the wrappers themselves: every changing call answers EROFS whatever the rights say, and
  opening for writing, creating or truncating (CVE-2026-47261's O_TRUNC without write) is
  EROFS before the wrapped directory is asked. A link or rename between a read-only and a
  writable directory is refused by both sides (EROFS here, EXDEV from a writable directory,
  which only moves entries between directories of its own kind).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Sequence
from typing import NoReturn, Union

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Filetype, Oflags, Whence
from .files import Dirent, Filestat, Transfer, WasiFile
from .memfs import MemoryDir

Source = Union[str, bytes, "os.PathLike[str]", MemoryDir, WasiFile, "Preopen"]


class Preopen:
    """A preopen's source with wasmtime-py's vocabulary: ``Preopen(path, fs_mutable=False)``
    is what ``WasiConfig.preopen_dir(path, guest, fs_mutable=False)`` asks for (`ReadOnly`).
    The source is a host path, a `MemoryDir`, a directory `WasiFile` or another `Preopen`
    (which stays read-only if it was)."""

    __slots__ = ("fs_mutable", "source")

    def __init__(self, source: Source, *, fs_mutable: bool = True) -> None:
        self.source = source
        self.fs_mutable = fs_mutable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, fs_mutable={self.fs_mutable})"


class ReadOnly(Preopen):
    """A preopen the guest may read but never change: ``preopens={"/ro": ReadOnly(src)}``.
    On the command line, ``pywasi run --dir-ro HOST[::GUEST]``."""

    __slots__ = ()

    def __init__(self, source: Source) -> None:
        super().__init__(source, fs_mutable=False)


def _refuse(*_: object, **__: object) -> NoReturn:
    raise WasiErrno(Errno.ROFS)


class _ReadOnlyView(WasiFile):
    """What both kinds share: reads go through, changes are EROFS."""

    read_only = True

    def __init__(self, inner: WasiFile) -> None:
        self.inner = inner
        self.filetype = inner.filetype
        self.fdflags = inner.fdflags

    def close(self) -> None:
        self.inner.close()

    def fileno(self) -> int | None:
        return self.inner.fileno()

    def stat(self) -> Filestat:
        return self.inner.stat()

    def set_fdflags(self, flags: int) -> None:
        """Flags change no data (APPEND on a descriptor that cannot write appends nothing)."""
        self.inner.set_fdflags(flags)
        self.fdflags = self.inner.fdflags

    def sync(self) -> None:
        self.inner.sync()

    def datasync(self) -> None:
        self.inner.datasync()

    def advise(self, offset: int, length: int, advice: int) -> None:
        self.inner.advise(offset, length, advice)

    write = pwrite = set_size = set_times = allocate = _refuse
    mkdir_at = set_times_at = link_at = rmdir_at = unlink_at = rename_at = symlink_at = _refuse


class ReadOnlyFile(_ReadOnlyView):
    """A file opened beneath a read-only directory."""

    def read(self, bufs: Sequence[memoryview]) -> int:
        return self.inner.read(bufs)

    def reader(self) -> Transfer:
        return self.inner.reader()

    def pread(self, bufs: Sequence[memoryview], offset: int) -> int:
        return self.inner.pread(bufs, offset)

    def seek(self, offset: int, whence: Whence) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()


class ReadOnlyDir(_ReadOnlyView):
    """A directory whose tree the guest may look at but not change."""

    def readdir(self, cookie: int) -> Iterable[Dirent]:
        return self.inner.readdir(cookie)

    def stat_at(self, path: bytes, follow: bool) -> Filestat:
        return self.inner.stat_at(path, follow)

    def readlink_at(self, path: bytes) -> bytes:
        return self.inner.readlink_at(path)

    def open_at(self, path: bytes, follow: bool, oflags: int, fdflags: int,
                read: bool, write: bool) -> WasiFile:
        if write or oflags & (Oflags.CREAT | Oflags.TRUNC):
            raise WasiErrno(Errno.ROFS)
        return read_only(self.inner.open_at(path, follow, oflags, fdflags, read, False))


# The view of each object that has one, by id (the view holds the object, so the id stays
# its own): a file the guest opens twice (a `WasiFile` in a memory tree is one object for
# every open) gets one view, so the fd table counts its descriptors and closes it once.
_VIEWS: weakref.WeakValueDictionary[int, _ReadOnlyView] = weakref.WeakValueDictionary()


def read_only(file: WasiFile) -> WasiFile:
    """`file` behind the read-only wall fitting its kind."""
    if file.read_only:
        return file
    view = _VIEWS.get(id(file))
    if view is None:
        view = ReadOnlyDir(file) if file.filetype == Filetype.DIRECTORY else ReadOnlyFile(file)
        _VIEWS[id(file)] = view
    return view
