"""WASI system calls, one module per group; importing this package registers them all."""

from . import args_env, clocks, fd, path, poll, proc, random, sockets  # noqa: F401  (registration)
from .context import WasiContext
from .registry import IMPLEMENTATIONS, HostFunction, build_imports

__all__ = ["IMPLEMENTATIONS", "HostFunction", "WasiContext", "build_imports"]
