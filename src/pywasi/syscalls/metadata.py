"""File metadata shared by the fd_* and path_* calls: filestat records and set_times flags."""

from __future__ import annotations

import time

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Fstflags
from ..sandbox.files import Filestat
from .context import WasiContext


def store_filestat(ctx: WasiContext, ptr: int, st: Filestat) -> None:
    """Write `st` in the ABI's filestat layout, clamping nlink to what its field can hold and
    timestamps before 1970 (negative on the host) to 0, since WASI's are unsigned. (Unpacked
    and clamped without min/max calls: this is on every stat.)"""
    dev, ino, filetype, nlink, size, atim, mtim, ctim = st
    abi = ctx.abi
    ctx.memory.pack(
        abi.filestat, ptr, dev, ino, filetype, nlink if nlink < abi.max_nlink else abi.max_nlink,
        size, atim if atim > 0 else 0, mtim if mtim > 0 else 0, ctim if ctim > 0 else 0,
    )


def requested_times(atim: int, mtim: int, fst_flags: int) -> tuple[int | None, int | None]:
    """The (atim, mtim) in ns to set, None for one to leave alone; `*_NOW` read from the
    realtime clock. A timestamp both given and `*_NOW`, or an unknown flag, is EINVAL."""
    if fst_flags & ~Fstflags.ALL:
        raise WasiErrno(Errno.INVAL)
    now = time.time_ns()
    return (_pick(atim, now, fst_flags, Fstflags.ATIM, Fstflags.ATIM_NOW),
            _pick(mtim, now, fst_flags, Fstflags.MTIM, Fstflags.MTIM_NOW))


def _pick(given: int, now: int, flags: int, set_given: int, set_now: int) -> int | None:
    if flags & set_given and flags & set_now:
        raise WasiErrno(Errno.INVAL)
    return given if flags & set_given else now if flags & set_now else None
