"""Resolving guest paths beneath a directory descriptor, so that no path can leave it.

A path is walked one component at a time, over any `Tree`: host directories (`HOST`, where
each directory on the way is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to the
descriptor of the one before, ``openat``) or a tree that lives in memory. Every directory on
the way is kept on a stack, so neither the kernel nor a tree ever interprets a ``/``, a ``..``
or a symbolic link for us:

* ``..`` pops the stack instead of asking the kernel for the parent. Popping the starting
  directory is an escape, even if later components would come back inside.
* a symbolic link is read with ``readlinkat`` and its target spliced into the components still
  to walk, relative to the directory holding the link; an absolute target is an escape, and
  more than `MAX_SYMLINKS` expansions is ELOOP.

The work is linear in the length of the path (and of the link targets spliced in), and a path
longer than `PATH_MAX` is refused before it is read (see `syscalls.path`), so no path can make
one call stall the host. A link target longer than `MAX_LINK_TARGET` is ENAMETOOLONG (Linux
cannot store one), so one lookup splices in at most `MAX_SYMLINKS * MAX_LINK_TARGET` bytes
(160 KiB), whatever tree the links live in; and it is inside at most `MAX_DEPTH` directories
at once, each of which holds a host descriptor.

The result is a directory (a descriptor, for the host) plus one final name (never ``..``,
never containing ``/``; ``.`` means the directory itself). The caller performs the operation
with that pair (``dir_fd=`` and ``follow_symlinks=False`` / ``O_NOFOLLOW``), so the kernel never
follows a link there either: a final link that had to be followed has already been expanded.

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

On Linux 5.6+ a host lookup takes a shortcut where the kernel can keep exactly these rules
(`resolve`): everything before the last name is opened by one ``openat2`` with
``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`` (see `openat2`), and the last name is
handled as the walk handles it. Opening what a path names (`open_beneath`) goes further: the
whole path by one ``openat2``, which then refuses a last link too. With no link to follow, the
kernel's ``..`` is the walk's (the physical parent), and ``RESOLVE_BENEATH`` refuses the same
escapes: leaving the start even for a moment. Anything else (a symbolic link anywhere before
the last name, an escape, a mount point, any error at all, a path longer than `PATH_MAX` or
with more than `MAX_DEPTH` components, a last name that is a link to follow) makes it give up
and walk from the start, so every answer but a plain success is the walk's, errno included. It
is used only beneath a directory under which `guard` protects nothing
(`guard.nothing_protected_beneath`): the kernel does not show the guard the directories it
passes (nor, for `open_beneath`, the last entry and what it opens), and without mount
crossings none of them can be one the guard refuses. Set ``PYWASI_OPENAT2=0`` to always walk.
Host-side races cannot make it escape either: the kernel holds each directory as it goes, as
the walk does, and refuses (EAGAIN, EXDEV) when a concurrent rename might have moved a ``..``
outside.

Host directories that no guest may reach at all (pywasi's compiled-module cache) are refused
on the way in, with EACCES, by `guard` (see there).

This module knows nothing of guest memory: it works on bytes and directory handles. Paths must
not contain NUL; the system call layer rejects those with EINVAL before they get here.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from enum import Enum
from typing import Final, Generic, NamedTuple, Protocol, TypeVar

from ..abi.errno import WasiErrno
from ..abi.types import Errno
from . import guard
from .openat2 import DIRECTORY_FLAGS
from .openat2 import openat2 as openat2  # patched by tests to force the walk

MAX_SYMLINKS: Final = 40
PATH_MAX: Final = 4096
"""The longest path a guest may pass (bytes, as Linux's PATH_MAX): longer is ENAMETOOLONG."""
MAX_LINK_TARGET: Final = PATH_MAX
"""The longest symbolic link target a lookup follows: longer is ENAMETOOLONG."""
MAX_DEPTH: Final = 256
"""The most directories one lookup may be inside at once: each holds a host descriptor until
the lookup ends, so deeper is ENAMETOOLONG rather than a moment in which the host process
has no descriptors left (a 4096-byte path could otherwise hold 2048, and links 40 times more)."""

Handle = TypeVar("Handle")

# Search access is all a directory on the way needs; O_PATH opens even one we cannot read.
_SEARCH_FLAGS: Final = (
    getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
)
_TRIVIAL: Final = (b"", b".")
# Last names the walk treats as more than a name: it then decides, not the kernel.
_SPECIAL_LAST: Final = (b"", b".", b"..")


class Act(Enum):
    """What a call does with the entry its path names, which decides what a trailing slash
    asks of a last symbolic link (Linux's rules; POSIX leaves them to the call)."""

    LOOKUP = "lookup"
    """Reads or opens it (open, stat, set_times, readlink, a hard link's source): the slash
    follows the link, whose target must be a directory."""
    CHANGE = "change"
    """Removes or renames it, or names a new link (hard or symbolic) there: the link itself,
    which is no directory (ENOTDIR; Linux says EEXIST for a new link's name, but
    wasi-testsuite's path_symlink_trailing_slashes wants ENOTDIR for any non-directory)."""
    CREATE = "create"
    """Makes a directory or file there: the link itself, which already exists (the call's
    EEXIST, or EISDIR for a file with a slash)."""


class Tree(Protocol[Handle]):
    """What the resolver needs of a directory tree; `Handle` names one of its directories."""

    def enter(self, parent: Handle, name: bytes) -> Handle | bytes:
        """The directory `name` in `parent`, never following a link: its handle, or, when
        `name` is a symbolic link, the link's target as bytes. Other failures raise (ENOENT
        when missing, ENOTDIR when no directory)."""
        ...

    def read_link(self, parent: Handle, name: bytes) -> bytes | None:
        """The target of `name` if it is a symbolic link, else None (including when missing)."""
        ...

    def leave(self, handle: Handle) -> None:
        """Release a handle `enter` returned."""
        ...

    def require_directory(self, parent: Handle, name: bytes) -> None:
        """ENOTDIR if `name` exists and is not a directory (the path had a trailing slash)."""
        ...


class Resolved(NamedTuple, Generic[Handle]):
    """Where a path leads: act on `name` in directory `dir`, never following a last link."""

    dir: Handle
    name: bytes
    # The path ended in "/" (or named "." itself): what it names must be a directory. It has
    # been checked to be one if it exists; a creating call must refuse to make a non-directory
    # there.
    must_be_dir: bool


def read_link(dir_fd: int, name: bytes) -> bytes | None:
    """The target of host entry `name` if it is a symbolic link, else None (also if missing)."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
            return None
        raise


class HostTree:
    """The host's directories, by descriptor: `Tree[int]`."""

    __slots__ = ()

    def enter(self, parent: int, name: bytes) -> int | bytes:
        guard.refuse_entry(parent, name, changing=False)
        try:
            entered = os.open(name, _SEARCH_FLAGS, dir_fd=parent)
        except OSError as error:
            if error.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            target = read_link(parent, name)
            if target is None:
                raise
            return target
        try:
            guard.refuse_directory(entered)
        except WasiErrno:
            os.close(entered)
            raise
        return entered

    def read_link(self, parent: int, name: bytes) -> bytes | None:
        return read_link(parent, name)

    def leave(self, handle: int) -> None:
        os.close(handle)

    def require_directory(self, parent: int, name: bytes) -> None:
        try:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            raise WasiErrno(Errno.NOTDIR)


HOST: Final = HostTree()


class _Pending:
    """The components still to walk, in reverse (ready to pop), and how many of them are not
    "": knowing whether the component just taken is the last costs O(1). A "." counts: after
    a name ("l/.") it makes that name a directory to enter, as on Linux, so "d/." names the
    directory itself (which rmdir, unlink and rename refuse), never the entry "d"."""

    __slots__ = ("parts", "significant")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.significant = 0

    def push(self, path: bytes) -> None:
        """Walk `path` next, before what is pending; an absolute path is an escape."""
        if path.startswith(b"/"):
            raise WasiErrno(Errno.NOTCAPABLE)
        parts = path.split(b"/")
        self.significant += len(parts) - parts.count(b"")
        parts.reverse()
        self.parts.extend(parts)

    def pop(self) -> bytes:
        part = self.parts.pop()
        if part:
            self.significant -= 1
        return part


def open_beneath(root_fd: int, path: bytes, flags: int, mode: int = 0, *,
                 identity: guard.Identity | None = None) -> int:
    """What `path` beneath host directory `root_fd` names, opened with `flags` by one openat2
    (so opened only if it is no symbolic link: `flags` must not pair O_PATH with O_NOFOLLOW,
    which would open one); -1 where the caller must `resolve` it and open what it leads to.

    Where the kernel succeeds, the walk would have led to the same object: it met no link, no
    escape, no mount point, in a directory the guard protects nothing beneath, and the last
    name is a plain one (not "", "." or "..", whose meaning the walk decides). Any failure is
    -1, so errors are always the walk's. `identity` is `root_fd`'s, if the caller keeps it.
    """
    if (openat2 is None or path.count(b"/") >= MAX_DEPTH
            or path[path.rfind(b"/") + 1 :] in _SPECIAL_LAST
            or not guard.nothing_protected_beneath(root_fd, identity)):
        return -1
    return openat2(root_fd, path, flags, mode)


def resolve(root_fd: int, path: bytes, *, follow: bool, act: Act = Act.LOOKUP,
            identity: guard.Identity | None = None) -> AbstractContextManager[Resolved[int]]:
    """Resolve `path` beneath host directory `root_fd` (see `walk`), by the kernel where it
    can give the walk's answer (see the module's docstring). `identity` is `root_fd`'s, if
    the caller keeps it. Use it in a ``with`` at once: the kernel's directory is open."""
    where = (_through_kernel(root_fd, path, follow, act, identity) if openat2 is not None
             else None)
    if where is None:
        return walk(HOST, root_fd, path, follow=follow, act=act)
    return _held(root_fd, where)


@contextmanager
def _held(root_fd: int, where: Resolved[int]) -> Iterator[Resolved[int]]:
    """`where`, its directory closed on exit (unless it is the root)."""
    try:
        yield where
    finally:
        if where.dir != root_fd:
            os.close(where.dir)


def _through_kernel(root_fd: int, path: bytes, follow: bool, act: Act,
                    identity: guard.Identity | None) -> Resolved[int] | None:
    """Where `path` leads, its directories opened by one openat2; None where that cannot be
    sure to match the walk, which then does the lookup."""
    if not path or len(path) > PATH_MAX or path.startswith(b"/"):
        return None
    parts = path.split(b"/")
    if len(parts) > MAX_DEPTH:
        return None
    end = len(parts)
    while end and not parts[end - 1]:
        end -= 1
    if not end or parts[end - 1] in _SPECIAL_LAST:
        return None
    directory = root_fd
    if end > 1:
        assert openat2 is not None
        if not guard.nothing_protected_beneath(root_fd, identity):
            return None
        directory = openat2(root_fd, b"/".join(parts[: end - 1]), DIRECTORY_FLAGS, 0)
        if directory < 0:
            return None
    try:
        where = _last(HOST, directory, parts[end - 1], end < len(parts), follow, act)
    except BaseException:
        if directory != root_fd:
            os.close(directory)
        raise
    if isinstance(where, bytes):  # a link to follow: spliced by the walk
        if directory != root_fd:
            os.close(directory)
        return None
    return where


def _last(tree: Tree[Handle], directory: Handle, name: bytes, must_be_dir: bool,
          follow: bool, act: Act) -> Resolved[Handle] | bytes:
    """Where a path ends whose last name is `name` in `directory`, or, when `name` is a
    symbolic link to follow, its target (to walk on). A trailing slash (`must_be_dir`)
    follows a link only for a lookup (see `Act`)."""
    looked_up = must_be_dir and act is Act.LOOKUP
    target = tree.read_link(directory, name) if follow or looked_up else None
    if target is not None:
        return target
    if must_be_dir and act is not Act.CREATE:
        tree.require_directory(directory, name)
    return Resolved(directory, name, must_be_dir)


@contextmanager
def walk(tree: Tree[Handle], root: Handle, path: bytes, *, follow: bool,
         act: Act = Act.LOOKUP) -> Iterator[Resolved[Handle]]:
    """Resolve `path` beneath directory `root` of `tree`; the handles taken on the way are
    released on exit.

    `follow` says whether a symbolic link as the last component is followed; a trailing
    slash also follows one when the call only looks it up (`act`, see `Act`). Escapes raise
    ENOTCAPABLE, an empty path ENOENT.
    """
    if not path:
        raise WasiErrno(Errno.NOENT)
    if len(path) > PATH_MAX:  # the system calls refuse it sooner; this holds for any caller
        raise WasiErrno(Errno.NAMETOOLONG)
    pending = _Pending()
    pending.push(path)
    stack: list[Handle] = []  # directories we entered; the current one is the last
    expansions = 0
    try:
        while True:
            current = stack[-1] if stack else root
            if not pending.parts:
                yield Resolved(current, b".", must_be_dir=True)
                return
            part = pending.pop()
            if part in _TRIVIAL:
                continue
            if part == b"..":
                if not stack:
                    raise WasiErrno(Errno.NOTCAPABLE)
                tree.leave(stack.pop())
                continue
            if not pending.significant:  # `part` is the last name; only "" follows
                last = _last(tree, current, part, bool(pending.parts), follow, act)
                if not isinstance(last, bytes):
                    yield last
                    return
                target = last
            else:
                entered = tree.enter(current, part)
                if not isinstance(entered, bytes):
                    stack.append(entered)
                    if len(stack) > MAX_DEPTH:
                        raise WasiErrno(Errno.NAMETOOLONG)
                    continue
                target = entered
            expansions += 1
            if expansions > MAX_SYMLINKS:
                raise WasiErrno(Errno.LOOP)
            if not target:
                raise WasiErrno(Errno.NOENT)
            if len(target) > MAX_LINK_TARGET:
                raise WasiErrno(Errno.NAMETOOLONG)
            pending.push(target)
    finally:
        for handle in stack:
            tree.leave(handle)
