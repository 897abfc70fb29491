"""fd_* system calls: I/O and metadata on open descriptors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..abi.errno import WasiErrno
from ..abi.layouts import DIRENT, FDSTAT, PRESTAT
from ..abi.types import Advice, Errno, Fdflags, Preopentype, Rights, Whence
from ..memory import BufferIO, GuestMemory
from ..sandbox.files import Dirent
from .context import WasiContext
from .metadata import requested_times, store_filestat
from .registry import syscall

_ADVICES = frozenset(Advice)
_OFFSET_MAX = 2**63 - 1  # the host's off_t
_U64 = 2**64


def _offset(value: int) -> int:
    """A u64 file offset or length from the guest; past the host's off_t it is EINVAL (a
    negative off_t to the host), explicitly, not a Python OverflowError."""
    if value > _OFFSET_MAX:
        raise WasiErrno(Errno.INVAL)
    return value


def _delta(value: int) -> int:
    """fd_seek's s64 offset, whether the engine handed it over signed or as its u64 bits."""
    return value - _U64 if value > _OFFSET_MAX else value


@syscall
def fd_write(ctx: WasiContext, fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
    # The descriptor's `write` has its rights checked already: see `Descriptor`.
    ctx.memory.transfer(iovs, iovs_len, nwritten_out, ctx.fds.descriptors[fd].write)
    return 0


@syscall
def fd_read(ctx: WasiContext, fd: int, iovs: int, iovs_len: int, nread_out: int) -> int:
    ctx.memory.transfer(iovs, iovs_len, nread_out, ctx.fds.descriptors[fd].read)
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


def _at_offset(io: Callable[[Sequence[memoryview], int], int], offset: int) -> BufferIO:
    """A pread or pwrite at `offset`, in the shape `GuestMemory.transfer` runs."""
    return (lambda buf: io((buf,), offset), lambda bufs: io(bufs, offset))


@syscall
def fd_pread(ctx: WasiContext, fd: int, iovs: int, iovs_len: int, offset: int,
             nread_out: int) -> int:
    file = ctx.fds.get(fd, Rights.FD_READ | Rights.FD_SEEK).file
    ctx.memory.transfer(iovs, iovs_len, nread_out, _at_offset(file.pread, _offset(offset)))
    return 0


@syscall
def fd_pwrite(ctx: WasiContext, fd: int, iovs: int, iovs_len: int, offset: int,
              nwritten_out: int) -> int:
    file = ctx.fds.get(fd, Rights.FD_WRITE | Rights.FD_SEEK).file
    ctx.memory.transfer(iovs, iovs_len, nwritten_out, _at_offset(file.pwrite, _offset(offset)))
    return 0


@syscall
def fd_seek(ctx: WasiContext, fd: int, offset: int, whence: int, newoffset_out: int) -> int:
    offset = _delta(offset)
    origin = ctx.abi.whence.get(whence)
    # Asking where we are is all a tell-only descriptor may do.
    needed = Rights.FD_TELL if offset == 0 and origin == Whence.CUR else Rights.FD_SEEK
    file = ctx.fds.get(fd, needed).file
    if origin is None:
        raise WasiErrno(Errno.INVAL)
    ctx.memory.check(newoffset_out, 8)
    ctx.memory.store_u64(newoffset_out, file.seek(offset, origin))
    return 0


@syscall
def fd_tell(ctx: WasiContext, fd: int, offset_out: int) -> int:
    ctx.memory.store_u64(offset_out, ctx.fds.get(fd, Rights.FD_TELL).file.tell())
    return 0


@syscall
def fd_advise(ctx: WasiContext, fd: int, offset: int, length: int, advice: int) -> int:
    file = ctx.fds.get(fd, Rights.FD_ADVISE).file
    if advice not in _ADVICES:
        raise WasiErrno(Errno.INVAL)
    file.advise(_offset(offset), _offset(length), advice)
    return 0


@syscall
def fd_allocate(ctx: WasiContext, fd: int, offset: int, length: int) -> int:
    ctx.fds.get(fd, Rights.FD_ALLOCATE).file.allocate(_offset(offset), _offset(length))
    return 0


@syscall
def fd_sync(ctx: WasiContext, fd: int) -> int:
    ctx.fds.get(fd, Rights.FD_SYNC).file.sync()
    return 0


@syscall
def fd_datasync(ctx: WasiContext, fd: int) -> int:
    ctx.fds.get(fd, Rights.FD_DATASYNC).file.datasync()
    return 0


@syscall
def fd_fdstat_set_flags(ctx: WasiContext, fd: int, flags: int) -> int:
    desc = ctx.fds.get(fd, Rights.FD_FDSTAT_SET_FLAGS)
    if flags & ~Fdflags.ALL:
        raise WasiErrno(Errno.INVAL)
    desc.file.set_fdflags(flags)
    desc.refresh()  # NONBLOCK may change how the file reads and writes
    return 0


@syscall
def fd_fdstat_set_rights(ctx: WasiContext, fd: int, rights_base: int,
                         rights_inheriting: int) -> int:
    """Rights only ever shrink: asking for one the descriptor lacks is ENOTCAPABLE."""
    desc = ctx.fds.get(fd)
    if rights_base & ~desc.rights_base or rights_inheriting & ~desc.rights_inheriting:
        raise WasiErrno(Errno.NOTCAPABLE)
    desc.restrict(rights_base, rights_inheriting)
    return 0


@syscall
def fd_filestat_get(ctx: WasiContext, fd: int, filestat_out: int) -> int:
    store_filestat(ctx, filestat_out, ctx.fds.get(fd, Rights.FD_FILESTAT_GET).file.stat())
    return 0


@syscall
def fd_filestat_set_size(ctx: WasiContext, fd: int, size: int) -> int:
    ctx.fds.get(fd, Rights.FD_FILESTAT_SET_SIZE).file.set_size(_offset(size))
    return 0


@syscall
def fd_filestat_set_times(ctx: WasiContext, fd: int, atim: int, mtim: int,
                          fst_flags: int) -> int:
    file = ctx.fds.get(fd, Rights.FD_FILESTAT_SET_TIMES).file
    file.set_times(*requested_times(atim, mtim, fst_flags))
    return 0


@syscall
def fd_readdir(ctx: WasiContext, fd: int, buf: int, buf_len: int, cookie: int,
               bufused_out: int) -> int:
    """Fill the buffer completely, the last entry cut short if it does not fit: the caller
    then retries from the last whole entry's `d_next` with a bigger buffer. Entries are
    written into guest memory in place, one at a time, so the host's work is bounded by the
    directory, never by the buffer's length (a 4 GiB buffer costs what the listing costs)."""
    file = ctx.fds.get(fd, Rights.FD_READDIR).file
    write_dirents(ctx.memory, buf, buf_len, bufused_out, file.readdir(cookie))
    return 0


def write_dirents(memory: GuestMemory, buf: int, buf_len: int, bufused_out: int,
                  entries: Iterable[Dirent]) -> None:
    """fd_readdir's answer: `entries` packed into the buffer (see `fd_readdir`)."""
    out = memory.view(buf, buf_len)
    memory.check(bufused_out, 4)
    used = 0
    for entry in entries:
        if used == buf_len:
            break
        record = DIRENT.pack(entry.next, entry.ino, len(entry.name), entry.filetype) + entry.name
        take = min(len(record), buf_len - used)
        out[used : used + take] = record[:take]
        used += take
    memory.store_u32(bufused_out, used)


@syscall
def fd_renumber(ctx: WasiContext, fd: int, to: int) -> int:
    ctx.fds.renumber(fd, to)
    return 0
