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

File contents are `CHUNK`-byte pieces made when first written, so a file's size may run far
ahead of its bytes (after `fd_filestat_set_size`, `fd_allocate` or a write far out), the rest
reading as zeros: holes cost no memory. No file grows past `FILE_SIZE_MAX` (EFBIG); what a
guest stores in its trees is bounded by a `TreeQuota` (`Limits.max_memory_tree_bytes`), and a
write past it, or one the host has no memory for, is ENOSPC.
"""

from __future__ import annotations

import itertools
import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import IO, Any, ClassVar, Final, NamedTuple, Union

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Filetype
from .files import Dirent, Filestat, WasiFile, fail
from .nesting import equal, render
from .resolver import walk

FILE_SIZE_MAX: Final = 1 << 32
"""The largest a memory file may grow (4 GiB): more is EFBIG, so a guest cannot make the host
allocate without bound through one file."""

MEMORY_DEV: Final = 0x6D656D  # the device number every memory node reports ("mem")
OFFSET_LIMIT: Final = 1 << 63  # offsets and sizes are off_t: at or past this, EINVAL
_INODES = itertools.count(1)

CHUNK: Final = 1 << 16
"""Memory file contents are kept in pieces of this many bytes, each made when first written
and only as long as its last byte written: a hole (a large size, an offset far out) costs
nothing, and a file's host memory is what was written, to within a piece."""

_ZEROS: Final = memoryview(bytes(CHUNK))

PIECE_COST: Final = 160
"""What each piece is charged against `TreeQuota`, besides its bytes: about what its Python
objects cost the host (a bytearray, its index, a dict slot: ~130 bytes measured), so that 1-byte
writes scattered one per piece cannot hold the host to a hundred times the bound."""

ENTRY_COST: Final = 512
"""What a directory entry is charged against `TreeQuota`, besides its name: roughly what an
entry and its node cost the host (objects, dict slots), so that empty files count too."""

DIRECTORY_COST: Final = 256
"""What a directory is charged besides `ENTRY_COST`: its own dicts and lists of entries (an
empty one costs the host ~660 bytes in all, measured)."""


def _spans(offset: int, length: int) -> Iterator[tuple[int, int, int, int]]:
    """The pieces `length` bytes at `offset` fall in, in order: (the piece's index, where in
    it they start, how many lie there, how many of the run came before): the one walk of
    reads and writes."""
    index, start = divmod(offset, CHUNK)
    done = 0
    while done < length:
        take = min(length - done, CHUNK - start)
        yield index, start, take, done
        done += take
        index += 1
        start = 0


class TreeQuota:
    """The bytes a guest's writes may store in its memory trees (`Limits.max_memory_tree_bytes`,
    one quota per `WASI` instance over all its trees): file contents, link targets and
    entries. What the guest frees (truncates, removes) is given back. Past it, ENOSPC, as a
    full disk says; the host never runs out of memory for a guest."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, count: int) -> None:
        """Take `count` bytes, or ENOSPC (nothing taken) if they are not left."""
        if self.limit is not None and self.used + count > self.limit:
            raise fail(Errno.NOSPC)
        self.used += count

    def credit(self, count: int) -> None:
        """Give back `count` bytes that were freed (never below nothing used)."""
        self.used = max(0, self.used - count)

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
    """A regular file's contents: ``read_bytes()``/``write_bytes()`` from Python.

    The contents are `CHUNK`-byte pieces by index, each as long as its last byte written;
    everything else up to `size` reads as zeros. `stored_bytes` is what the pieces hold."""

    __slots__ = ("_chunks", "_quota", "_size")
    filetype = Filetype.REGULAR_FILE

    def __init__(self, data: bytes | bytearray | memoryview | str = b"") -> None:
        super().__init__()
        self._chunks: dict[int, bytearray] = {}
        self._size = 0
        self._quota: TreeQuota | None = None  # the quota the stored bytes were charged to
        self._fill(data)

    def __del__(self) -> None:
        if self._quota is not None:
            self._quota.credit(self._charged())

    def _fill(self, data: bytes | bytearray | memoryview | str) -> None:
        view = memoryview(data.encode() if isinstance(data, str) else data).cast("B")
        self._chunks = {index: bytearray(view[start : start + CHUNK])
                        for index, start in enumerate(range(0, len(view), CHUNK))}
        self._size = len(view)

    @property
    def size(self) -> int:
        return self._size

    @property
    def stored_bytes(self) -> int:
        """The bytes the pieces hold (holes hold none)."""
        return sum(map(len, self._chunks.values()))

    def _charged(self) -> int:
        """What the pieces cost against a quota: their bytes and `PIECE_COST` each."""
        return self.stored_bytes + PIECE_COST * len(self._chunks)

    def pieces(self) -> Iterator[tuple[int, bytearray]]:
        """The stored pieces as (offset, bytes), in order; the rest of the file is zeros."""
        for index in sorted(self._chunks):
            yield index * CHUNK, self._chunks[index]

    def read_bytes(self) -> bytes:
        contents = bytearray(self._size)
        for offset, piece in self.pieces():
            contents[offset : offset + len(piece)] = piece
        return bytes(contents)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        if self._quota is not None:
            self._quota.credit(self._charged())
            self._quota = None
        self._fill(data)
        self.touch()

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def read_into(self, buf: memoryview, offset: int) -> int:
        """Copy from `offset` into `buf`; the count copied (0 at or past the end)."""
        count = min(len(buf), self._size - offset)
        if count <= 0:
            return 0
        chunks = self._chunks
        for index, start, take, done in _spans(offset, count):
            piece = chunks.get(index)
            have = 0
            if piece is not None and len(piece) > start:
                have = min(take, len(piece) - start)
                with memoryview(piece) as stored:
                    buf[done : done + have] = stored[start : start + have]
            if have < take:
                buf[done + have : done + take] = _ZEROS[: take - have]
        return count

    def write_from(self, buf: memoryview, offset: int, quota: TreeQuota | None = None) -> int:
        """Store `buf` at `offset`, charging new pieces' bytes to `quota`: the count
        written, short (or ENOSPC, if none) where the quota or the host's memory ran out."""
        length = len(buf)
        if offset + length > FILE_SIZE_MAX:
            raise fail(Errno.FBIG)
        chunks = self._chunks
        written = 0
        for index, start, take, done in _spans(offset, length):
            piece = chunks.get(index)
            new = piece is None
            stored = 0 if piece is None else len(piece)
            growth = start + take - stored + (PIECE_COST if new else 0)
            try:
                if growth > 0 and quota is not None:
                    quota.charge(growth)
                    self._quota = quota
                if piece is None:
                    piece = chunks[index] = bytearray()
                if start > stored:
                    piece += _ZEROS[: start - stored]  # the hole before it becomes zeros
                piece[start : start + take] = buf[done : done + take]
            except (MemoryError, WasiErrno) as error:
                if isinstance(error, MemoryError) and growth > 0 and quota is not None:
                    quota.credit(growth)
                if new:
                    chunks.pop(index, None)
                elif piece is not None and len(piece) > stored:
                    del piece[stored:]
                if not done:
                    raise fail(Errno.NOSPC) from None  # out of room, or the host of memory
                break
            written = done + take
        if offset + written > self._size:
            self._size = offset + written
        return written

    def resize(self, size: int, quota: TreeQuota | None = None) -> None:
        """Make the file `size` bytes long: cut (giving the bytes back to the quota they
        were charged to), or grow with zeros that take no memory."""
        if size >= OFFSET_LIMIT:
            raise fail(Errno.INVAL)
        if size > FILE_SIZE_MAX:
            raise fail(Errno.FBIG)
        if size < self._size:
            last, keep = divmod(size, CHUNK)
            chunks = self._chunks
            freed = 0
            for index in [index for index in chunks if index >= last]:
                if index == last and keep:
                    freed += max(0, len(chunks[index]) - keep)
                    del chunks[index][keep:]
                else:
                    freed += len(chunks.pop(index)) + PIECE_COST
            charged = self._quota or quota
            if charged is not None:
                charged.credit(freed)
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

    __slots__ = ("_cookies", "_entries", "_listed", "_next_cookie", "_removed", "parent")
    filetype = Filetype.DIRECTORY

    def __init__(self, entries: Mapping[str, Content] | None = None) -> None:
        super().__init__()
        self._entries: dict[bytes, MemoryNode] = {}
        self._cookies: dict[bytes, int] = {}  # the readdir cookie that resumes after each
        self._next_cookie = 3  # 1 and 2 resume after "." and ".."
        # Every name given a cookie, by rising cookie (so a listing resumes by bisection),
        # removed ones included until they outnumber the rest (`_removed` counts them).
        self._listed: tuple[list[int], list[bytes]] = ([], [])
        self._removed = 0
        self.parent: MemoryDir | None = None
        # Nested mappings are made with a stack, not recursion: they may be a deep tree's
        # `to_dict` (a batch job's files from an earlier `Result`).
        pending: list[tuple[MemoryDir, Mapping[str, Content]]] = [(self, entries or {})]
        while pending:
            directory, contents = pending.pop()
            for name, value in contents.items():
                if isinstance(value, Mapping) and not isinstance(value, MemoryNode):
                    child = MemoryDir()
                    directory.attach(_name(name), child)
                    pending.append((child, value))
                else:
                    directory.attach(_name(name), _node_of(value))

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
        # From the walk, not the repr of `to_dict`, which recurses: no depth is too deep.
        return "MemoryDir(" + render(
            (depth, os.fsdecode(name), node.read_bytes() if isinstance(node, MemoryFile) else node)
            for depth, _, name, node in descend(self)) + ")"

    def __eq__(self, other: object) -> bool:
        """As a mapping's equality (the same names, equal entries), without recursion."""
        return equal(self, other) if isinstance(other, Mapping) else NotImplemented

    def to_dict(self) -> dict[str, bytes | dict[str, object] | MemoryNode]:
        """The tree as plain data: bytes for files, dicts for directories (links and custom
        files as their nodes)."""
        exported: dict[str, bytes | dict[str, object] | MemoryNode] = {}
        into: dict[int, dict[str, Any]] = {id(self): exported}  # each directory's dict
        for _, directory, name, node in descend(self):
            key = os.fsdecode(name)
            if isinstance(node, MemoryFile):
                into[id(directory)][key] = node.read_bytes()
            elif isinstance(node, MemoryDir):
                into[id(directory)][key] = into[id(node)] = {}
            else:
                into[id(directory)][key] = node
        return exported

    def __reduce__(self) -> tuple[Any, tuple[list[tuple[Any, ...]]]]:
        """Pickled flat: each directory's own state, its subdirectories by number, so that
        pickle, copy and deepcopy take a tree of any depth (a subtree comes out detached)."""
        directories = [self, *(node for _, _, _, node in descend(self)
                               if isinstance(node, MemoryDir))]
        number = {id(directory): index for index, directory in enumerate(directories)}
        return _rebuild, ([
            (type(directory), directory.ino, directory.nlink, directory.atime_ns,
             directory.mtime_ns, directory.ctime_ns, directory._next_cookie, directory._removed,
             directory._cookies, directory._listed,
             [(name, number[id(node)] if isinstance(node, MemoryDir) else node)
              for name, node in directory._entries.items()])
            for directory in directories],)

    # -- entries, as the guest changes them -----------------------------------------------
    def entry(self, name: bytes) -> MemoryNode | None:
        """What `name` names here ("." is the directory itself), None if nothing."""
        return self if name == b"." else self._entries.get(name)

    def attach(self, name: bytes, node: MemoryNode) -> None:
        """Make `name` name `node`, replacing what it named (a directory lives in one place
        only, so a tree never holds a cycle)."""
        if isinstance(node, MemoryDir):
            # An empty directory is no one's ancestor: a new one is attached in O(1), however
            # deep (a guest's mkdir one level further down).
            if (node is self or node._entries) and self.contains(node):
                raise ValueError("a MemoryDir cannot be put inside itself")
            if node.parent is not None and not (node.parent is self
                                                and self._entries.get(name) is node):
                raise ValueError("a MemoryDir can only be in one directory; remove it first")
            node.parent = self
        if name in self._entries:
            self.detach(name)
        self._entries[name] = node
        self._cookies[name] = self._next_cookie
        self._listed[0].append(self._next_cookie)
        self._listed[1].append(name)
        self._next_cookie += 1
        node.nlink += 1
        node.ctime_ns = time.time_ns()
        self.touch()

    def detach(self, name: bytes) -> MemoryNode:
        node = self._entries.pop(name)
        del self._cookies[name]
        self._removed += 1
        if self._removed > max(32, len(self._entries)):
            self._compact()
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

    def _compact(self) -> None:
        """Forget removed names: new lists, so that a listing under way keeps its own."""
        cookies = self._cookies
        self._listed = (list(cookies.values()), list(cookies))
        self._removed = 0

    def listing(self, cookie: int) -> Iterator[Dirent]:
        """The entries after `cookie`, found by bisection: each call costs what it lists.
        A name removed meanwhile is not listed; one added may be (it comes last)."""
        if cookie < 1:
            yield Dirent(1, self.ino, b".", Filetype.DIRECTORY)
        if cookie < 2:
            yield Dirent(2, (self.parent or self).ino, b"..", Filetype.DIRECTORY)
        cookies, entries = self._cookies, self._entries
        listed_cookies, listed_names = self._listed
        for index in range(bisect_right(listed_cookies, cookie), len(listed_cookies)):
            name = listed_names[index]
            if cookies.get(name) == listed_cookies[index]:
                node = entries[name]
                yield Dirent(listed_cookies[index], node.ino, name, filetype_of(node))

    def filestat(self) -> Filestat:
        subdirectories = sum(isinstance(node, MemoryDir) for node in self._entries.values())
        return super().filestat()._replace(nlink=2 + subdirectories)

    # -- to and from the host -------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> MemoryDir:
        """A copy of a host directory: files, directories, symbolic links (as they are), hard
        links (as one node) and times. Other kinds of file (FIFOs, devices), and an entry
        swapped for another between its lstat and its open, are refused (ValueError);
        pywasi's compiled-module cache is left out, with a warning (no guest may read it)."""
        from .memfs_host import read_tree

        return read_tree(path, KINDS)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tree into host directory `path` (made if missing), replacing entries of
        the same names (a host link in the way is replaced, never followed), keeping hard
        links, holes and times. Nothing outside `path` is touched; should `path` change
        beneath while it is written, `SaveRefusedError`."""
        from .memfs_host import save_tree

        save_tree(self, path, KINDS)

    @classmethod
    def from_archive(cls, source: str | os.PathLike[str] | IO[bytes]) -> MemoryDir:
        """The tree in a zip or tar archive (compressed or not), by path or open file.
        A member naming a place outside the tree (absolute, or through "..") is refused."""
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as file:
                return cls.from_archive(file)
        from .memfs_archive import read_archive  # tarfile and zipfile: only when asked for

        return read_archive(source, KINDS)

    def to_archive(self, target: str | os.PathLike[str] | IO[bytes], kind: str = "") -> None:
        """Write the tree as an archive: `kind` is "zip", "tar", "tar.gz", "tar.bz2" or
        "tar.xz", by default taken from `target`'s name (a zip cannot hold symbolic links)."""
        from .memfs_archive import write_archive  # tarfile and zipfile: only when asked for

        write_archive(self, target, kind, KINDS)


class TreeKinds(NamedTuple):
    """The node classes, handed to the modules that copy trees to and from host directories
    and archives (`memfs_host`, `memfs_archive`): `MemoryDir`'s methods call them, so they
    build and read trees with these instead of importing this module (no import cycle)."""

    directory: type[MemoryDir]
    file: type[MemoryFile]
    symlink: type[MemorySymlink]
    chunk: int
    descend: Callable[[MemoryDir], Iterator[tuple[int, MemoryDir, bytes, MemoryNode]]]


def descend(tree: MemoryDir) -> Iterator[tuple[int, MemoryDir, bytes, MemoryNode]]:
    """Every entry beneath `tree`, depth first, each directory's in order and before its own
    entries, as (its depth, its directory, its name, its node): the one walk of every export
    (to_dict, repr, pickling, archives), with a stack of its own, since a guest can nest
    directories deeper than Python's recursion limit."""
    stack = [(tree, iter(tree._entries.items()))]
    while stack:
        directory, entries = stack[-1]
        for name, node in entries:
            yield len(stack) - 1, directory, name, node
            if isinstance(node, MemoryDir):
                stack.append((node, iter(node._entries.items())))
                break
        else:
            stack.pop()


def _rebuild(states: list[tuple[Any, ...]]) -> MemoryDir:
    """The tree `MemoryDir.__reduce__` pickled: its directories made first, then filled."""
    directories: list[MemoryDir] = [state[0].__new__(state[0]) for state in states]
    for directory in directories:
        directory.parent = None
    for directory, state in zip(directories, states, strict=True):
        (_, directory.ino, directory.nlink, directory.atime_ns, directory.mtime_ns,
         directory.ctime_ns, directory._next_cookie, directory._removed, cookies, listed,
         entries) = state
        directory._cookies = dict(cookies)
        directory._listed = (list(listed[0]), list(listed[1]))
        directory._entries = {}
        for name, node in entries:
            if isinstance(node, int):
                node = directories[node]
                node.parent = directory
            directory._entries[name] = node
    return directories[0]


def filetype_of(node: MemoryNode) -> Filetype:
    """The type the guest sees for `node` (a custom file says its own)."""
    return node.file.filetype if isinstance(node, CustomFile) else node.filetype


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
KINDS: Final = TreeKinds(MemoryDir, MemoryFile, MemorySymlink, CHUNK, descend)
