"""sock_* system calls on the sockets the embedder handed over and those accepted from them."""

from __future__ import annotations

from typing import Final

from ..abi.errno import WasiErrno
from ..abi.layouts import U16
from ..abi.types import Errno, Fdflags, Filetype, Riflags, Rights, Sdflags
from ..sandbox import rights
from ..sandbox.fdtable import Descriptor
from ..sandbox.files import WasiFile
from .context import WasiContext
from .registry import syscall

_SOCKET_TYPES: Final = frozenset({Filetype.SOCKET_STREAM, Filetype.SOCKET_DGRAM})


def _socket(ctx: WasiContext, fd: int, needed: int) -> WasiFile:
    """The socket `fd` names: EBADF if none, ENOTSOCK if no socket, then the rights check."""
    if ctx.fds.get(fd).file.filetype not in _SOCKET_TYPES:
        raise WasiErrno(Errno.NOTSOCK)
    return ctx.fds.get(fd, needed).file


def _check_flags(flags: int, allowed: int) -> None:
    if flags & ~allowed:
        raise WasiErrno(Errno.INVAL)


@syscall
def sock_accept(ctx: WasiContext, fd: int, fdflags: int, fd_out: int) -> int:
    listener = _socket(ctx, fd, Rights.SOCK_ACCEPT)
    _check_flags(fdflags, Fdflags.NONBLOCK)
    ctx.memory.check(fd_out, 4)  # a bad pointer must not cost a connection
    ctx.fds.require_room()  # nor a full table
    connection = listener.sock_accept(fdflags)
    new_fd = ctx.fds.add(Descriptor(connection, rights.SOCKET & ctx.abi.all_rights, 0))
    ctx.memory.store_u32(fd_out, new_fd)
    return 0


@syscall
def sock_recv(ctx: WasiContext, fd: int, ri_data: int, ri_data_len: int, ri_flags: int,
              ro_datalen_out: int, ro_flags_out: int) -> int:
    file = _socket(ctx, fd, Rights.FD_READ)
    _check_flags(ri_flags, Riflags.ALL)
    memory = ctx.memory
    memory.check(ro_datalen_out, 4)
    memory.check(ro_flags_out, U16.size)
    nbytes, ro_flags = file.sock_recv(memory.iovecs(ri_data, ri_data_len), ri_flags)
    memory.store_u32(ro_datalen_out, nbytes)
    memory.pack(U16, ro_flags_out, ro_flags)
    return 0


@syscall
def sock_send(ctx: WasiContext, fd: int, si_data: int, si_data_len: int, si_flags: int,
              so_datalen_out: int) -> int:
    file = _socket(ctx, fd, Rights.FD_WRITE)
    _check_flags(si_flags, 0)  # siflags defines no flags
    memory = ctx.memory
    memory.check(so_datalen_out, 4)
    memory.store_u32(so_datalen_out, file.sock_send(memory.iovecs(si_data, si_data_len), si_flags))
    return 0


@syscall
def sock_shutdown(ctx: WasiContext, fd: int, how: int) -> int:
    file = _socket(ctx, fd, Rights.SOCK_SHUTDOWN)
    if not how:
        return Errno.INVAL
    _check_flags(how, Sdflags.ALL)
    file.sock_shutdown(how)
    return 0
