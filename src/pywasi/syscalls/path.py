"""path_* system calls: operations on paths beneath a directory descriptor.

Each call checks the directory's rights and the guest's strings, then hands the path to the
directory object, which resolves it inside the sandbox (see `sandbox.resolver`).
"""

from __future__ import annotations

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Fdflags, Lookupflags, Oflags, Rights
from ..sandbox import rights
from ..sandbox.fdtable import Descriptor
from ..sandbox.resolver import PATH_MAX
from .context import WasiContext
from .metadata import requested_times, store_filestat
from .registry import syscall

_READING = Rights.FD_READ | Rights.FD_READDIR
_WRITING = Rights.FD_WRITE | Rights.FD_ALLOCATE | Rights.FD_FILESTAT_SET_SIZE


def _path(ctx: WasiContext, ptr: int, length: int) -> bytes:
    """A guest path string; NUL anywhere in it is EINVAL (the host would cut it there). One
    longer than PATH_MAX is ENAMETOOLONG (once it is known to be in bounds) before it is read,
    so a guest cannot make the host copy and split megabytes."""
    memory = ctx.memory
    if length > PATH_MAX:
        memory.check(ptr, length)  # EFAULT first
        raise WasiErrno(Errno.NAMETOOLONG)
    path = memory.read(ptr, length)
    if b"\0" in path:
        raise WasiErrno(Errno.INVAL)
    return path


def _follow(lookupflags: int) -> bool:
    if lookupflags & ~Lookupflags.ALL:
        raise WasiErrno(Errno.INVAL)
    return bool(lookupflags & Lookupflags.SYMLINK_FOLLOW)


@syscall
def path_open(ctx: WasiContext, fd: int, dirflags: int, path: int, path_len: int, oflags: int,
              rights_base: int, rights_inheriting: int, fdflags: int, opened_fd_out: int) -> int:
    """The new descriptor gets the rights asked for, within what the directory passes on and
    what makes sense for what was opened; reading and writing follow from those rights.

    With CREAT and EXCL a last symbolic link is never followed, even a dangling one: it
    exists, so the call is EEXIST and creates nothing (POSIX open(2))."""
    needed = Rights.PATH_OPEN
    if oflags & Oflags.CREAT:
        needed |= Rights.PATH_CREATE_FILE
    if oflags & Oflags.TRUNC:
        needed |= Rights.PATH_FILESTAT_SET_SIZE
    directory = ctx.fds.get(fd, needed)
    if oflags & ~Oflags.ALL or fdflags & ~Fdflags.ALL:
        raise WasiErrno(Errno.INVAL)
    if oflags & Oflags.CREAT and oflags & Oflags.DIRECTORY:
        raise WasiErrno(Errno.INVAL)
    follow = _follow(dirflags) and not (oflags & Oflags.CREAT and oflags & Oflags.EXCL)
    name = _path(ctx, path, path_len)
    ctx.memory.check(opened_fd_out, 4)
    ctx.fds.require_room()  # EMFILE before anything is opened or created
    base = rights_base & directory.rights_inheriting
    inheriting = rights_inheriting & directory.rights_inheriting
    # The write right always asks for write access, so a directory opened with it is EISDIR
    # (wasi-testsuite path_open_preopen); the rights that only imply writing (allocate,
    # truncate) are left out for what must be a directory, where they cannot apply.
    write = bool(base & Rights.FD_WRITE) or bool(base & _WRITING) and not oflags & Oflags.DIRECTORY
    file = directory.file.open_at(name, follow, oflags, fdflags, bool(base & _READING), write)
    max_base, max_inheriting = rights.maximum(file.filetype, seekable=file.seekable,
                                              read_only=file.read_only)
    ctx.memory.store_u32(
        opened_fd_out, ctx.fds.add(Descriptor(file, base & max_base, inheriting & max_inheriting))
    )
    return 0


@syscall
def path_create_directory(ctx: WasiContext, fd: int, path: int, path_len: int) -> int:
    directory = ctx.fds.get(fd, Rights.PATH_CREATE_DIRECTORY).file
    directory.mkdir_at(_path(ctx, path, path_len))
    return 0


@syscall
def path_filestat_get(ctx: WasiContext, fd: int, flags: int, path: int, path_len: int,
                      filestat_out: int) -> int:
    directory = ctx.fds.get(fd, Rights.PATH_FILESTAT_GET).file
    st = directory.stat_at(_path(ctx, path, path_len), _follow(flags))
    store_filestat(ctx, filestat_out, st)
    return 0


@syscall
def path_filestat_set_times(ctx: WasiContext, fd: int, flags: int, path: int, path_len: int,
                            atim: int, mtim: int, fst_flags: int) -> int:
    directory = ctx.fds.get(fd, Rights.PATH_FILESTAT_SET_TIMES).file
    follow = _follow(flags)
    times = requested_times(atim, mtim, fst_flags)
    directory.set_times_at(_path(ctx, path, path_len), follow, *times)
    return 0


@syscall
def path_link(ctx: WasiContext, old_fd: int, old_flags: int, old_path: int, old_path_len: int,
              new_fd: int, new_path: int, new_path_len: int) -> int:
    """Following a last symbolic link is EINVAL, as wasmtime has it (wasmtime's path_link test
    requires that; wasi-testsuite's accepts it or ENOENT): a hard link names the link itself."""
    source = ctx.fds.get(old_fd, Rights.PATH_LINK_SOURCE).file
    target = ctx.fds.get(new_fd, Rights.PATH_LINK_TARGET).file
    if _follow(old_flags):
        raise WasiErrno(Errno.INVAL)
    source.link_at(_path(ctx, old_path, old_path_len), target, _path(ctx, new_path, new_path_len))
    return 0


@syscall
def path_readlink(ctx: WasiContext, fd: int, path: int, path_len: int, buf: int, buf_len: int,
                  bufused_out: int) -> int:
    """A target longer than the buffer is cut to fit, as readlink(2) does. An absolute
    target (which only the host can have planted: `path_symlink` refuses them) is
    ENOTCAPABLE, the resolver's answer for an escape: it would tell the guest a host path."""
    directory = ctx.fds.get(fd, Rights.PATH_READLINK).file
    memory = ctx.memory
    out = memory.view(buf, buf_len)
    memory.check(bufused_out, 4)
    target = directory.readlink_at(_path(ctx, path, path_len))
    if target.startswith(b"/"):
        raise WasiErrno(Errno.NOTCAPABLE)
    target = target[:buf_len]
    out[: len(target)] = target
    memory.store_u32(bufused_out, len(target))
    return 0


@syscall
def path_remove_directory(ctx: WasiContext, fd: int, path: int, path_len: int) -> int:
    directory = ctx.fds.get(fd, Rights.PATH_REMOVE_DIRECTORY).file
    directory.rmdir_at(_path(ctx, path, path_len))
    return 0


@syscall
def path_rename(ctx: WasiContext, fd: int, old_path: int, old_path_len: int, new_fd: int,
                new_path: int, new_path_len: int) -> int:
    source = ctx.fds.get(fd, Rights.PATH_RENAME_SOURCE).file
    target = ctx.fds.get(new_fd, Rights.PATH_RENAME_TARGET).file
    source.rename_at(_path(ctx, old_path, old_path_len), target,
                     _path(ctx, new_path, new_path_len))
    return 0


@syscall
def path_symlink(ctx: WasiContext, old_path: int, old_path_len: int, fd: int, new_path: int,
                 new_path_len: int) -> int:
    directory = ctx.fds.get(fd, Rights.PATH_SYMLINK).file
    directory.symlink_at(_path(ctx, old_path, old_path_len), _path(ctx, new_path, new_path_len))
    return 0


@syscall
def path_unlink_file(ctx: WasiContext, fd: int, path: int, path_len: int) -> int:
    directory = ctx.fds.get(fd, Rights.PATH_UNLINK_FILE).file
    directory.unlink_at(_path(ctx, path, path_len))
    return 0
