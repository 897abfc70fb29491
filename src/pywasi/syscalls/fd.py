"""fd_* system calls: I/O and metadata on open descriptors."""

from __future__ import annotations

from ..abi.errno import WasiErrno
from ..abi.layouts import FDSTAT, PRESTAT
from ..abi.types import Errno, Preopentype, Rights
from .context import WasiContext
from .registry import syscall


@syscall
def fd_write(ctx: WasiContext, fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
    file = ctx.fds.get(fd, Rights.FD_WRITE).file
    memory = ctx.memory
    memory.check(nwritten_out, 4)
    memory.store_u32(nwritten_out, file.write(memory.iovecs(iovs, iovs_len)))
    return 0


@syscall
def fd_read(ctx: WasiContext, fd: int, iovs: int, iovs_len: int, nread_out: int) -> int:
    file = ctx.fds.get(fd, Rights.FD_READ).file
    memory = ctx.memory
    memory.check(nread_out, 4)
    memory.store_u32(nread_out, file.read(memory.iovecs(iovs, iovs_len)))
    return 0


@syscall
def fd_close(ctx: WasiContext, fd: int) -> int:
    ctx.fds.close(fd)
    return 0


@syscall
def fd_fdstat_get(ctx: WasiContext, fd: int, fdstat_out: int) -> int:
    desc = ctx.fds.get(fd)
    ctx.memory.pack(
        FDSTAT, fdstat_out,
        desc.file.filetype, desc.file.fdflags, desc.rights_base, desc.rights_inheriting,
    )
    return 0


def _preopen_name(ctx: WasiContext, fd: int) -> bytes:
    name = ctx.fds.get(fd).preopen
    if name is None:
        # EBADF, not EINVAL: wasi-libc stops scanning for preopens at the first EBADF.
        raise WasiErrno(Errno.BADF)
    return name


@syscall
def fd_prestat_get(ctx: WasiContext, fd: int, prestat_out: int) -> int:
    ctx.memory.pack(PRESTAT, prestat_out, Preopentype.DIR, len(_preopen_name(ctx, fd)))
    return 0


@syscall
def fd_prestat_dir_name(ctx: WasiContext, fd: int, path: int, path_len: int) -> int:
    name = _preopen_name(ctx, fd)
    if path_len < len(name):
        return Errno.NAMETOOLONG
    ctx.memory.write(path, name)
    return 0
