"""Linux's ``openat2`` (5.6+): a directory path resolved by the kernel, beneath a directory
descriptor, in one system call instead of one ``openat`` per component.

The resolver uses it (see `resolver.resolve`) for the directories of a path, with
``RESOLVE_BENEATH`` (a ``..`` that would leave the starting directory, even for a moment, is
EXDEV: WASI's own rule), ``RESOLVE_NO_SYMLINKS`` (a path through a link, magic ones included,
is left to the walk, whose link rules are not the kernel's) and ``RESOLVE_NO_XDEV`` (no mount
point crossed, so everything reached is a plain descendant of the start, on its mount). This
is the one module that calls it: ``syscall(2)`` through ctypes, as Python has no binding.
Where the kernel lacks it (ENOSYS), a seccomp filter refuses it (EPERM), or
``PYWASI_OPENAT2=0`` is set, `open_directory` is None and the resolver always walks.
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
_DIRECTORY_FLAGS: Final = getattr(os, "O_PATH", 0) | os.O_DIRECTORY | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


_HOW: Final = _OpenHow(_DIRECTORY_FLAGS, 0, _RESOLVE)  # read by the kernel at every call


def _bind() -> Callable[[int, bytes], int] | None:
    """The directory opener, if this kernel has openat2 and it may be used; else None."""
    if not sys.platform.startswith("linux") or os.environ.get("PYWASI_OPENAT2", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                        ctypes.c_size_t]
    how_address, how_size = ctypes.addressof(_HOW), ctypes.sizeof(_HOW)

    def open_directory(dir_fd: int, path: bytes) -> int:
        """Directory `path` beneath `dir_fd` as an O_PATH descriptor; -1 with any error (the
        caller then walks, which gives the exact errno)."""
        return int(syscall(_SYS_OPENAT2, dir_fd, path, how_address, how_size))

    probe = open_directory(-100, b".")  # AT_FDCWD: the kernel has it, and lets us use it
    if probe < 0:
        return None
    os.close(probe)
    return open_directory


open_directory: Final = _bind()
