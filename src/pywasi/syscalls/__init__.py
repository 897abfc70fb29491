"""WASI system calls, one module per group; importing this package registers them all."""

from . import args_env, clocks, fd, path, poll, proc, random, sockets  # noqa: F401  (registration)
from .context import WasiContext
from .registry import IMPLEMENTATIONS, HostFunction, SystemCall, build_imports, errno_of

__all__ = [
    "IMPLEMENTATIONS", "HostFunction", "SystemCall", "WasiContext", "build_imports", "errno_of",
]
