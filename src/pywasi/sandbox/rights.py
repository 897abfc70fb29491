"""Which rights make sense for which kind of object: the most a descriptor can carry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..abi.types import Errno, Filetype
from ..abi.types import Rights as R

if TYPE_CHECKING:
    from collections.abc import Callable

REGULAR_FILE: Final = (
    R.FD_DATASYNC | R.FD_READ | R.FD_SEEK | R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_TELL
    | R.FD_WRITE | R.FD_ADVISE | R.FD_ALLOCATE | R.FD_FILESTAT_GET | R.FD_FILESTAT_SET_SIZE
    | R.FD_FILESTAT_SET_TIMES | R.POLL_FD_READWRITE
)

DIRECTORY: Final = (
    R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_DATASYNC | R.PATH_CREATE_DIRECTORY
    | R.PATH_CREATE_FILE | R.PATH_LINK_SOURCE | R.PATH_LINK_TARGET | R.PATH_OPEN | R.FD_READDIR
    | R.PATH_READLINK | R.PATH_RENAME_SOURCE | R.PATH_RENAME_TARGET | R.PATH_FILESTAT_GET
    | R.PATH_FILESTAT_SET_SIZE | R.PATH_FILESTAT_SET_TIMES | R.FD_FILESTAT_GET
    | R.FD_FILESTAT_SET_TIMES | R.PATH_SYMLINK | R.PATH_REMOVE_DIRECTORY | R.PATH_UNLINK_FILE
    | R.POLL_FD_READWRITE
)

# What a directory passes on to what is opened beneath it.
DIRECTORY_INHERITING: Final = DIRECTORY | REGULAR_FILE

SEEK: Final = R.FD_SEEK | R.FD_TELL

# A FIFO, character device or socket reached by path_open: a stream, with no size to set, and
# a position only where the host object has one (see `maximum`).
STREAM: Final = REGULAR_FILE & ~int(SEEK | R.FD_ALLOCATE | R.FD_FILESTAT_SET_SIZE)


# Rights only a directory can carry: path lookups and listing.
_DIRECTORY_ONLY: Final = DIRECTORY & ~REGULAR_FILE
# Reading and writing are the descriptor's access mode, as in POSIX.
_ACCESS: Final = R.FD_READ | R.FD_WRITE


def lacking(filetype: Filetype, missing: int, read_only: bool = False) -> Errno:
    """The errno for a call needing rights `missing` that a descriptor of `filetype` lacks.

    The wrong kind of descriptor is not a capability question: file I/O on a directory is
    EBADF and a path call on a non-directory ENOTDIR, and so is reading or writing a descriptor
    not open for it EBADF, as in POSIX. That is what wasmtime answers and what wasi-testsuite
    (directory_seek, dir_fd_op_failures, path_open_dirfd_not_dir,
    path_open_read_without_rights) expects. A change to a read-only object (creating,
    truncating, removing, renaming, linking, times, sizes: rights its descriptors never carry)
    is EROFS, what POSIX programs expect of a read-only tree (perror: "Read-only file
    system"); other rights, which the guest itself dropped, are ENOTCAPABLE.
    """
    if filetype == Filetype.DIRECTORY:
        if missing & ~DIRECTORY:
            return Errno.BADF
    elif missing & _DIRECTORY_ONLY:
        return Errno.NOTDIR
    if missing & _ACCESS:
        return Errno.BADF
    if read_only and missing & (CHANGING_PATHS | CHANGING_FILES):
        return Errno.ROFS
    return Errno.NOTCAPABLE


# The rights to change a tree, and to change a file's contents or metadata.
CHANGING_PATHS: Final = (
    R.PATH_CREATE_DIRECTORY | R.PATH_CREATE_FILE | R.PATH_LINK_SOURCE | R.PATH_LINK_TARGET
    | R.PATH_RENAME_SOURCE | R.PATH_RENAME_TARGET | R.PATH_FILESTAT_SET_SIZE
    | R.PATH_FILESTAT_SET_TIMES | R.PATH_SYMLINK | R.PATH_REMOVE_DIRECTORY | R.PATH_UNLINK_FILE
)
CHANGING_FILES: Final = (
    R.FD_WRITE | R.FD_ALLOCATE | R.FD_FILESTAT_SET_SIZE | R.FD_FILESTAT_SET_TIMES
)


def maximum(filetype: Filetype, *, seekable: Callable[[], bool] | None = None,
            read_only: bool = False) -> tuple[int, int]:
    """The (base, inheriting) rights that make sense for an object of `filetype`.

    A stream that can seek (a character device like /dev/null, as lseek(2) says) keeps seek
    and tell, as on Linux, in wasmtime and in Node; `seekable` is asked only of a stream, as
    it may cost the host a system call. A read-only object carries no right to
    change anything. A read-only directory still passes the file-changing rights on: what is
    opened beneath it is read-only too and cannot take them, but asking for write access must
    reach the directory, so that opening for writing fails with EROFS instead of quietly
    giving a descriptor that cannot write.
    """
    if filetype == Filetype.DIRECTORY:
        base, inheriting = DIRECTORY, DIRECTORY_INHERITING
    elif filetype in (Filetype.REGULAR_FILE, Filetype.BLOCK_DEVICE):
        base, inheriting = REGULAR_FILE, 0
    else:
        base, inheriting = (STREAM | SEEK if seekable is not None and seekable() else STREAM), 0
    if read_only:
        return base & ~(CHANGING_PATHS | CHANGING_FILES), inheriting & ~CHANGING_PATHS
    return base, inheriting


# Listening and connected sockets alike; the host answers EINVAL for what a kind cannot do.
SOCKET: Final = (
    R.FD_READ | R.FD_WRITE | R.FD_FDSTAT_SET_FLAGS | R.FD_FILESTAT_GET | R.POLL_FD_READWRITE
    | R.SOCK_SHUTDOWN | R.SOCK_ACCEPT
)
