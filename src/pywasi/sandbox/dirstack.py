"""The host directories from a root down to where a walk is, by descriptor, few held open.

A guest can nest directories thousands deep, deeper than a process may hold descriptors, so
`MemoryDir.save` and `MemoryDir.from_path` cannot keep one open per level. They keep the
deepest `KEEP_OPEN` and, coming back up past them, reopen a parent as ``..`` of its child
(never a symbolic link) and go on only if it is the very directory (device and inode) they
left: a directory moved meanwhile is refused, never followed somewhere else.
"""

from __future__ import annotations

import errno
import os
from typing import Final

KEEP_OPEN: Final = 32
"""How many directories of a walk stay open beside its root."""

DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""How a host directory of a tree is opened: never through a symbolic link."""


class DirectoryStack:
    """The directories of a walk from `root` (the caller's, never closed here): `top` is the
    deepest, always open; `push` goes down into one just opened, `pop` comes back up."""

    def __init__(self, root: int, keep: int = KEEP_OPEN) -> None:
        self.keep = keep
        self._fds: list[int | None] = [root]
        self._ids: list[tuple[int, int]] = [_identity(root)]
        self._oldest_open = 1  # every level below this (but the root) is closed

    @property
    def top(self) -> int:
        fd = self._fds[-1]
        assert fd is not None
        return fd

    def push(self, fd: int) -> None:
        """Go down into directory `fd` (now the stack's to close), closing the shallowest
        level held once more than `keep` are."""
        try:
            self._ids.append(_identity(fd))
        except OSError:
            os.close(fd)
            raise
        self._fds.append(fd)
        if len(self._fds) - self._oldest_open > self.keep:
            shallowest = self._fds[self._oldest_open]
            assert shallowest is not None
            os.close(shallowest)
            self._fds[self._oldest_open] = None
            self._oldest_open += 1

    def pop(self) -> None:
        """Come back up one level, reopening it (as ``..``) if it was closed; an OSError
        (ESTALE) if what ``..`` names now is not the directory left."""
        child = self.top
        try:
            if self._fds[-2] is None:
                parent = os.open("..", DIRECTORY, dir_fd=child)
                if _identity(parent) != self._ids[-2]:
                    os.close(parent)
                    raise OSError(errno.ESTALE, "a directory moved while being walked")
                self._fds[-2] = parent
                self._oldest_open = len(self._fds) - 2
        finally:
            os.close(child)
            self._fds.pop()
            self._ids.pop()

    def close(self) -> None:
        """Close every level held but the root."""
        while len(self._fds) > 1:
            fd = self._fds.pop()
            if fd is not None:
                os.close(fd)
        self._ids[1:] = []


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def remove_tree(parent: int, name: str | bytes) -> None:
    """Remove directory `name` of `parent` and everything beneath it, by descriptor, never
    following a link (one swapped in for a directory is ELOOP or ENOTDIR), with few
    descriptors held however deep: `shutil.rmtree` recurses, and holds one per level."""
    levels = DirectoryStack(parent)
    levels.push(os.open(name, DIRECTORY, dir_fd=parent))
    try:
        frames = [(name, _clear_files(levels.top))]  # each level: its name, its subdirectories
        while frames:
            subdirectories = frames[-1][1]
            if subdirectories:
                below = subdirectories.pop()
                levels.push(os.open(below, DIRECTORY, dir_fd=levels.top))
                frames.append((below, _clear_files(levels.top)))
            else:
                levels.pop()
                os.rmdir(frames.pop()[0], dir_fd=levels.top)
    finally:
        levels.close()


def _clear_files(fd: int) -> list[str]:
    """Remove every entry of directory `fd` but its subdirectories, which it returns."""
    subdirectories = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    return subdirectories
