"""A directory tree that lives in Python memory, usable as a preopen beside host directories.

The embedder builds it from a dict (``MemoryDir({"a.txt": b"...", "sub": {"b.txt": "text"}})``),
a real directory (`MemoryDir.from_path`) or a zip/tar archive (`MemoryDir.from_archive`), hands
it to ``WASI(preopens={"/data": tree})``, and reads it back after the run
(``tree["out/result.json"].read_bytes()``, `MemoryDir.to_dict`, `save`, `to_archive`).

The guest's descriptors on a tree are in `memfs_open`. Guest paths are resolved by the same
`resolver.walk` as host directories (`MEMORY` is the `Tree`), so ``..``, symbolic links,
loops and escapes behave exactly alike; every other answer is the errno Linux gives for the
same call on a host directory (the C conformance guests run against both). Nodes are shared,
never copied: a hard link is one `MemoryFile` in two directories, and the guest's changes are
the embedder's tree.

File contents are a `bytearray` that grows geometrically, so appending is amortised O(1); a
file's size may run ahead of its bytes (after `fd_filestat_set_size` or `fd_allocate`), the
rest reading as zeros until written, so a large truncate costs no memory. No file grows past
`FILE_SIZE_MAX` (EFBIG), and a write the host has no memory for is ENOSPC; the tree as a whole
has no quota, as a host directory has no more than its disk.
"""

from __future__ import annotations

import itertools
import os
import stat
import time
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import IO, ClassVar, Final, Union

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Filetype
from .files import Dirent, Filestat, WasiFile, fail
from .resolver import walk

FILE_SIZE_MAX: Final = 1 << 32
"""The largest a memory file may grow (4 GiB): more is EFBIG, so a guest cannot make the host
allocate without bound through one file."""

MEMORY_DEV: Final = 0x6D656D  # the device number every memory node reports ("mem")
OFFSET_LIMIT: Final = 1 << 63  # offsets and sizes are off_t: at or past this, EINVAL
_INODES = itertools.count(1)

Content = Union[bytes, bytearray, memoryview, str, Mapping[str, "Content"], "MemoryNode", WasiFile]
"""What a tree entry may be built from: bytes or text (a file), a mapping (a directory), a
node, or a `WasiFile` of your own (the guest opens that very object)."""


class MemoryNode:
    """What every entry of a memory tree has: an inode number, a link count, times in ns."""

    __slots__ = ("atime_ns", "ctime_ns", "ino", "mtime_ns", "nlink")
    filetype: ClassVar[Filetype] = Filetype.UNKNOWN

    def __init__(self) -> None:
        self.ino = next(_INODES)
        self.nlink = 0  # how many directory entries name it
        self.atime_ns = self.mtime_ns = self.ctime_ns = time.time_ns()

    @property
    def size(self) -> int:
        return 0

    def filestat(self) -> Filestat:
        return Filestat(MEMORY_DEV, self.ino, self.filetype, self.nlink, self.size,
                        self.atime_ns, self.mtime_ns, self.ctime_ns)

    def touch(self) -> None:
        """Record a change of contents (mtime) and so of the inode (ctime)."""
        self.mtime_ns = self.ctime_ns = time.time_ns()

    def set_times(self, atim: int | None, mtim: int | None) -> None:
        if atim is not None:
            self.atime_ns = atim
        if mtim is not None:
            self.mtime_ns = mtim
        self.ctime_ns = time.time_ns()


class MemoryFile(MemoryNode):
    """A regular file's contents: ``read_bytes()``/``write_bytes()`` from Python."""

    __slots__ = ("_data", "_size")
    filetype = Filetype.REGULAR_FILE

    def __init__(self, data: bytes | bytearray | memoryview | str = b"") -> None:
        super().__init__()
        self._data = bytearray(data.encode() if isinstance(data, str) else data)
        self._size = len(self._data)  # may exceed len(_data): the rest reads as zeros

    @property
    def size(self) -> int:
        return self._size

    def read_bytes(self) -> bytes:
        return bytes(self._data) + bytes(self._size - len(self._data))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        self._data = bytearray(data)
        self._size = len(self._data)
        self.touch()

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def read_into(self, buf: memoryview, offset: int) -> int:
        """Copy from `offset` into `buf`; the count copied (0 at or past the end)."""
        count = min(len(buf), self._size - offset)
        if count <= 0:
            return 0
        stored = max(0, min(count, len(self._data) - offset))
        if stored:
            with memoryview(self._data) as data:
                buf[:stored] = data[offset : offset + stored]
        if stored < count:
            buf[stored:count] = bytes(count - stored)
        return count

    def write_from(self, buf: memoryview, offset: int) -> int:
        end = offset + len(buf)
        if end > FILE_SIZE_MAX:
            raise fail(Errno.FBIG)
        data = self._data
        try:
            if offset > len(data):
                data.extend(bytes(offset - len(data)))  # the hole before it becomes zeros
            data[offset:end] = buf
        except MemoryError:
            raise fail(Errno.NOSPC) from None  # the host is out of memory, not the guest
        if end > self._size:
            self._size = end
        return len(buf)

    def resize(self, size: int) -> None:
        """Make the file `size` bytes long: cut, or grow with zeros that take no memory."""
        if size >= OFFSET_LIMIT:
            raise fail(Errno.INVAL)
        if size > FILE_SIZE_MAX:
            raise fail(Errno.FBIG)
        if size < len(self._data):
            del self._data[size:]
        self._size = size


class MemorySymlink(MemoryNode):
    """A symbolic link; `target` is only interpreted when a lookup follows it."""

    __slots__ = ("target",)
    filetype = Filetype.SYMBOLIC_LINK

    def __init__(self, target: str | bytes) -> None:
        super().__init__()
        self.target = os.fsencode(target)

    @property
    def size(self) -> int:
        return len(self.target)


class CustomFile(MemoryNode):
    """A tree entry that is a `WasiFile` the embedder wrote: the guest opens that object."""

    __slots__ = ("file",)

    def __init__(self, file: WasiFile) -> None:
        super().__init__()
        self.file = file

    def filestat(self) -> Filestat:
        return self.file.stat()._replace(dev=MEMORY_DEV, ino=self.ino,
                                   nlink=self.nlink)


def _name(name: str | bytes) -> bytes:
    """One entry name from Python: not empty, no "/" or NUL, not "." or ".."."""
    encoded = os.fsencode(name)
    if encoded in (b"", b".", b"..") or b"/" in encoded or b"\0" in encoded:
        raise ValueError(f"{name!r} is not a file name (no '/', NUL, '.' or '..')")
    return encoded


def _node_of(value: Content) -> MemoryNode:
    if isinstance(value, MemoryNode):
        return value
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        return MemoryFile(value)
    if isinstance(value, Mapping):
        return MemoryDir(value)
    if isinstance(value, WasiFile):
        return CustomFile(value)
    raise TypeError(
        f"a memory tree entry must be bytes, str, a mapping, a MemoryNode or a WasiFile, "
        f"not {type(value).__name__}"
    )


class MemoryDir(MemoryNode, MutableMapping[str, MemoryNode]):
    """A directory: a mapping from names to nodes, where a key with "/" reaches into
    subdirectories (``tree["out/result.json"]``) and assigning bytes, text or a dict makes a
    file or directory. Entries keep the order they were added in, which is also the order
    the guest lists them in, each with a cookie that stays valid while the directory changes.
    """

    __slots__ = ("_cookies", "_entries", "_next_cookie", "parent")
    filetype = Filetype.DIRECTORY

    def __init__(self, entries: Mapping[str, Content] | None = None) -> None:
        super().__init__()
        self._entries: dict[bytes, MemoryNode] = {}
        self._cookies: dict[bytes, int] = {}  # the readdir cookie that resumes after each
        self._next_cookie = 3  # 1 and 2 resume after "." and ".."
        self.parent: MemoryDir | None = None
        for name, value in (entries or {}).items():
            self.attach(_name(name), _node_of(value))

    # -- the embedder's view --------------------------------------------------------------
    def _locate(self, path: str) -> tuple[MemoryDir, bytes]:
        try:
            with walk(MEMORY, self, os.fsencode(path), follow=False) as where:
                if where.name == b".":
                    raise KeyError(path)
                return where.dir, where.name
        except WasiErrno as error:
            raise KeyError(path) from error

    def __getitem__(self, path: str) -> MemoryNode:
        directory, name = self._locate(path)
        try:
            return directory._entries[name]
        except KeyError:
            raise KeyError(path) from None

    def __setitem__(self, path: str, value: Content) -> None:
        directory, name = self._locate(path)
        directory.attach(_name(name), _node_of(value))

    def __delitem__(self, path: str) -> None:
        directory, name = self._locate(path)
        if name not in directory._entries:
            raise KeyError(path)
        directory.detach(name)

    def file(self, path: str) -> MemoryFile:
        """The regular file at `path` (``tree.file("out/result.json").read_bytes()``)."""
        node = self[path]
        if not isinstance(node, MemoryFile):
            raise ValueError(f"{path!r} is a {filetype_of(node).name.lower()}, not a regular file")
        return node

    def __iter__(self) -> Iterator[str]:
        return (os.fsdecode(name) for name in list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryDir({self.to_dict()!r})"

    def to_dict(self) -> dict[str, bytes | dict[str, object] | MemoryNode]:
        """The tree as plain data: bytes for files, dicts for directories (links and custom
        files as their nodes)."""
        exported: dict[str, bytes | dict[str, object] | MemoryNode] = {}
        for name, node in self._entries.items():
            key = os.fsdecode(name)
            if isinstance(node, MemoryFile):
                exported[key] = node.read_bytes()
            elif isinstance(node, MemoryDir):
                exported[key] = dict(node.to_dict())
            else:
                exported[key] = node
        return exported

    # -- entries, as the guest changes them -----------------------------------------------
    def entry(self, name: bytes) -> MemoryNode | None:
        """What `name` names here ("." is the directory itself), None if nothing."""
        return self if name == b"." else self._entries.get(name)

    def attach(self, name: bytes, node: MemoryNode) -> None:
        """Make `name` name `node`, replacing what it named (a directory lives in one place
        only, so a tree never holds a cycle)."""
        if isinstance(node, MemoryDir):
            if self.contains(node):
                raise ValueError("a MemoryDir cannot be put inside itself")
            if node.parent is not None and not (node.parent is self
                                                and self._entries.get(name) is node):
                raise ValueError("a MemoryDir can only be in one directory; remove it first")
            node.parent = self
        if name in self._entries:
            self.detach(name)
        self._entries[name] = node
        self._cookies[name] = self._next_cookie
        self._next_cookie += 1
        node.nlink += 1
        node.ctime_ns = time.time_ns()
        self.touch()

    def detach(self, name: bytes) -> MemoryNode:
        node = self._entries.pop(name)
        del self._cookies[name]
        node.nlink -= 1
        if isinstance(node, MemoryDir):
            node.parent = None
        node.ctime_ns = time.time_ns()
        self.touch()
        return node

    def contains(self, node: MemoryNode) -> bool:
        """Whether `node` is this directory or one of its ancestors' chain reaches it."""
        directory: MemoryDir | None = self
        while directory is not None:
            if directory is node:
                return True
            directory = directory.parent
        return False

    def listing(self, cookie: int) -> Iterator[Dirent]:
        if cookie < 1:
            yield Dirent(1, self.ino, b".", Filetype.DIRECTORY)
        if cookie < 2:
            yield Dirent(2, (self.parent or self).ino, b"..", Filetype.DIRECTORY)
        cookies = self._cookies
        for name, node in self._entries.items():
            if cookies[name] > cookie:
                yield Dirent(cookies[name], node.ino, name, filetype_of(node))

    def filestat(self) -> Filestat:
        subdirectories = sum(isinstance(node, MemoryDir) for node in self._entries.values())
        return super().filestat()._replace(nlink=2 + subdirectories)

    # -- to and from the host -------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> MemoryDir:
        """A copy of a host directory: files, directories, symbolic links (as they are), hard
        links (as one node) and times. Other kinds of file (FIFOs, devices) are refused."""
        return _Importer().directory(Path(path))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tree into host directory `path` (made if missing), replacing files of
        the same names, keeping hard links and times."""
        _save(self, Path(path), {})

    @classmethod
    def from_archive(cls, source: str | os.PathLike[str] | IO[bytes]) -> MemoryDir:
        """The tree in a zip or tar archive (compressed or not), by path or open file.
        A member naming a place outside the tree (absolute, or through "..") is refused."""
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as file:
                return cls.from_archive(file)
        from .memfs_archive import read_archive  # tarfile and zipfile: only when asked for

        return read_archive(source)

    def to_archive(self, target: str | os.PathLike[str] | IO[bytes], kind: str = "") -> None:
        """Write the tree as an archive: `kind` is "zip", "tar", "tar.gz", "tar.bz2" or
        "tar.xz", by default taken from `target`'s name (a zip cannot hold symbolic links)."""
        from .memfs_archive import write_archive  # tarfile and zipfile: only when asked for

        write_archive(self, target, kind)


def filetype_of(node: MemoryNode) -> Filetype:
    """The type the guest sees for `node` (a custom file says its own)."""
    return node.file.filetype if isinstance(node, CustomFile) else node.filetype


class _Importer:
    """Copies host directories, one node per host inode, so hard links stay links."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, int], MemoryNode] = {}

    def directory(self, path: Path) -> MemoryDir:
        tree = MemoryDir()
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                tree.attach(os.fsencode(entry.name), self.node(Path(entry.path)))
        _copy_times(tree, path.stat())
        return tree

    def node(self, path: Path) -> MemoryNode:
        st = path.lstat()
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            return self.seen[key]
        node: MemoryNode
        if stat.S_ISDIR(st.st_mode):
            return self.directory(path)
        if stat.S_ISLNK(st.st_mode):
            node = MemorySymlink(os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            node = MemoryFile(path.read_bytes())
        else:
            raise ValueError(f"{path} is neither a file, a directory nor a symbolic link")
        _copy_times(node, st)
        self.seen[key] = node
        return node


def _copy_times(node: MemoryNode, st: os.stat_result) -> None:
    node.atime_ns, node.mtime_ns, node.ctime_ns = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def _save(tree: MemoryDir, path: Path, written: dict[int, Path]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, node in tree._entries.items():
        where = path / os.fsdecode(name)
        if isinstance(node, MemoryDir):
            _save(node, where, written)
            continue
        if where.is_symlink() or where.is_file():
            where.unlink()
        if node.ino in written:
            os.link(written[node.ino], where, follow_symlinks=False)
            continue
        if isinstance(node, MemorySymlink):
            os.symlink(node.target, where)
        elif isinstance(node, MemoryFile):
            where.write_bytes(node.read_bytes())
        else:
            continue  # a custom file has no contents of its own to save
        written[node.ino] = where
        os.utime(where, ns=(node.atime_ns, node.mtime_ns), follow_symlinks=False)
    os.utime(path, ns=(tree.atime_ns, tree.mtime_ns))


class MemoryTree:
    """A memory tree as the resolver walks it: `Tree[MemoryDir]`."""

    __slots__ = ()

    def enter(self, parent: MemoryDir, name: bytes) -> MemoryDir | bytes:
        node = parent.entry(name)
        if isinstance(node, MemoryDir):
            return node
        if isinstance(node, MemorySymlink):
            return node.target
        raise fail(Errno.NOENT if node is None else Errno.NOTDIR)

    def read_link(self, parent: MemoryDir, name: bytes) -> bytes | None:
        node = parent.entry(name)
        return node.target if isinstance(node, MemorySymlink) else None

    def leave(self, handle: MemoryDir) -> None:
        """Nothing is held open."""

    def require_directory(self, parent: MemoryDir, name: bytes) -> None:
        node = parent.entry(name)
        if node is not None and not isinstance(node, MemoryDir):
            raise fail(Errno.NOTDIR)


MEMORY: Final = MemoryTree()
