"""`MemoryDir`'s copies from and to host directories, by descriptor.

A tree being saved holds whatever a guest left in it, and the target may hold what an earlier
save (so, a guest) put there: a symbolic link where the tree now has a directory, say. So
`save` opens its target once and makes everything beneath relative to directory descriptors
(`dirstack`: few held open, however deep the tree), never following a link: a host entry in
the way of a different kind (a link, a file where a directory goes, a directory where a file
goes) is removed and replaced, and what cannot be done that way (the target changing under
it) is refused with `SaveRefusedError`. Nothing outside the target is created, changed or
removed.

`from_path` reads by descriptor too, and leaves out pywasi's compiled-module cache (its secret
key must never reach a guest), as preopens do (`guard`).
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from typing import TYPE_CHECKING, Final, NamedTuple

from ..cache_policy import protect_cache
from ..errors import SaveRefusedError
from . import guard
from .dirstack import DIRECTORY, DirectoryStack, remove_tree

if TYPE_CHECKING:  # the classes themselves come as `kinds` (see `memfs.TreeKinds`)
    from .memfs import MemoryDir, MemoryFile, MemoryNode, MemorySymlink, TreeKinds

_NEW_FILE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# What a save meets when someone changes the target beside it: a link where it made a
# directory (ELOOP, ENOTDIR), a name taken again after it removed what was there (EEXIST).
# A directory moved away beneath it (ESTALE, from `DirectoryStack`).
_CHANGED: Final = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                             errno.ESTALE})


def read_tree(path: str | os.PathLike[str], kinds: TreeKinds) -> MemoryDir:
    """A copy of host directory `path` (see `MemoryDir.from_path`)."""
    protect_cache()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if guard.is_sealed(fd):
            raise ValueError(f"{os.fspath(path)!r} is pywasi's compiled-module cache, which no "
                             "guest may read: copy another directory")
        return _Importer(os.fspath(path), kinds).directory(fd)
    finally:
        os.close(fd)


class _Opened(NamedTuple):
    """A host directory opened to be copied, its stat taken from the descriptor."""

    fd: int
    st: os.stat_result


class _Importer:
    """Copies host directories, one node per host inode, so hard links stay links; depth
    first with a stack of its own (no depth is too deep), few descriptors held
    (`DirectoryStack`)."""

    def __init__(self, path: str, kinds: TreeKinds) -> None:
        self.path = path
        self.kinds = kinds
        self.seen: dict[tuple[int, int], MemoryNode] = {}
        self.warned = False

    def directory(self, fd: int) -> MemoryDir:
        """The copy of directory `fd` and everything beneath it."""
        levels = DirectoryStack(fd)
        top = self.kinds.directory()
        # Each directory being copied: its tree, the names left, its stat, where it goes.
        frames = [(top, iter(sorted(os.listdir(fd))), os.fstat(fd), top, b"")]
        try:
            while frames:
                tree, names, st, parent, place = frames[-1]
                for name in names:
                    node = self.node(levels.top, name)
                    if isinstance(node, _Opened):
                        if self.sealed(node.fd, node.st):
                            os.close(node.fd)
                            continue
                        levels.push(node.fd)
                        frames.append((self.kinds.directory(), iter(sorted(os.listdir(node.fd))),
                                       node.st, tree, os.fsencode(name)))
                        break
                    if node is not None:
                        tree.attach(os.fsencode(name), node)
                else:
                    _copy_times(tree, st)
                    frames.pop()
                    if frames:
                        levels.pop()
                        parent.attach(place, tree)
        finally:
            levels.close()
        return top

    def node(self, dir_fd: int, name: str) -> MemoryNode | _Opened | None:
        """The copy of entry `name` of `dir_fd`, or the directory it is, opened."""
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            return self.seen[key]
        node: MemoryNode
        if stat.S_ISLNK(st.st_mode):
            node = self.kinds.symlink(os.readlink(name, dir_fd=dir_fd))
        elif stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            fd = os.open(name, DIRECTORY if stat.S_ISDIR(st.st_mode) else _READ, dir_fd=dir_fd)
            try:
                opened = os.fstat(fd)
                # What was opened must be what lstat saw: swapped meanwhile (for a FIFO, a
                # device, another file), it is refused as such files are.
                if (opened.st_dev, opened.st_ino, stat.S_IFMT(opened.st_mode)) != (
                        *key, stat.S_IFMT(st.st_mode)):
                    raise ValueError(f"{self.path}: {name!r} changed while being copied (it "
                                     f"is now {_kind(opened)}): copy again, from a directory "
                                     "no one else writes")
                if not stat.S_ISDIR(opened.st_mode):
                    with open(fd, "rb", closefd=False) as file:
                        node = self.kinds.file(file.read())
            except BaseException:
                os.close(fd)
                raise
            if stat.S_ISDIR(opened.st_mode):
                return _Opened(fd, opened)  # the caller's to close
            os.close(fd)
        else:
            raise ValueError(f"{self.path}: {name!r} is neither a file, a directory nor a "
                             "symbolic link")
        _copy_times(node, st)
        self.seen[key] = node
        return node

    def sealed(self, fd: int, st: os.stat_result) -> bool:
        """Whether directory `fd` is the cache, to be left out (with one warning)."""
        if not guard.is_sealed(fd, st):
            return False
        if not self.warned:
            self.warned = True
            warnings.warn(f"MemoryDir.from_path({self.path!r}) left out pywasi's "
                          "compiled-module cache, which no guest may read", stacklevel=5)
        return True


def _kind(st: os.stat_result) -> str:
    """What kind of file `st` is, in words."""
    for test, kind in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO")):
        if test(st.st_mode):
            return kind
    return "a special file"


def _copy_times(node: MemoryNode, st: os.stat_result) -> None:
    node.atime_ns, node.mtime_ns, node.ctime_ns = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def save_tree(tree: MemoryDir, path: str | os.PathLike[str], kinds: TreeKinds) -> None:
    """Write `tree` into host directory `path` (see `MemoryDir.save`)."""
    os.makedirs(path, exist_ok=True)  # `path` and its parents are the embedder's own
    root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _Saver(os.fspath(path), root, kinds).directory(tree)
    finally:
        os.close(root)


Place = tuple[bytes, "Place | None"]
"""Where an entry of a save is: its name and its directory's place (None: the root), so
that the places of a deep tree share their beginnings (a tuple of names each would cost
depth squared)."""


def _names(place: Place | None) -> list[bytes]:
    """The names from the root down to `place`."""
    names = []
    while place is not None:
        name, place = place
        names.append(name)
    return names[::-1]


class _Saver:
    """Writes one tree beneath the directory `root`, by descriptor."""

    def __init__(self, path: str, root: int, kinds: TreeKinds) -> None:
        self.path = path
        self.root = root
        self.kinds = kinds
        self.written: dict[int, Place] = {}  # a linked node's first copy

    def refuse(self, where: Place | None, error: OSError) -> SaveRefusedError:
        place = os.path.join(self.path, *map(os.fsdecode, _names(where)))
        return SaveRefusedError(f"MemoryDir.save: {place!r} changed while being written "
                                f"({error.strerror}); nothing outside {self.path!r} was "
                                "touched: save again, or into a directory no one else writes")

    def directory(self, tree: MemoryDir) -> None:
        """Write `tree` into the root: depth first with a stack of its own (no depth is too
        deep), few descriptors held (`DirectoryStack`)."""
        levels = DirectoryStack(self.root)
        kinds = self.kinds
        root: Place | None = None
        frames = [(tree, iter(tree._entries.items()), root)]
        try:
            while frames:
                directory, entries, where = frames[-1]
                for name, node in entries:
                    if name in (b"", b".", b"..") or b"/" in name:
                        raise ValueError(f"a memory tree entry is named {name!r}")
                    here = (name, where)
                    try:
                        if isinstance(node, self.kinds.directory):
                            levels.push(self.enter(levels.top, name))
                            frames.append((node, iter(node._entries.items()), here))
                            break
                        if isinstance(node, (self.kinds.file, self.kinds.symlink)):
                            self.leaf(levels.top, name, node)
                        # A custom file has no contents of its own to save.
                    except OSError as error:
                        if error.errno in _CHANGED:
                            raise self.refuse(here, error) from None
                        raise
                    if isinstance(node, (kinds.file, kinds.symlink)) and node.nlink > 1:
                        self.written.setdefault(node.ino, here)
                else:
                    os.utime(levels.top, ns=(directory.atime_ns, directory.mtime_ns))
                    frames.pop()
                    if frames:
                        try:
                            levels.pop()
                        except OSError as error:
                            raise self.refuse(where, error) from None
        finally:
            levels.close()

    def enter(self, fd: int, name: bytes) -> int:
        """The directory `name` in `fd`, made (in place of anything else there) if need be."""
        st = _lstat(fd, name)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=fd)
            st = None
        if st is None:
            os.mkdir(name, dir_fd=fd)
        return os.open(name, DIRECTORY, dir_fd=fd)

    def leaf(self, fd: int, name: bytes, node: MemoryFile | MemorySymlink) -> None:
        """Make `name` in `fd` `node`'s copy, replacing whatever is there."""
        st = _lstat(fd, name)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                remove_tree(fd, name)  # by descriptor: never follows a link
            else:
                os.unlink(name, dir_fd=fd)
        first = self.written.get(node.ino)
        if first is not None:
            parent = self.reopen(first[1])
            try:
                os.link(first[0], name, src_dir_fd=parent, dst_dir_fd=fd, follow_symlinks=False)
            finally:
                if parent != self.root:
                    os.close(parent)
            return
        if isinstance(node, self.kinds.symlink):
            os.symlink(node.target, name, dir_fd=fd)
            os.utime(name, ns=(node.atime_ns, node.mtime_ns), dir_fd=fd, follow_symlinks=False)
            return
        assert isinstance(node, self.kinds.file)  # what `leaf` takes: a file or a link
        out = os.open(name, _NEW_FILE, 0o666, dir_fd=fd)
        try:
            for offset, piece in node.pieces():
                os.pwrite(out, piece, offset)  # holes stay holes on the host
            os.ftruncate(out, node.size)
            os.utime(out, ns=(node.atime_ns, node.mtime_ns))
        finally:
            os.close(out)

    def reopen(self, where: Place | None) -> int:
        """A directory written earlier, walked to again from the root without following links."""
        fd = self.root
        for name in _names(where):
            entered = os.open(name, DIRECTORY, dir_fd=fd)
            if fd != self.root:
                os.close(fd)
            fd = entered
        return fd


def _lstat(dir_fd: int, name: bytes) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
