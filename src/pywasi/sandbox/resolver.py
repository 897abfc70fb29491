"""Resolving guest paths beneath a directory descriptor, so that no path can leave it.

A path is walked one component at a time. Each directory on the way is opened with
``O_NOFOLLOW | O_DIRECTORY`` relative to the descriptor of the one before (``openat``), and every
descriptor on the way is kept on a stack. The kernel therefore never interprets a ``/``, a
``..`` or a symbolic link for us:

* ``..`` pops the stack instead of asking the kernel for the parent. Popping the starting
  directory is an escape, even if later components would come back inside.
* a symbolic link is read with ``readlinkat`` and its target spliced into the components still
  to walk, relative to the directory holding the link; an absolute target is an escape, and
  more than `MAX_SYMLINKS` expansions is ELOOP.

The result is a directory descriptor plus one final name (never ``..``, never containing
``/``; ``.`` means the directory itself). The caller performs the operation with that pair
(``dir_fd=`` and ``follow_symlinks=False`` / ``O_NOFOLLOW``), so the kernel never follows a
link there either: if the final link had to be followed, it has already been expanded here.

Why host-side races cannot make a path escape: every descriptor on the stack was obtained by
descending from the starting descriptor through a name that was, at that instant, a real
directory (not a link), and going up only ever returns to a descriptor we already hold. A
descriptor names a directory *object*, not a path, so when another process renames
directories, swaps a directory for a symbolic link, or moves a directory elsewhere while we
walk, the worst outcome is a lookup inside a directory the guest had legitimately reached a
moment earlier, or an error. Nothing is ever reached by climbing above the start, and no
string prefix check exists that a race could invalidate.

An escape is ENOTCAPABLE, as in Node (uvwasi) and as current wasi-testsuite accepts; the spec
only says "access denied". (wasmtime says EPERM.) Creating a symbolic link whose target is
absolute is a different matter, refused as "not permitted" (EPERM) in `HostDir.symlink_at`.

This module knows nothing of guest memory: it works on bytes and host descriptors. Paths must
not contain NUL; the system call layer rejects those with EINVAL before they get here.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from ..abi.errno import WasiErrno
from ..abi.types import Errno

MAX_SYMLINKS: Final = 40

# Search access is all a directory on the way needs; O_PATH opens even one we cannot read.
_SEARCH_FLAGS: Final = (
    getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
)


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a path leads: act on `name` relative to `dir_fd`, never following a last link."""

    dir_fd: int
    name: bytes
    # The path ended in "/" or "/.": what it names must be a directory. It has been checked
    # to be one if it exists; a creating call must refuse to make a non-directory there.
    must_be_dir: bool


def read_link(dir_fd: int, name: bytes) -> bytes | None:
    """The target of `name` if it is a symbolic link, else None (including when missing)."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _components(path: bytes) -> list[bytes]:
    """The path's components in reverse, ready to pop; absolute paths are an escape."""
    if path.startswith(b"/"):
        raise WasiErrno(Errno.NOTCAPABLE)
    return path.split(b"/")[::-1]


def _is_final(pending: list[bytes]) -> bool:
    """True when nothing but "" and "." remains: the component just taken is the last."""
    return all(part in (b"", b".") for part in pending)


@contextmanager
def resolve(root_fd: int, path: bytes, *, follow: bool) -> Iterator[Resolved]:
    """Resolve `path` beneath `root_fd`; the descriptors opened on the way are closed on exit.

    `follow` says whether a symbolic link as the last component is followed (a trailing
    slash always follows, as in POSIX). Escapes raise ENOTCAPABLE, an empty path ENOENT.
    """
    if not path:
        raise WasiErrno(Errno.NOENT)
    pending = _components(path)
    stack: list[int] = []  # descriptors we opened; the current directory is the last one
    expansions = 0
    try:
        while True:
            current = stack[-1] if stack else root_fd
            if not pending:
                yield Resolved(current, b".", must_be_dir=True)
                return
            part = pending.pop()
            if part in (b"", b"."):
                continue
            if part == b"..":
                if not stack:
                    raise WasiErrno(Errno.NOTCAPABLE)
                os.close(stack.pop())
                continue
            if _is_final(pending):
                must_be_dir = bool(pending)
                target = read_link(current, part) if follow or must_be_dir else None
                if target is None:
                    if must_be_dir:
                        _check_directory(current, part)
                    yield Resolved(current, part, must_be_dir)
                    return
            else:
                try:
                    stack.append(os.open(part, _SEARCH_FLAGS, dir_fd=current))
                    continue
                except OSError as error:
                    if error.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    target = read_link(current, part)
                    if target is None:
                        raise
            expansions += 1
            if expansions > MAX_SYMLINKS:
                raise WasiErrno(Errno.LOOP)
            if not target:
                raise WasiErrno(Errno.NOENT)
            pending.extend(_components(target))
    finally:
        for fd in stack:
            os.close(fd)


def _check_directory(dir_fd: int, name: bytes) -> None:
    """ENOTDIR if `name` exists and is not a directory (the path had a trailing slash)."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        raise WasiErrno(Errno.NOTDIR)
