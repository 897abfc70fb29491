"""Host directories no guest may reach or replace, whatever directory it was given.

pywasi's compiled-module cache holds native code that a later run executes, and the secret key
that authenticates it (see `engine.cache`). A guest handed a writable ancestor of it (``pywasi
run --dir ~`` is an everyday case) must neither read the key, nor write an entry, nor swap the
directory or one of its ancestors for something of its own (a symbolic link, a directory it
made, the real one renamed away), nor create it before the host does. The embedding side
passes the location in (`protect`; the sandbox knows nothing of engines), and the host
directory code asks before it acts:

* `refuse_directory`: a directory the guest enters or opens that *is* the cache directory (by
  device and inode, so renames, bind mounts and links on the way do not matter) is refused.
* `refuse_entry`: the name that is the cache directory in its parent, and the first name on
  its path that does not exist yet, are never entered, opened or changed; the names of its
  existing ancestors may be entered and opened, but never created, removed, renamed (from or
  to), hard-linked or symlinked over. An entry is named by (identity of its directory, name),
  so no spelling of a path, ``..`` or symbolic link gets around it.

Both paths to the location are protected: as written and with its existing links resolved.
A refusal is EACCES ("permission denied", what a guest's libc and programs understand; the
path does not escape, it is only forbidden). With nothing protected the checks cost nothing;
otherwise a set lookup per name, and an ``fstat`` per directory entered or opened.

What is protected is kept for the life of the process, refreshed whenever a location is
protected again (the cache does so each time it opens its directory). Should a protected
directory be deleted and its inode reused, the newcomer is refused too: the error is safe.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Final, NamedTuple

from ..abi.errno import WasiErrno
from ..abi.types import Errno

Identity = tuple[int, int]  # (st_dev, st_ino) of a directory
Entry = tuple[Identity, bytes]  # a name in a directory


class _Protected(NamedTuple):
    sealed: frozenset[Identity]  # directories never entered or opened
    hidden: frozenset[Entry]  # never entered, opened or changed
    fixed: frozenset[Entry]  # may be entered and opened, never changed
    names: frozenset[bytes]  # every name of `hidden` and `fixed`: the one-lookup pre-check
    # The protected directories and every existing directory on their paths: a lookup from
    # any other directory can never reach a protected one without crossing a mount point.
    above: frozenset[Identity]


_NOTHING: Final = _Protected(frozenset(), frozenset(), frozenset(), frozenset(), frozenset())
_by_location: dict[str, _Protected] = {}
_protected = _NOTHING
_lock = threading.Lock()


def _identity(st: os.stat_result) -> Identity:
    return st.st_dev, st.st_ino


def _entries_of(path: str) -> _Protected:
    """What protecting `path` means now: its ancestors' entries, its own, its identity."""
    sealed: set[Identity] = set()
    hidden: set[Entry] = set()
    fixed: set[Entry] = set()
    above: set[Identity] = set()
    for spelling in {os.path.abspath(path), os.path.realpath(path)}:
        parts = Path(spelling).parts
        parent = parts[0]
        for depth, name in enumerate(parts[1:], start=2):
            try:
                parent_identity = _identity(os.stat(parent))
            except OSError:
                break
            above.add(parent_identity)
            child = os.path.join(parent, name)
            exists = os.path.lexists(child)
            is_last = depth == len(parts)
            (fixed if exists and not is_last else hidden).add((parent_identity, os.fsencode(name)))
            if not exists:
                break  # deeper names cannot be reached: this one can never be made
            parent = child
        try:
            st = os.lstat(spelling)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            sealed.add(_identity(st))
    return _Protected(frozenset(sealed), frozenset(hidden), frozenset(fixed - hidden),
                      frozenset(name for _, name in hidden | fixed), frozenset(above | sealed))


def protect(path: str | os.PathLike[str]) -> None:
    """Keep guests away from directory `path` (which need not exist yet) from now on.

    Called again for the same path (say, once the host has created it), it takes the
    directories' current identities."""
    global _protected
    location = os.path.abspath(path)
    entries = _entries_of(location)
    with _lock:
        _by_location[location] = entries
        every = _by_location.values()
        _protected = _Protected(frozenset().union(*(part.sealed for part in every)),
                                frozenset().union(*(part.hidden for part in every)),
                                frozenset().union(*(part.fixed for part in every)),
                                frozenset().union(*(part.names for part in every)),
                                frozenset().union(*(part.above for part in every)))


def is_sealed(fd: int, st: os.stat_result | None = None) -> bool:
    """Whether host directory `fd` is one no guest may hold (say, as a preopen); `st` is its
    fstat, if the caller has one."""
    sealed = _protected.sealed
    return bool(sealed) and _identity(os.fstat(fd) if st is None else st) in sealed


def identity_of(fd: int) -> Identity:
    return _identity(os.fstat(fd))


def nothing_protected_beneath(fd: int, identity: Identity | None = None) -> bool:
    """Whether no protected directory or entry lies beneath host directory `fd` on its own
    mount: then a lookup from `fd` that crosses no mount point (openat2's RESOLVE_NO_XDEV)
    needs none of these checks, and the kernel may resolve it whole (see `resolver`).

    A directory below `fd` on its mount has `fd` among its physical ancestors, which are
    the existing directories on its real path: so `fd` must not be one of those of any
    protected location (nor the location). Guests cannot change that: the names of those
    ancestors can never be renamed, removed or replaced by a guest (`refuse_entry`).

    `identity`, `fd`'s own if the caller keeps it (it is fixed while `fd` is open), saves
    an fstat on every lookup."""
    above = _protected.above
    return not above or (identity or _identity(os.fstat(fd))) not in above


def refuse_directory(fd: int, st: os.stat_result | None = None) -> None:
    """EACCES if the directory `fd` the guest just entered or opened is protected; the caller
    closes `fd` then. `st` is its fstat, if the caller has one."""
    if is_sealed(fd, st):
        raise WasiErrno(Errno.ACCES)


def refuse_entry(dir_fd: int, name: bytes, *, changing: bool) -> None:
    """EACCES if the guest may not use entry `name` of host directory `dir_fd`: enter or open
    it (`changing` False), or create, remove, rename or link it (`changing` True)."""
    protected = _protected
    if name not in protected.names:
        return
    entry = (_identity(os.fstat(dir_fd)), name)
    if entry in protected.hidden or changing and entry in protected.fixed:
        raise WasiErrno(Errno.ACCES)
