"""Collects the system call implementations and binds them to one `WasiContext`.

An implementation is a plain function ``(ctx, *args) -> errno`` named after its WASI import.
It reads and writes guest memory through ``ctx.memory`` and signals failure by raising
`WasiErrno`; a host `OSError` is translated to the matching WASI errno here, in one place
(`errno_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..abi.errno import WasiErrno, errno_from_os
from ..abi.types import Errno
from ..errors import NotStartedError
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


def _not_started(ctx: WasiContext, *args: int) -> int:
    raise NotStartedError()


def errno_of(error: BaseException) -> int | None:
    """The errno a system call returns for `error`; None if the error must propagate."""
    if isinstance(error, WasiErrno):
        return error.errno
    if isinstance(error, OSError):
        return errno_from_os(error)
    if isinstance(error, (OverflowError, ValueError)):
        return Errno.INVAL  # out-of-range numbers from the guest (an offset past 2**63, say)
    return None


class SystemCall:
    """One WASI function bound to a context.

    Calling it takes the guest's raw integer arguments and returns the errno, as Node's
    ``wasiImport`` functions do. Engines instead call ``implementation(context, *args)``
    themselves and translate its exceptions with `errno_of`, saving two Python frames on
    every host call. Until the WASI object is started, both raise `NotStartedError`.
    """

    __slots__ = ("__name__", "_enabled", "context", "implementation")

    def __init__(self, ctx: WasiContext, name: str, implementation: Implementation) -> None:
        self.__name__ = name
        self._enabled = implementation
        self.context = ctx
        self.implementation: Implementation = _not_started

    def enable(self) -> None:
        """Start serving calls (once the context's memory is bound)."""
        self.implementation = self._enabled

    def __call__(self, *args: int) -> int:
        try:
            return self.implementation(self.context, *args)
        except Exception as error:
            errno = errno_of(error)
            if errno is None:
                raise
            return errno

    def __repr__(self) -> str:
        return f"<WASI system call {self.__name__}>"


def build_imports(ctx: WasiContext) -> dict[str, SystemCall]:
    """Every function of the context's ABI, bound to it; unimplemented ones return ENOSYS."""
    return {
        name: SystemCall(ctx, name, IMPLEMENTATIONS.get(name, _not_implemented))
        for name in ctx.abi.signatures
    }
