"""Collects the system call implementations and binds them to one `WasiContext`.

An implementation is a plain function ``(ctx, *args) -> errno`` named after its WASI import.
It reads and writes guest memory through ``ctx.memory`` and signals failure by raising
`WasiErrno`; a host `OSError` is translated to the matching WASI errno here, in one place
(`errno_of`). Any other exception is a host bug (or an embedder's own exception, such as
`ProcExit`): it is never disguised as an errno, it propagates (a trap, on an engine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ..abi.errno import WasiErrno, errno_from_os
from ..abi.signatures import Signature
from ..abi.types import Errno
from ..errors import NotStartedError
from .context import WasiContext

Implementation = Callable[..., int]
HostFunction = Callable[..., "int | None"]
ImportObject = Mapping[str, Mapping[str, HostFunction]]

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
    return None


# Per `Signature.params` code: the values an argument may take, and what a negative one (a
# signed reading of the same bits, as wasmtime-py's Func and Node pass an i32) is offset by.
_RANGES: Final[dict[str, tuple[int, int, int]]] = {
    "I": (-(2**31), 2**32, 2**32),  # u32: -2**31..-1 are the signed reading of 2**31..2**32-1
    "Q": (-(2**63), 2**64, 2**64),
    "q": (-(2**63), 2**64, 0),  # s64: taken as is; 2**63.. are the unsigned reading of negatives
}


def _normalised(name: str, kinds: str, args: tuple[int, ...]) -> list[int]:
    """`args` as the implementation takes them: u32/u64 in their unsigned range, s64 signed,
    whichever reading of the bits the caller used. A value no reading can hold is EINVAL, never
    wrapped onto another (valid) address."""
    if len(args) != len(kinds):
        raise TypeError(f"WASI {name} takes {len(kinds)} integer arguments, got {len(args)}")
    values = []
    for kind, value in zip(kinds, args, strict=True):
        if not isinstance(value, int):
            raise TypeError(f"WASI {name} takes integers (the guest's raw values), "
                            f"got {type(value).__name__}")
        low, high, offset = _RANGES[kind]
        if not low <= value < high:
            raise WasiErrno(Errno.INVAL)
        if value < 0:
            value += offset
        elif kind == "q" and value >= 2**63:
            value -= 2**64
        values.append(value)
    return values


class SystemCall:
    """One WASI function bound to a context.

    Calling it takes the guest's raw integer arguments, signed or unsigned (wasmtime-py's
    `Func` and Node pass i32s signed), and returns the errno, as Node's ``wasiImport``
    functions do. This is the one place arguments are normalised: engines that call
    ``implementation(context, *args)`` themselves (saving two Python frames on every host
    call) must pass exactly what `_normalised` returns, and translate its exceptions with
    `errno_of`. Until the WASI object is started, both raise `NotStartedError`.

    A call may come after the guest ran again (an intercepting import that called back into
    the guest), so a memory that may move is relocated first.
    """

    __slots__ = ("__name__", "_enabled", "_kinds", "context", "implementation")

    def __init__(self, ctx: WasiContext, name: str, implementation: Implementation,
                 signature: Signature) -> None:
        self.__name__ = name
        self._enabled = implementation
        self._kinds = signature.params
        self.context = ctx
        self.implementation: Implementation = _not_started

    # For engines calling `implementation` themselves (`engine.base.RawSystemCall`).
    errno_of = staticmethod(errno_of)

    def enable(self) -> None:
        """Start serving calls (once the context's memory is bound)."""
        self.implementation = self._enabled

    def __call__(self, *args: int) -> int:
        context = self.context
        try:
            values = _normalised(self.__name__, self._kinds, args)
            if context.memory.movable:
                context.memory.relocate()
            return self.implementation(context, *values)
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
        name: SystemCall(ctx, name, IMPLEMENTATIONS.get(name, _not_implemented), signature)
        for name, signature in ctx.abi.signatures.items()
    }


def wrap_system_calls(import_object: ImportObject, signatures: Mapping[str, Signature],
                      wrap: Callable[[SystemCall, Signature], SystemCall]
                      ) -> dict[str, dict[str, HostFunction]]:
    """`import_object` with each pywasi system call replaced by ``wrap(call, signature)`` and
    anything else (an embedder's replacement) left as it is: the one shape in which the call
    path's layers (reproducible runs, trace, fuel; see `pywasi.call_path`) wrap the calls."""
    return {
        module: {
            name: wrap(function, signatures[name]) if isinstance(function, SystemCall)
            else function
            for name, function in functions.items()
        }
        for module, functions in import_object.items()
    }
