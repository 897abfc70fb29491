"""`MemoryDir`'s archives (zip and tar, compressed or not), apart so that `tarfile` and
`zipfile` (and the compression modules they pull in) are imported only by a run that uses one."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import time
import zipfile
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:  # the classes themselves come as `kinds` (see `memfs.TreeKinds`)
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
            _to_zip(tree, archive, "", kinds)
        return
    with _open_tar(target, kind or "tar") as tar:
        _to_tar(tree, tar, "", {}, kinds)


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


def _archive_place(root: MemoryDir, name: str, kinds: TreeKinds
                   ) -> tuple[MemoryDir, bytes] | None:
    """The directory (made as needed) and name an archive member goes to; None for the root.
    A member beneath an earlier member that is no directory (a link, say) is refused, as
    extracting it on a host would write through that link."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ValueError(f"archive member {name!r} points outside the tree")
    if not parts:
        return None
    directory = root
    for part in parts[:-1]:
        entry = directory.entry(os.fsencode(part))
        if entry is None:
            entry = kinds.directory()
            directory.attach(os.fsencode(part), entry)
        elif not isinstance(entry, kinds.directory):
            raise ValueError(f"archive member {name!r} lies beneath {part!r}, which is not a "
                             "directory")
        directory = entry
    return directory, os.fsencode(parts[-1])


def _check_link_target(name: str, target: str) -> None:
    """A symbolic link member must point inside the tree: not absolute, no ".." above it."""
    # The directories the link lies beneath, counted as `_archive_place` places it ("./l"
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
    for info in archive.infolist():
        place = _archive_place(root, info.filename, kinds)
        if place is None:
            continue
        directory, name = place
        node = directory.entry(name)
        if not (info.is_dir() and isinstance(node, kinds.directory)):
            node = kinds.directory() if info.is_dir() else kinds.file(archive.read(info))
            directory.attach(name, node)
        times.append((node, int(time.mktime((*info.date_time, 0, 0, -1))) * 10**9))
    _stamp(times)
    return root


def _from_tar(archive: tarfile.TarFile, kinds: TreeKinds) -> MemoryDir:
    root = kinds.directory()
    by_name: dict[str, MemoryNode] = {}
    times: list[tuple[MemoryNode, int]] = []
    for member in archive:
        place = _archive_place(root, member.name, kinds)
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


def _to_zip(tree: MemoryDir, archive: zipfile.ZipFile, prefix: str, kinds: TreeKinds) -> None:
    for name, node in tree._entries.items():
        path = prefix + os.fsdecode(name)
        when = time.localtime(max(node.mtime_ns // 10**9, 315532800))[:6]  # zip starts at 1980
        if isinstance(node, kinds.directory):
            archive.writestr(zipfile.ZipInfo(path + "/", when), b"")
            _to_zip(node, archive, path + "/", kinds)
        elif isinstance(node, kinds.file):
            with archive.open(zipfile.ZipInfo(path, when), "w") as member:
                shutil.copyfileobj(_Contents(node), member, kinds.chunk)
        elif isinstance(node, kinds.symlink):
            raise ValueError(f"a zip archive cannot hold the symbolic link {path!r}: use tar")


def _to_tar(tree: MemoryDir, archive: tarfile.TarFile, prefix: str,
            written: dict[int, str], kinds: TreeKinds) -> None:
    for name, node in tree._entries.items():
        info = tarfile.TarInfo(prefix + os.fsdecode(name))
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
        if isinstance(node, kinds.directory):
            _to_tar(node, archive, info.name + "/", written, kinds)
