"""Collects the system call implementations and binds them to one `WasiContext`.

An implementation is a plain function ``(ctx, *args) -> errno`` named after its WASI import.
It reads and writes guest memory through ``ctx.memory`` and signals failure by raising
`WasiErrno`; a host `OSError` is translated to the matching WASI errno here, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..abi.errno import WasiErrno, errno_from_os
from ..abi.types import Errno
from ..errors import NotStartedError
from ..memory import UNBOUND_MEMORY
from .context import WasiContext

Implementation = Callable[..., int]
HostFunction = Callable[..., "int | None"]

IMPLEMENTATIONS: Final[dict[str, Implementation]] = {}


def syscall(fn: Implementation) -> Implementation:
    """Register `fn` as the implementation of the WASI function of the same name."""
    IMPLEMENTATIONS[fn.__name__] = fn
    return fn


def _not_implemented(ctx: WasiContext, *args: int) -> int:
    return Errno.NOSYS


def bind(ctx: WasiContext, name: str, impl: Implementation) -> HostFunction:
    """A callable taking the guest's raw arguments and returning the errno as an int."""

    def host_function(*args: int) -> int:
        if ctx.memory is UNBOUND_MEMORY:
            raise NotStartedError()
        try:
            return impl(ctx, *args)
        except WasiErrno as error:
            return error.errno
        except OSError as error:
            return errno_from_os(error)
        except (OverflowError, ValueError):
            # Out-of-range numbers from the guest (an offset past 2**63, say).
            return Errno.INVAL

    host_function.__name__ = host_function.__qualname__ = name
    return host_function


def build_imports(ctx: WasiContext) -> dict[str, HostFunction]:
    """Every function of the context's ABI, bound to it; unimplemented ones return ENOSYS."""
    return {
        name: bind(ctx, name, IMPLEMENTATIONS.get(name, _not_implemented))
        for name in ctx.abi.signatures
    }
