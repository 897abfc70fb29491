"""`MemoryDir`'s archives (zip and tar, compressed or not), apart so that `tarfile` and
`zipfile` (and the compression modules they pull in) are imported only by a run that uses one."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
import zipfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:  # the node classes themselves come as `kinds` (see `memfs.TreeKinds`)
    from typing_extensions import Buffer

    from .memfs import MemoryDir, MemoryFile, MemoryNode, TreeKinds


_ARCHIVE_KINDS: Final = ("zip", "tar.gz", "tgz", "tar.bz2", "tar.xz", "tar")



def read_archive(source: IO[bytes], kinds: TreeKinds) -> MemoryDir:
    """The tree in zip or tar archive `source` (see `MemoryDir.from_archive`)."""
    if zipfile.is_zipfile(source):
        source.seek(0)
        return _from_zip(zipfile.ZipFile(source), kinds)
    source.seek(0)
    with tarfile.open(fileobj=source) as archive:
        return _from_tar(archive, kinds)


def write_archive(tree: MemoryDir, target: str | os.PathLike[str] | IO[bytes], kind: str,
                  kinds: TreeKinds) -> None:
    """Write `tree` as an archive (see `MemoryDir.to_archive`)."""
    if isinstance(target, (str, os.PathLike)):
        name = os.fspath(target)
        kind = kind or next((k for k in _ARCHIVE_KINDS if name.endswith("." + k)), "tar")
        with open(name, "wb") as file:
            write_archive(tree, file, kind, kinds)
        return
    if kind == "zip":
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            _to_zip(tree, archive, kinds)
        return
    with _open_tar(target, kind or "tar") as tar:
        _to_tar(tree, tar, kinds)


def _open_tar(target: IO[bytes], kind: str) -> tarfile.TarFile:
    if kind in ("tar.gz", "tgz"):
        return tarfile.open(fileobj=target, mode="w:gz")
    if kind == "tar.bz2":
        return tarfile.open(fileobj=target, mode="w:bz2")
    if kind == "tar.xz":
        return tarfile.open(fileobj=target, mode="w:xz")
    if kind == "tar":
        return tarfile.open(fileobj=target, mode="w")
    raise ValueError(f"unknown archive kind {kind!r}: use one of {list(_ARCHIVE_KINDS)}")


class _Places:
    """Where archive members go in `root`. Each is looked up from the root (a member beneath
    an earlier one that is no directory, a link say, is refused, as extracting it on a host
    would write through that link), except one beside the last member or just beneath it
    (as archives list them), whose directory is known: so a deep tree is read in time that
    grows with its members' names, not with their names' parts times the members."""

    def __init__(self, root: MemoryDir, kinds: TreeKinds) -> None:
        self.root = root
        self.kinds = kinds
        self.last: tuple[str, MemoryDir] | None = None  # the last member's parent, by name
        self.last_directory: tuple[str, MemoryDir] | None = None  # the last, if a directory

    def place(self, name: str) -> tuple[MemoryDir, bytes] | None:
        """The directory (made as needed) and name member `name` goes to; None for the root."""
        head, _, tail = name.rstrip("/").rpartition("/")
        if not name.startswith("/") and tail not in ("", ".", ".."):
            for known in (self.last_directory, self.last):
                if known is not None and known[0] == head:  # checked when it was placed
                    return known[1], os.fsencode(tail)
        return self.look_up(name)

    def placed(self, name: str, directory: MemoryDir, node: MemoryNode) -> None:
        """Remember where member `name` went, as `node` in `directory`."""
        head = name.rstrip("/").rpartition("/")[0]
        self.last = (head, directory)
        self.last_directory = ((name.rstrip("/"), node) if isinstance(node, self.kinds.directory)
                               else None)

    def look_up(self, name: str) -> tuple[MemoryDir, bytes] | None:
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if name.startswith("/") or ".." in parts:
            raise ValueError(f"archive member {name!r} points outside the tree")
        if not parts:
            return None
        directory = self.root
        for part in parts[:-1]:
            entry = directory.entry(os.fsencode(part))
            if entry is None:
                entry = self.kinds.directory()
                directory.attach(os.fsencode(part), entry)
            elif not isinstance(entry, self.kinds.directory):
                raise ValueError(f"archive member {name!r} lies beneath {part!r}, which is "
                                 "not a directory")
            directory = entry
        return directory, os.fsencode(parts[-1])


def _check_link_target(name: str, target: str) -> None:
    """A symbolic link member must point inside the tree: not absolute, no ".." above it."""
    # The directories the link lies beneath, counted as `_Places` places it ("./l"
    # and "a//l" lie beneath none and one).
    depth = sum(part not in ("", ".") for part in name.split("/")) - 1
    for part in target.split("/"):
        depth += {"..": -1, "": 0, ".": 0}.get(part, 1)
        if depth < 0:
            break
    if target.startswith("/") or depth < 0:
        raise ValueError(f"archive member {name!r} is a link to {target!r}, which points "
                         "outside the tree")


def _from_zip(archive: zipfile.ZipFile, kinds: TreeKinds) -> MemoryDir:
    root = kinds.directory()
    times: list[tuple[MemoryNode, int]] = []
    places = _Places(root, kinds)
    for info in archive.infolist():
        place = places.place(info.filename)
        if place is None:
            continue
        directory, name = place
        node = directory.entry(name)
        if not (info.is_dir() and isinstance(node, kinds.directory)):
            node = kinds.directory() if info.is_dir() else kinds.file(archive.read(info))
            directory.attach(name, node)
        places.placed(info.filename, directory, node)
        times.append((node, int(time.mktime((*info.date_time, 0, 0, -1))) * 10**9))
    _stamp(times)
    return root


def _from_tar(archive: tarfile.TarFile, kinds: TreeKinds) -> MemoryDir:
    root = kinds.directory()
    by_name: dict[str, MemoryNode] = {}
    times: list[tuple[MemoryNode, int]] = []
    places = _Places(root, kinds)
    for member in archive:
        place = places.place(member.name)
        if place is None:
            continue
        directory, name = place
        node: MemoryNode
        if member.isdir():
            existing = directory.entry(name)
            node = existing if isinstance(existing, kinds.directory) else kinds.directory()
        elif member.issym():
            _check_link_target(member.name, member.linkname)
            node = kinds.symlink(member.linkname)
        elif member.islnk():
            if member.linkname not in by_name:
                raise ValueError(f"archive member {member.name!r} links to a missing member")
            node = by_name[member.linkname]
        elif member.isreg():
            extracted = archive.extractfile(member)
            assert extracted is not None
            node = kinds.file(extracted.read())
        else:
            raise ValueError(f"archive member {member.name!r} is not a file, directory or link")
        if directory.entry(name) is not node:
            directory.attach(name, node)
        places.placed(member.name, directory, node)
        times.append((node, int(member.mtime * 10**9)))
        by_name[member.name] = node
    _stamp(times)
    return root


class _Contents(io.RawIOBase):
    """A memory file read from the start, piece by piece: an archive of a file with holes
    never holds the whole file in memory."""

    def __init__(self, node: MemoryFile) -> None:
        self.node = node
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        with memoryview(buffer) as view:
            count = self.node.read_into(view.cast("B"), self.position)
        self.position += count
        return count


def _stamp(times: list[tuple[MemoryNode, int]]) -> None:
    """Give nodes their archived times, once every entry is in (adding one touches its
    directory)."""
    for node, mtime_ns in times:
        node.atime_ns = node.mtime_ns = mtime_ns


def _paths(tree: MemoryDir, kinds: TreeKinds) -> Iterator[tuple[str, MemoryNode]]:
    """Every entry beneath `tree` with its path in an archive, parents first (`descend`)."""
    above: list[str] = []  # the names of the directories the walk is in
    for depth, _, name, node in kinds.descend(tree):
        del above[depth:]
        path = "/".join([*above, os.fsdecode(name)])
        if isinstance(node, kinds.directory):
            above.append(os.fsdecode(name))
        yield path, node


def _to_zip(tree: MemoryDir, archive: zipfile.ZipFile, kinds: TreeKinds) -> None:
    for path, node in _paths(tree, kinds):
        when = time.localtime(max(node.mtime_ns // 10**9, 315532800))[:6]  # zip starts at 1980
        if isinstance(node, kinds.directory):
            archive.writestr(zipfile.ZipInfo(path + "/", when), b"")
        elif isinstance(node, kinds.file):
            with archive.open(zipfile.ZipInfo(path, when), "w") as member:
                shutil.copyfileobj(_Contents(node), member, kinds.chunk)
        elif isinstance(node, kinds.symlink):
            raise ValueError(f"a zip archive cannot hold the symbolic link {path!r}: use tar")


def _to_tar(tree: MemoryDir, archive: tarfile.TarFile, kinds: TreeKinds) -> None:
    written: dict[int, str] = {}  # a linked node's first member
    for path, node in _paths(tree, kinds):
        info = tarfile.TarInfo(path)
        info.mtime = node.mtime_ns // 10**9
        data: _Contents | None = None
        if isinstance(node, kinds.directory):
            info.type, info.mode = tarfile.DIRTYPE, 0o755
        elif node.ino in written:
            info.type, info.linkname = tarfile.LNKTYPE, written[node.ino]
        elif isinstance(node, kinds.symlink):
            info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, os.fsdecode(node.target)
        elif isinstance(node, kinds.file):
            data = _Contents(node)
            info.size, info.mode = node.size, 0o644
        else:
            continue
        written.setdefault(node.ino, info.name)
        archive.addfile(info, data)
