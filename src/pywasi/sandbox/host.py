"""Host directories and files as `WasiFile`s, each owning one host descriptor.

Every path operation goes through `resolver.resolve`, and then acts on the (directory
descriptor, last name) pair it returns without following a last symbolic link, so that no
path, and no race with other processes on the host, can reach outside the directory. Each
operation also asks `guard` whether the entry it touches is one no guest may use. Opening a
file, and reading its metadata, first try the kernel's lookup of the whole path
(`resolver.open_beneath`), which keeps the same rules.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Final

from ..abi.errno import WasiErrno
from ..abi.types import Advice, Errno, Fdflags, Filetype, Oflags
from . import guard
from .files import Dirent, Filestat, WasiFile
from .hostio import HostIO, filestat_of, filetype_of_mode
from .resolver import Act, Resolved, open_beneath, read_link, resolve

_FADVICE: Final = {
    Advice.NORMAL: os.POSIX_FADV_NORMAL,
    Advice.SEQUENTIAL: os.POSIX_FADV_SEQUENTIAL,
    Advice.RANDOM: os.POSIX_FADV_RANDOM,
    Advice.WILLNEED: os.POSIX_FADV_WILLNEED,
    Advice.DONTNEED: os.POSIX_FADV_DONTNEED,
    Advice.NOREUSE: os.POSIX_FADV_NOREUSE,
}

_OPEN_FLAGS: Final[dict[int, int]] = {
    Oflags.CREAT: os.O_CREAT,
    Oflags.DIRECTORY: os.O_DIRECTORY,
    Oflags.EXCL: os.O_EXCL,
    Oflags.TRUNC: os.O_TRUNC,
}

_STATUS_FLAGS: Final[dict[int, int]] = {
    Fdflags.APPEND: os.O_APPEND,
    Fdflags.DSYNC: os.O_DSYNC,
    Fdflags.NONBLOCK: os.O_NONBLOCK,
    Fdflags.RSYNC: os.O_RSYNC,
    Fdflags.SYNC: os.O_SYNC,
}

# The flags Linux lets fcntl(F_SETFL) change; the sync modes are fixed at open.
_CHANGEABLE_FDFLAGS: Final = Fdflags.APPEND | Fdflags.NONBLOCK

# What path_filestat_get opens a file with, for its metadata alone: no access to it needed,
# and no O_NOFOLLOW, so that a last symbolic link is left to the walk, to follow or not.
_METADATA_FLAGS: Final = getattr(os, "O_PATH", 0) | os.O_CLOEXEC


def _host_flags(table: dict[int, int], flags: int) -> int:
    host = 0
    for bit, host_bit in table.items():
        if flags & bit:
            host |= host_bit
    return host


# The host flags of every valid Oflags and Fdflags value, by value: one subscript per open.
_OPEN_BY_OFLAGS: Final = tuple(_host_flags(_OPEN_FLAGS, bits) for bits in range(Oflags.ALL + 1))
_OPEN_BY_FDFLAGS: Final = tuple(_host_flags(_STATUS_FLAGS, bits)
                                for bits in range(Fdflags.ALL + 1))


def _complete_times(atim: int | None, mtim: int | None,
                    current: Callable[[], os.stat_result]) -> tuple[int, int]:
    """Both timestamps in ns; one left as None keeps its current value (os.utime has no
    UTIME_OMIT). Integers all the way, so nanoseconds survive."""
    if atim is None or mtim is None:
        now = current()
        atim = now.st_atime_ns if atim is None else atim
        mtim = now.st_mtime_ns if mtim is None else mtim
    return atim, mtim


def _exists(where: Resolved[int]) -> bool:
    try:
        os.stat(where.name, dir_fd=where.dir, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _refuse_new_entry_with_slash(where: Resolved[int]) -> None:
    """A hard or symbolic link is never a directory, so "new/" cannot name one (ENOENT, or
    EEXIST from the host call when the directory is already there), as on Linux."""
    if where.must_be_dir and not _exists(where):
        raise WasiErrno(Errno.NOENT)


class HostFd(HostIO):
    """A host descriptor the guest owns: closed with it; times and flags settable."""

    def __init__(self, host_fd: int, filetype: Filetype, fdflags: int) -> None:
        self.host_fd = host_fd
        self.filetype = filetype
        self.fdflags = fdflags

    def close(self) -> None:
        os.close(self.host_fd)

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        os.utime(self.host_fd, ns=_complete_times(atim, mtim, lambda: os.fstat(self.host_fd)))

    def set_fdflags(self, flags: int) -> None:
        """APPEND and NONBLOCK can change after open; asking to change a sync mode is ENOTSUP."""
        if (flags ^ self.fdflags) & ~_CHANGEABLE_FDFLAGS:
            raise WasiErrno(Errno.NOTSUP)
        mask = _host_flags(_STATUS_FLAGS, _CHANGEABLE_FDFLAGS)
        current = fcntl.fcntl(self.host_fd, fcntl.F_GETFL)
        fcntl.fcntl(self.host_fd, fcntl.F_SETFL,
                    current & ~mask | _host_flags(_STATUS_FLAGS, flags) & mask)
        self.fdflags = flags



class HostFile(HostFd):
    """A non-directory opened by path_open: a regular file, FIFO, device..."""

    def set_size(self, size: int) -> None:
        os.ftruncate(self.host_fd, size)

    def advise(self, offset: int, length: int, advice: int) -> None:
        os.posix_fadvise(self.host_fd, offset, length, _FADVICE[Advice(advice)])

    def allocate(self, offset: int, length: int) -> None:
        os.posix_fallocate(self.host_fd, offset, length)


class HostDir(HostFd):
    """A host directory, held open by descriptor so renames on the host cannot redirect it.

    `readdir` lists from a snapshot taken when reading starts at cookie 0, so a cookie (an
    index into it) resumes exactly where the previous call stopped.
    """

    def __init__(self, dir_fd: int, fdflags: int = 0) -> None:
        super().__init__(dir_fd, Filetype.DIRECTORY, fdflags)
        self._listing: list[Dirent] = []
        self._identity: guard.Identity | None = None

    @property
    def dir_fd(self) -> int:
        return self.host_fd

    @property
    def identity(self) -> guard.Identity:
        """The directory's (st_dev, st_ino): fixed while it is open, so kept, as the kernel's
        lookups beneath it ask `guard` about it every time."""
        if self._identity is None:
            self._identity = guard.identity_of(self.dir_fd)
        return self._identity

    def _resolve(self, path: bytes, follow: bool,
                 act: Act = Act.LOOKUP) -> AbstractContextManager[Resolved[int]]:
        return resolve(self.dir_fd, path, follow=follow, act=act, identity=self.identity)

    @classmethod
    def open(cls, host_path: str) -> HostDir:
        return cls(os.open(host_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))

    def readdir(self, cookie: int) -> Iterable[Dirent]:
        if cookie == 0 or not self._listing:
            self._listing = self._snapshot()
        return self._listing[cookie:]

    def _snapshot(self) -> list[Dirent]:
        names = [
            (b".", os.fstat(self.dir_fd).st_ino, Filetype.DIRECTORY),
            (b"..", os.stat("..", dir_fd=self.dir_fd).st_ino, Filetype.DIRECTORY),
        ]
        with os.scandir(self.dir_fd) as entries:
            names.extend((os.fsencode(entry.name), entry.inode(), _entry_type(entry))
                         for entry in entries)
        return [Dirent(index + 1, ino, name, filetype)
                for index, (name, ino, filetype) in enumerate(names)]

    def open_at(self, path: bytes, follow: bool, oflags: int, fdflags: int,
                read: bool, write: bool) -> WasiFile:
        """By the kernel in one call where it can (`open_beneath`), else resolved."""
        access = os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY
        flags = (access | _OPEN_BY_OFLAGS[oflags] | _OPEN_BY_FDFLAGS[fdflags]
                 | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY)
        fd = open_beneath(self.dir_fd, path, flags, 0o666, identity=self.identity)
        # Opened after a walk, it may have been reached across a mount point: the guard
        # must see it then.
        walked = fd < 0
        if walked:
            fd = self._open_resolved(path, follow, oflags, flags)
        try:
            st = os.fstat(fd)
            if walked:
                guard.refuse_directory(fd, st)
        except (OSError, WasiErrno):
            os.close(fd)
            raise
        filetype = filetype_of_mode(st.st_mode)
        if filetype == Filetype.DIRECTORY:
            return HostDir(fd, fdflags)
        return HostFile(fd, filetype, fdflags)

    def _open_resolved(self, path: bytes, follow: bool, oflags: int, flags: int) -> int:
        """`open_at` where the kernel cannot open the path whole: the guard sees the entry."""
        act = Act.CREATE if oflags & Oflags.CREAT else Act.LOOKUP
        with self._resolve(path, follow, act) as where:
            if where.must_be_dir:
                if oflags & Oflags.CREAT:
                    raise WasiErrno(Errno.ISDIR)
                flags |= os.O_DIRECTORY
            guard.refuse_entry(where.dir, where.name, changing=bool(oflags & Oflags.CREAT))
            try:
                fd = os.open(where.name, flags, 0o666, dir_fd=where.dir)
            except NotADirectoryError:
                # O_DIRECTORY | O_NOFOLLOW on a symbolic link: report the link, as without.
                if read_link(where.dir, where.name) is not None:
                    raise WasiErrno(Errno.LOOP) from None
                raise
        return fd

    def mkdir_at(self, path: bytes) -> None:
        with self._resolve(path, False, Act.CREATE) as where:
            guard.refuse_entry(where.dir, where.name, changing=True)
            os.mkdir(where.name, 0o777, dir_fd=where.dir)

    def stat_at(self, path: bytes, follow: bool) -> Filestat:
        """From a descriptor the kernel opened where it can (`open_beneath`), else resolved."""
        fd = open_beneath(self.dir_fd, path, _METADATA_FLAGS, identity=self.identity)
        if fd >= 0:
            try:
                return filestat_of(os.fstat(fd))
            finally:
                os.close(fd)
        with self._resolve(path, follow) as where:
            return filestat_of(os.stat(where.name, dir_fd=where.dir, follow_symlinks=False))

    def set_times_at(self, path: bytes, follow: bool, atim: int | None, mtim: int | None) -> None:
        with self._resolve(path, follow) as where:
            def current() -> os.stat_result:
                return os.stat(where.name, dir_fd=where.dir, follow_symlinks=False)

            os.utime(where.name, ns=_complete_times(atim, mtim, current),
                     dir_fd=where.dir, follow_symlinks=False)

    def link_at(self, old_path: bytes, new_dir: WasiFile, new_path: bytes) -> None:
        target_dir = _same_kind(new_dir)
        with self._resolve(old_path, False) as source, \
                target_dir._resolve(new_path, False, Act.CHANGE) as target:
            _refuse_new_entry_with_slash(target)
            guard.refuse_entry(target.dir, target.name, changing=True)
            os.link(source.name, target.name, src_dir_fd=source.dir,
                    dst_dir_fd=target.dir, follow_symlinks=False)

    def readlink_at(self, path: bytes) -> bytes:
        with self._resolve(path, False) as where:
            return os.readlink(where.name, dir_fd=where.dir)

    def rmdir_at(self, path: bytes) -> None:
        with self._resolve(path, False, Act.CHANGE) as where:
            guard.refuse_entry(where.dir, where.name, changing=True)
            os.rmdir(where.name, dir_fd=where.dir)

    def unlink_at(self, path: bytes) -> None:
        with self._resolve(path, False, Act.CHANGE) as where:
            guard.refuse_entry(where.dir, where.name, changing=True)
            os.unlink(where.name, dir_fd=where.dir)

    def rename_at(self, old_path: bytes, new_dir: WasiFile, new_path: bytes) -> None:
        target_dir = _same_kind(new_dir)
        with self._resolve(old_path, False, Act.CHANGE) as source, \
                target_dir._resolve(new_path, False, Act.CHANGE) as target:
            if b"." in (source.name, target.name):  # a directory itself, not an entry
                raise WasiErrno(Errno.BUSY)
            guard.refuse_entry(source.dir, source.name, changing=True)
            guard.refuse_entry(target.dir, target.name, changing=True)
            if target.must_be_dir and not source.must_be_dir:
                mode = os.stat(source.name, dir_fd=source.dir, follow_symlinks=False).st_mode
                if not stat.S_ISDIR(mode):
                    raise WasiErrno(Errno.NOTDIR)
            os.rename(source.name, target.name, src_dir_fd=source.dir,
                      dst_dir_fd=target.dir)

    def symlink_at(self, target: bytes, path: bytes) -> None:
        """Any relative target may be stored: it is checked whenever a lookup follows it. An
        absolute one could never be followed, and is refused (EPERM, "not permitted")."""
        if target.startswith(b"/"):
            raise WasiErrno(Errno.PERM)
        with self._resolve(path, False, Act.CHANGE) as where:
            _refuse_new_entry_with_slash(where)
            guard.refuse_entry(where.dir, where.name, changing=True)
            os.symlink(target, where.name, dir_fd=where.dir)


def _same_kind(new_dir: WasiFile) -> HostDir:
    """The other directory of a link or rename; one on another kind of tree is EXDEV."""
    if not isinstance(new_dir, HostDir):
        raise WasiErrno(Errno.XDEV)
    return new_dir


def _entry_type(entry: os.DirEntry[str]) -> Filetype:
    """From the type readdir reported when it did, else from lstat; UNKNOWN if it vanished."""
    try:
        if entry.is_symlink():
            return Filetype.SYMBOLIC_LINK
        if entry.is_dir(follow_symlinks=False):
            return Filetype.DIRECTORY
        if entry.is_file(follow_symlinks=False):
            return Filetype.REGULAR_FILE
        return filetype_of_mode(entry.stat(follow_symlinks=False).st_mode)
    except OSError:
        return Filetype.UNKNOWN
