"""The guest's file descriptor table: numbers, the rights each number carries, preopen names.

Rights belong to the descriptor, not the file: two numbers can name one open file with
different rights (after `fd_renumber`), and rights can only ever shrink.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NoReturn

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Filetype, Rights
from ..limits import default_max_open_files
from .files import Transfer, WasiFile
from .rights import lacking

_FD_READ: Final = Rights.FD_READ
_FD_WRITE: Final = Rights.FD_WRITE


_refusals: dict[tuple[Filetype, int], Transfer] = {}


def _denied(filetype: Filetype, right: int) -> Transfer:
    """The Transfer of a descriptor lacking `right`: every call fails as `lacking` says. One
    per file type and right, not one per descriptor: most opened files lack one of the two."""
    transfer = _refusals.get((filetype, right))
    if transfer is None:
        def refuse(bufs: object) -> NoReturn:
            raise WasiErrno(lacking(filetype, right))

        transfer = _refusals[filetype, right] = Transfer(refuse, refuse)
    return transfer


class Descriptor:
    """One guest fd number's view of a file. Change rights with `restrict`."""

    __slots__ = ("file", "rights_base", "rights_inheriting", "preopen", "read", "write")
    # fd_read's and fd_write's way into the file with the rights already checked, so the two
    # hottest calls do no rights arithmetic (see `restrict`).
    read: Transfer
    write: Transfer

    def __init__(self, file: WasiFile, rights_base: int, rights_inheriting: int,
                 preopen: bytes | None = None) -> None:
        self.file = file
        self.rights_base = rights_base
        self.rights_inheriting = rights_inheriting
        self.preopen = preopen  # the guest path, for preopened directories
        self._grant()

    def __repr__(self) -> str:
        return (f"Descriptor({self.file!r}, rights_base={self.rights_base:#x}, "
                f"rights_inheriting={self.rights_inheriting:#x}, preopen={self.preopen!r})")

    def restrict(self, rights_base: int, rights_inheriting: int) -> None:
        self.rights_base, self.rights_inheriting = rights_base, rights_inheriting
        self._grant()

    def refresh(self) -> None:
        """Take the file's reader and writer again, after its flags changed."""
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
    """Maps guest fd numbers to descriptors.

    A new number is the one released last, else the next never used, as wasmtime hands them
    out (POSIX and Node take the lowest free one). It matters to programs that emulate dup2
    with `fd_renumber`, which WASI refuses onto a free number: yowasp's yosys moves its stdout
    away and cannot move it back, and then the lowest free number, 1, would make the next file
    it opens receive its stdout; with wasmtime's order that output is lost, but no file is
    corrupted, and pywasi's runs stay identical to wasmtime's.

    At most `max_open` numbers are open at once (see `limits.default_max_open_files`):
    adding one more is EMFILE, so one guest cannot take the host process's descriptors.
    """

    __slots__ = ("_fds", "_free", "_next", "_refs", "descriptors", "max_open")

    def __init__(self, max_open: int | None = None) -> None:
        self.max_open = default_max_open_files() if max_open is None else max_open
        self._fds = _Numbers()
        # The open numbers, for reading; subscripting a closed one raises EBADF. (A plain
        # attribute, not a property: fd_read and fd_write look it up on every call.)
        self.descriptors: Mapping[int, Descriptor] = self._fds
        self._free: list[int] = []  # released numbers, the last released on top
        self._next = 0
        self._refs: dict[int, int] = {}  # id(file) -> how many numbers name it

    def __contains__(self, fd: int) -> bool:
        return fd in self._fds

    def __len__(self) -> int:
        return len(self._fds)

    def get(self, fd: int, rights: int = 0) -> Descriptor:
        """The descriptor for `fd`, which must carry all of `rights` (else see `lacking`)."""
        desc = self._fds[fd]
        if desc.rights_base & rights != rights:
            raise WasiErrno(lacking(desc.file.filetype, rights & ~desc.rights_base,
                                    desc.file.read_only))
        return desc

    def require_room(self) -> None:
        """EMFILE if no number can be added: ask before opening what would need one."""
        if len(self._fds) >= self.max_open:
            raise WasiErrno(Errno.MFILE)

    def add(self, desc: Descriptor) -> int:
        self.require_room()
        fd = self._unused()
        self._fds[fd] = desc
        self._refs[id(desc.file)] = self._refs.get(id(desc.file), 0) + 1
        return fd

    def _unused(self) -> int:
        if self._free:
            return self._free.pop()
        fd = self._next
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
        self._free.append(fd)
        self._unref(desc.file)

    def renumber(self, fd: int, to: int) -> None:
        """Move `fd` onto number `to`, closing what `to` named. Both must be open (EBADF
        otherwise): WASI has no dup2 onto a free number (the spec's text, wasi-testsuite's
        `renumber`, wasmtime and Node agree)."""
        self.get(fd)
        replaced = self.get(to)
        if fd == to:
            return
        self._fds[to] = self._fds.pop(fd)
        self._free.append(fd)
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
