"""WASI system calls, one module per group; importing this package registers them all."""

from . import args_env, clocks, fd, path, poll, proc, random, sockets  # noqa: F401  (registration)
from .context import WasiContext
from .registry import (
    IMPLEMENTATIONS,
    HostFunction,
    ImportObject,
    SystemCall,
    build_imports,
    errno_of,
    wrap_system_calls,
)

__all__ = [
    "IMPLEMENTATIONS", "HostFunction", "ImportObject", "SystemCall", "WasiContext",
    "build_imports", "errno_of", "wrap_system_calls",
]
