"""The guest's file descriptor table: numbers, the rights each number carries, preopen names.

Rights belong to the descriptor, not the file: two numbers can name one open file with
different rights (after `fd_renumber`), and rights can only ever shrink.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NoReturn

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Filetype, Rights
from .files import Transfer, WasiFile
from .rights import lacking

_FD_READ: Final = Rights.FD_READ
_FD_WRITE: Final = Rights.FD_WRITE


def _denied(filetype: Filetype, right: int) -> Transfer:
    """The Transfer of a descriptor lacking `right`: every call fails as `lacking` says."""

    def refuse(bufs: object) -> NoReturn:
        raise WasiErrno(lacking(filetype, right))

    return Transfer(refuse, refuse)


@dataclass(slots=True)
class Descriptor:
    """One guest fd number's view of a file. Change rights with `restrict`."""

    file: WasiFile
    rights_base: int
    rights_inheriting: int
    preopen: bytes | None = None  # the guest path, for preopened directories
    # fd_read's and fd_write's way into the file with the rights already checked, so the two
    # hottest calls do no rights arithmetic (see `restrict`).
    read: Transfer = field(init=False, repr=False)
    write: Transfer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._grant()

    def restrict(self, rights_base: int, rights_inheriting: int) -> None:
        self.rights_base, self.rights_inheriting = rights_base, rights_inheriting
        self._grant()

    def _grant(self) -> None:
        file, base = self.file, self.rights_base
        self.read = file.reader() if base & _FD_READ else _denied(file.filetype, _FD_READ)
        self.write = file.writer() if base & _FD_WRITE else _denied(file.filetype, _FD_WRITE)


class _Numbers(dict[int, Descriptor]):
    """fd number -> descriptor, where a missing number is EBADF: a lookup on the hot path is
    then a single subscript, with no Python frame."""

    def __missing__(self, fd: int) -> NoReturn:
        raise WasiErrno(Errno.BADF)


class FdTable:
    """Maps guest fd numbers to descriptors; new numbers are the lowest free ones."""

    __slots__ = ("_fds", "_free", "_next", "_refs", "descriptors", "limit")

    def __init__(self) -> None:
        self._fds = _Numbers()
        # The open numbers, for reading; subscripting a closed one raises EBADF. (A plain
        # attribute, not a property: fd_read and fd_write look it up on every call.)
        self.descriptors: Mapping[int, Descriptor] = self._fds
        self._free: list[int] = []  # heap of released numbers below `_next`
        self._next = 0
        self._refs: dict[int, int] = {}  # id(file) -> how many numbers name it
        # The most numbers open at once (`Limits.max_resources`); one more is EMFILE.
        self.limit: int | None = None

    def __contains__(self, fd: int) -> bool:
        return fd in self._fds

    def __len__(self) -> int:
        return len(self._fds)

    def get(self, fd: int, rights: int = 0) -> Descriptor:
        """The descriptor for `fd`, which must carry all of `rights` (else see `lacking`)."""
        desc = self._fds[fd]
        if desc.rights_base & rights != rights:
            raise WasiErrno(lacking(desc.file.filetype, rights & ~desc.rights_base))
        return desc

    def add(self, desc: Descriptor) -> int:
        if self.limit is not None and len(self._fds) >= self.limit:
            raise WasiErrno(Errno.MFILE)
        fd = self._lowest_free()
        self._fds[fd] = desc
        self._refs[id(desc.file)] = self._refs.get(id(desc.file), 0) + 1
        return fd

    def _lowest_free(self) -> int:
        # `_free` may hold stale numbers (taken again by `renumber`); skip them lazily.
        while self._free:
            fd = heapq.heappop(self._free)
            if fd not in self._fds:
                return fd
        fd = self._next
        while fd in self._fds:  # numbers claimed above `_next` by `renumber`
            fd += 1
        self._next = fd + 1
        return fd

    def _unref(self, file: WasiFile) -> None:
        left = self._refs[id(file)] - 1
        if left:
            self._refs[id(file)] = left
        else:
            del self._refs[id(file)]
            file.close()

    def close(self, fd: int) -> None:
        desc = self._fds.pop(fd, None)
        if desc is None:
            raise WasiErrno(Errno.BADF)
        if fd < self._next:
            heapq.heappush(self._free, fd)
        self._unref(desc.file)

    def renumber(self, fd: int, to: int) -> None:
        """Move `fd` to number `to`, closing what `to` named; `to` may also be a free number."""
        self.get(fd)  # EBADF for a closed `fd`, even when `fd == to`
        if fd == to:
            return
        replaced = self._fds.get(to)
        self._fds[to] = self._fds.pop(fd)
        if fd < self._next:
            heapq.heappush(self._free, fd)
        if replaced is not None:
            self._unref(replaced.file)

    def close_all(self) -> None:
        """End of the run: close every open file once, leaving no host descriptor behind."""
        files = {id(desc.file): desc.file for desc in self._fds.values()}
        self._fds.clear()
        self._free.clear()
        self._refs.clear()
        self._next = 0
        for file in files.values():
            file.close()

    def items(self) -> list[tuple[int, Descriptor]]:
        return sorted(self._fds.items())
