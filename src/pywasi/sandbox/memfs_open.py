"""The guest's descriptors on a memory tree (`memfs`): directories and files as `WasiFile`s.

Every path goes through `resolver.walk` over `MEMORY`, exactly as host paths go through it over
host descriptors; what is done with the resulting (directory, name) pair answers the errno
Linux gives for the same call on a host directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Fdflags, Filetype, Oflags, Whence
from ..limits import MEMORY_TREE_BYTES_DEFAULT
from .files import Dirent, Filestat, Transfer, WasiFile, fail
from .memfs import (
    DIRECTORY_COST,
    ENTRY_COST,
    MEMORY,
    OFFSET_LIMIT,
    CustomFile,
    MemoryDir,
    MemoryFile,
    MemoryNode,
    MemorySymlink,
    TreeQuota,
)
from .resolver import Act, Resolved, walk

_CHANGEABLE_FDFLAGS: Final = Fdflags.APPEND | Fdflags.NONBLOCK  # as on Linux (F_SETFL)

def _existing(where: Resolved[MemoryDir]) -> MemoryNode:
    node = where.dir.entry(where.name)
    if node is None:
        raise fail(Errno.NOENT)
    return node


def _new_entry(where: Resolved[MemoryDir]) -> None:
    """A name about to be made must be free, and a trailing slash may only name a directory
    (so never a new link): ENOENT, as on Linux."""
    if where.dir.entry(where.name) is not None:
        raise fail(Errno.EXIST)
    if where.must_be_dir:
        raise fail(Errno.NOENT)


def _cost(name: bytes, node: MemoryNode) -> int:
    """What entry `name` for `node` is charged: a link's target is its contents, and a
    directory's entry tables cost more than a file's node."""
    if isinstance(node, MemorySymlink):
        return ENTRY_COST + len(name) + len(node.target)
    return ENTRY_COST + len(name) + (DIRECTORY_COST if isinstance(node, MemoryDir) else 0)


def _add(where: Resolved[MemoryDir], node: MemoryNode, quota: TreeQuota) -> None:
    """Make the new entry `where` name `node`, charged to `quota` (ENOSPC if out of room)."""
    quota.charge(_cost(where.name, node))
    where.dir.attach(where.name, node)


def _remove(directory: MemoryDir, name: bytes, quota: TreeQuota) -> MemoryNode:
    """Remove entry `name` of `directory`, giving its cost back."""
    node = directory.detach(name)
    quota.credit(_cost(name, node))
    return node


def _check_fdflags_change(old: int, new: int) -> None:
    if (old ^ new) & ~_CHANGEABLE_FDFLAGS:
        raise fail(Errno.NOTSUP)


class OpenMemoryDir(WasiFile):
    """A guest descriptor on a `MemoryDir`. What the guest stores through it (and every
    descriptor opened beneath) is charged to `quota`: its `WASI` instance's, or one of the
    default size (`Limits.max_memory_tree_bytes`) of its own."""

    filetype = Filetype.DIRECTORY

    def __init__(self, node: MemoryDir, fdflags: int = 0, quota: TreeQuota | None = None) -> None:
        self.node = node
        self.fdflags = fdflags
        self.quota = quota if quota is not None else TreeQuota(MEMORY_TREE_BYTES_DEFAULT)

    def stat(self) -> Filestat:
        return self.node.filestat()

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        self.node.set_times(atim, mtim)

    def set_fdflags(self, flags: int) -> None:
        _check_fdflags_change(self.fdflags, flags)
        self.fdflags = flags

    def sync(self) -> None:
        """Memory is as durable as it gets."""

    def datasync(self) -> None:
        """See `sync`."""

    def readdir(self, cookie: int) -> Iterable[Dirent]:
        return self.node.listing(cookie)

    def open_at(self, path: bytes, follow: bool, oflags: int, fdflags: int,
                read: bool, write: bool) -> WasiFile:
        exclusive = oflags & Oflags.CREAT and oflags & Oflags.EXCL
        # O_CREAT | O_EXCL never follows a last symbolic link.
        act = Act.CREATE if oflags & Oflags.CREAT else Act.LOOKUP
        with walk(MEMORY, self.node, path, follow=follow and not exclusive, act=act) as where:
            if where.must_be_dir and oflags & Oflags.CREAT:
                raise fail(Errno.ISDIR)
            node = where.dir.entry(where.name)
            if node is None:
                if not oflags & Oflags.CREAT:
                    raise fail(Errno.NOENT)
                node = MemoryFile()
                _add(where, node, self.quota)
            elif exclusive:
                raise fail(Errno.EXIST)
        if isinstance(node, MemorySymlink):
            raise fail(Errno.LOOP)
        if isinstance(node, MemoryDir):
            if write or oflags & (Oflags.CREAT | Oflags.TRUNC):
                raise fail(Errno.ISDIR)
            return OpenMemoryDir(node, fdflags, self.quota)
        if oflags & Oflags.DIRECTORY:
            raise fail(Errno.NOTDIR)
        if isinstance(node, CustomFile):
            if write and node.file.read_only:
                raise fail(Errno.ROFS)
            if oflags & Oflags.TRUNC:
                node.file.set_size(0)
            return node.file
        assert isinstance(node, MemoryFile)
        if oflags & Oflags.TRUNC and node.size:
            node.resize(0, self.quota)
            node.touch()
        return OpenMemoryFile(node, fdflags, readable=read or not write, writable=write,
                              quota=self.quota)

    def mkdir_at(self, path: bytes) -> None:
        with walk(MEMORY, self.node, path, follow=False, act=Act.CREATE) as where:
            if where.dir.entry(where.name) is not None:
                raise fail(Errno.EXIST)
            _add(where, MemoryDir(), self.quota)

    def stat_at(self, path: bytes, follow: bool) -> Filestat:
        with walk(MEMORY, self.node, path, follow=follow) as where:
            return _existing(where).filestat()

    def set_times_at(self, path: bytes, follow: bool, atim: int | None, mtim: int | None) -> None:
        with walk(MEMORY, self.node, path, follow=follow) as where:
            _existing(where).set_times(atim, mtim)

    def link_at(self, old_path: bytes, new_dir: WasiFile, new_path: bytes) -> None:
        target_dir = _same_kind(new_dir)
        with walk(MEMORY, self.node, old_path, follow=False) as source, \
                walk(MEMORY, target_dir.node, new_path, follow=False, act=Act.CHANGE) as target:
            node = _existing(source)
            _new_entry(target)
            if isinstance(node, MemoryDir):
                raise fail(Errno.PERM)  # no hard links to directories
            _add(target, node, self.quota)

    def readlink_at(self, path: bytes) -> bytes:
        with walk(MEMORY, self.node, path, follow=False) as where:
            node = _existing(where)
        if not isinstance(node, MemorySymlink):
            raise fail(Errno.INVAL)
        return node.target

    def rmdir_at(self, path: bytes) -> None:
        with walk(MEMORY, self.node, path, follow=False, act=Act.CHANGE) as where:
            if where.name == b".":
                raise fail(Errno.INVAL)
            node = _existing(where)
            if not isinstance(node, MemoryDir):
                raise fail(Errno.NOTDIR)
            if len(node):
                raise fail(Errno.NOTEMPTY)
            _remove(where.dir, where.name, self.quota)

    def unlink_at(self, path: bytes) -> None:
        with walk(MEMORY, self.node, path, follow=False, act=Act.CHANGE) as where:
            if isinstance(_existing(where), MemoryDir):
                raise fail(Errno.ISDIR)
            _remove(where.dir, where.name, self.quota)

    def rename_at(self, old_path: bytes, new_dir: WasiFile, new_path: bytes) -> None:
        """As rename(2): a directory replaces only an empty directory, never moves beneath
        itself; anything else replaces anything but a directory."""
        target_dir = _same_kind(new_dir)
        with walk(MEMORY, self.node, old_path, follow=False, act=Act.CHANGE) as source, \
                walk(MEMORY, target_dir.node, new_path, follow=False, act=Act.CHANGE) as target:
            if b"." in (source.name, target.name):
                raise fail(Errno.BUSY)
            node = _existing(source)
            replaced = target.dir.entry(target.name)
            if isinstance(node, MemoryDir):
                if target.dir.contains(node):
                    raise fail(Errno.INVAL)
                if replaced is not None and not isinstance(replaced, MemoryDir):
                    raise fail(Errno.NOTDIR)
                if isinstance(replaced, MemoryDir) and len(replaced):
                    raise fail(Errno.NOTEMPTY)
            else:
                if target.must_be_dir:
                    raise fail(Errno.NOTDIR)
                if isinstance(replaced, MemoryDir):
                    raise fail(Errno.ISDIR)
            if replaced is node:
                return
            if replaced is not None:
                _remove(target.dir, target.name, self.quota)
            source.dir.detach(source.name)
            target.dir.attach(target.name, node)

    def symlink_at(self, target: bytes, path: bytes) -> None:
        """As `HostDir.symlink_at`: an absolute target could never be followed (EPERM)."""
        if target.startswith(b"/"):
            raise fail(Errno.PERM)
        with walk(MEMORY, self.node, path, follow=False, act=Act.CHANGE) as where:
            _new_entry(where)
            _add(where, MemorySymlink(target), self.quota)


def _same_kind(new_dir: WasiFile) -> OpenMemoryDir:
    """The other directory of a link or rename; one of another kind is EXDEV."""
    if type(new_dir) is not OpenMemoryDir:
        raise fail(Errno.XDEV)
    return new_dir


class OpenMemoryFile(WasiFile):
    """A guest descriptor on a `MemoryFile`: its own position, flags and access mode."""

    filetype = Filetype.REGULAR_FILE

    def __init__(self, node: MemoryFile, fdflags: int, *, readable: bool,
                 writable: bool, quota: TreeQuota | None = None) -> None:
        self.node = node
        self.quota = quota if quota is not None else TreeQuota(MEMORY_TREE_BYTES_DEFAULT)
        self.fdflags = fdflags
        self.position = 0
        self.readable = readable
        self.writable = writable

    def _read_at(self, bufs: Sequence[memoryview], offset: int) -> int:
        if not self.readable:
            raise fail(Errno.BADF)
        total = 0
        for buf in bufs:
            count = self.node.read_into(buf, offset + total)
            total += count
            if count < len(buf):
                break
        return total

    def _write_one(self, buf: memoryview) -> int:
        """fd_write's usual single buffer, without a loop: the path bench/memfs_write.py
        measures."""
        if not self.writable:
            raise fail(Errno.BADF)
        node = self.node
        if self.fdflags & Fdflags.APPEND:
            self.position = node.size
        count = node.write_from(buf, self.position, self.quota)
        self.position += count
        node.touch()
        return count

    def read(self, bufs: Sequence[memoryview]) -> int:
        count = self._read_at(bufs, self.position)
        self.position += count
        return count

    def write(self, bufs: Sequence[memoryview]) -> int:
        total = 0
        for buf in bufs:
            try:
                count = self._write_one(buf)
            except WasiErrno:
                if not total:
                    raise
                break  # out of room after some bytes: a short write, as POSIX has it
            total += count
            if count < len(buf):
                break
        return total

    def writer(self) -> Transfer:
        return Transfer(self._write_one, self.write)

    def pread(self, bufs: Sequence[memoryview], offset: int) -> int:
        if offset >= OFFSET_LIMIT:
            raise fail(Errno.INVAL)
        return self._read_at(bufs, offset)

    def pwrite(self, bufs: Sequence[memoryview], offset: int) -> int:
        if offset >= OFFSET_LIMIT:
            raise fail(Errno.INVAL)
        if not self.writable:
            raise fail(Errno.BADF)
        total = 0
        for buf in bufs:
            try:
                count = self.node.write_from(buf, offset + total, self.quota)
            except WasiErrno:
                if not total:
                    raise
                break
            total += count
            if count < len(buf):
                break
        self.node.touch()
        return total

    def seek(self, offset: int, whence: Whence) -> int:
        origin = {Whence.SET: 0, Whence.CUR: self.position, Whence.END: self.node.size}[whence]
        position = origin + offset
        if not 0 <= position < OFFSET_LIMIT:
            raise fail(Errno.INVAL)
        self.position = position
        return position

    def tell(self) -> int:
        return self.position

    def set_fdflags(self, flags: int) -> None:
        _check_fdflags_change(self.fdflags, flags)
        self.fdflags = flags

    def stat(self) -> Filestat:
        return self.node.filestat()

    def set_size(self, size: int) -> None:
        if not self.writable:
            raise fail(Errno.INVAL)  # ftruncate on a descriptor not open for writing
        self.node.resize(size, self.quota)
        self.node.touch()

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        self.node.set_times(atim, mtim)

    def advise(self, offset: int, length: int, advice: int) -> None:
        """Advice is only advice."""

    def allocate(self, offset: int, length: int) -> None:
        if not self.writable:
            raise fail(Errno.BADF)
        if length == 0 or offset + length >= OFFSET_LIMIT:
            raise fail(Errno.INVAL)
        if offset + length > self.node.size:
            self.node.resize(offset + length)
            self.node.touch()

    def sync(self) -> None:
        """Memory is as durable as it gets."""

    def datasync(self) -> None:
        """See `sync`."""
