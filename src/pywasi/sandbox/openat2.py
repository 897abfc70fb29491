"""Linux's ``openat2`` (5.6+): a path resolved by the kernel, beneath a directory descriptor,
in one system call instead of one ``openat`` per component.

The resolver uses it (see `resolver.resolve` and `resolver.open_beneath`) with
``RESOLVE_BENEATH`` (a ``..`` that would leave the starting directory, even for a moment, is
EXDEV: WASI's own rule), ``RESOLVE_NO_SYMLINKS`` (a path through a link, magic ones included,
the last name's too, is left to the walk, whose link rules are not the kernel's) and
``RESOLVE_NO_XDEV`` (no mount point crossed, so everything reached is a plain descendant of
the start, on its mount). This is the one module that calls it: ``syscall(2)`` through ctypes,
as Python has no binding. Where the kernel lacks it (ENOSYS), a seccomp filter refuses it
(EPERM), or ``PYWASI_OPENAT2=0`` is set, `openat2` is None and the resolver always walks.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from typing import Final

_SYS_OPENAT2: Final = 437  # the same number on every Linux architecture (a "generic" syscall)
RESOLVE_NO_XDEV: Final = 0x01
RESOLVE_NO_SYMLINKS: Final = 0x04  # implies RESOLVE_NO_MAGICLINKS
RESOLVE_BENEATH: Final = 0x08
_RESOLVE: Final = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV
DIRECTORY_FLAGS: Final = getattr(os, "O_PATH", 0) | os.O_DIRECTORY | os.O_CLOEXEC
"""Flags for a directory on the way: search access is all it needs."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


Openat2 = Callable[[int, bytes, int, int], int]


def _bind() -> Openat2 | None:
    """The opener, if this kernel has openat2 and it may be used; else None."""
    if not sys.platform.startswith("linux") or os.environ.get("PYWASI_OPENAT2", "1") == "0":
        return None
    try:
        syscall = ctypes.CDLL(None).syscall
    except (OSError, AttributeError):
        return None
    # No argtypes: converting the arguments by them costs more than the system call. Each
    # argument is passed as a C value of the width the kernel reads (the descriptor as an
    # int, which it truncates to anyway), the constant ones made once.
    syscall.restype = ctypes.c_long
    number, size = ctypes.c_long(_SYS_OPENAT2), ctypes.c_size_t(ctypes.sizeof(_OpenHow))
    # One open_how per (flags, mode), never changed once made (another thread's call may be
    # reading it): a bounded set, as flags come from a fixed list of bits.
    hows: dict[tuple[int, int], ctypes._Pointer[_OpenHow]] = {}

    def openat2(dir_fd: int, path: bytes, flags: int, mode: int) -> int:
        """`path` beneath `dir_fd` opened with `flags` and `mode` (ignored without O_CREAT,
        as by open(2): openat2 would refuse it); -1 with any error (the caller then walks,
        which gives the exact errno)."""
        if not flags & os.O_CREAT:
            mode = 0
        how = hows.get((flags, mode))
        if how is None:
            how = hows.setdefault((flags, mode), ctypes.pointer(_OpenHow(flags, mode, _RESOLVE)))
        return int(syscall(number, dir_fd, path, how, size))

    # From AT_FDCWD: the kernel has openat2, and lets us call it.
    probe = openat2(-100, b".", DIRECTORY_FLAGS, 0)
    if probe < 0:
        return None
    os.close(probe)
    return openat2


openat2: Final = _bind()
