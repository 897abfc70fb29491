"""Exceptions pywasi raises to the embedding Python program.

Misuse of the API raises the same checks as Node's ``node:wasi``, in the same order; each
exception carries Node's error code as `code` and subclasses the matching built-in, so
``except TypeError`` works as well as ``except InvalidArgTypeError``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PyWasiError(Exception):
    """Base of every exception pywasi raises on purpose."""

    code: str = "ERR_PYWASI"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as it is (arguments and attributes), not rebuilt by calling the class again
        (whose constructor may take other arguments), so that it can come back intact from a
        worker process (`pywasi.batch`)."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(kind: type[PyWasiError], args: tuple[Any, ...], state: dict[str, Any]
             ) -> PyWasiError:
    error = kind.__new__(kind, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidArgTypeError(PyWasiError, TypeError):
    code = "ERR_INVALID_ARG_TYPE"


class InvalidArgValueError(PyWasiError, ValueError):
    code = "ERR_INVALID_ARG_VALUE"


class OutOfRangeError(PyWasiError, ValueError):
    code = "ERR_OUT_OF_RANGE"


class PreopenError(PyWasiError, ValueError):
    """A preopen's host directory is missing or is not a directory."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class SaveRefusedError(PyWasiError, OSError):
    """`MemoryDir.save` met a change in its target it could not replace without risk of
    touching what lies outside it; nothing outside the target was written."""


class _Misuse(PyWasiError, RuntimeError):
    """A call made at the wrong point in a lifecycle; each kind says what to do instead, in
    its one fixed `message`."""

    message: ClassVar[str]

    def __init__(self) -> None:
        super().__init__(self.message)


class AlreadyStartedError(_Misuse):
    code = "ERR_WASI_ALREADY_STARTED"
    message = ("WASI instance has already started: start(), initialize() and "
               "finalize_bindings() may be called once, on a fresh WASI object")


class NotStartedError(_Misuse):
    code = "ERR_WASI_NOT_STARTED"
    message = ("wasi.start() has not been called: call start(), initialize() or "
               "finalize_bindings() with the instance before making system calls")


class MemoryGoneError(_Misuse):
    """A system call ran after the store owning the bound guest memory was closed or freed."""

    code = "ERR_WASI_MEMORY_GONE"
    message = ("the guest memory given to finalize_bindings() belongs to a wasmtime store that "
               "is closed or gone: keep the instance (and its store) alive while its WASI "
               "system calls are used")


class InstanceClosedError(_Misuse):
    """An export was called on an instance after its `close()`."""

    code = "ERR_WASM_INSTANCE_CLOSED"
    message = ("the instance is closed (by close() or the end of its with block): make a new "
               "one with pywasi.instantiate()")


class GuestTrap(PyWasiError, RuntimeError):
    """The guest trapped (unreachable, out-of-bounds access, stack overflow...).

    `trap_code` is wasmtime's name for the trap (``"UNREACHABLE"``, ``"OUT_OF_FUEL"``,
    ``"INTERRUPT"``...; see `wasmtime.TrapCode`), or None for a trap that has none, such as an
    uncaught host error.
    """

    code = "ERR_WASM_TRAP"

    def __init__(self, message: str, trap_code: str | None = None) -> None:
        super().__init__(message)
        self.trap_code = trap_code


class ModuleLoadError(PyWasiError, ValueError):
    """A module file could not be read, parsed, compiled or linked."""

    code = "ERR_WASM_MODULE"


class StdioError(PyWasiError, RuntimeError):
    """A Python object given as the guest's stdin, stdout or stderr raised. The guest got EIO
    for that call and went on; its exception is this one's `__cause__`, and `stream` names it.
    """

    code = "ERR_PYWASI_STDIO"

    def __init__(self, stream: str, error: Exception) -> None:
        super().__init__(
            f"the guest's {stream} raised {type(error).__name__}: {error} (the guest was told "
            "EIO); fix the object passed as that option, or catch the error in it"
        )
        self.stream = stream


class ProcExit(PyWasiError):
    """The guest called proc_exit (or was ended by proc_raise) with exit code `code`.

    `start()` turns this into its return value; it reaches the caller only from a reactor's
    `initialize()` or from calls into an instance's exports.
    """

    code = "ERR_WASI_PROC_EXIT"

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"the guest exited with code {exit_code}")
        self.exit_code = exit_code


class GuestInterrupted(GuestTrap):
    """The embedding program stopped the guest with `WasmtimeInstance.interrupt()`."""

    code = "ERR_WASM_INTERRUPTED"


class LimitExceeded(GuestTrap):
    """The guest ran into a limit the host set (see `pywasi.Limits`); each limit is a subclass,
    and `exit_status` is what `pywasi run` exits with when it is reached."""

    code = "ERR_WASM_LIMIT"
    exit_status = 134


class GuestTimeout(LimitExceeded):
    """The guest ran longer than `Limits.timeout` (wall-clock seconds)."""

    code = "ERR_WASM_TIMEOUT"
    exit_status = 124  # as GNU timeout(1)


class OutOfFuel(LimitExceeded):
    """The guest used up `Limits.fuel`."""

    code = "ERR_WASM_OUT_OF_FUEL"
    exit_status = 125


class StackExhausted(LimitExceeded):
    """The guest's call stack outgrew `Limits.max_wasm_stack` (or wasmtime's default)."""

    code = "ERR_WASM_STACK_OVERFLOW"
    exit_status = 123


class ResourceLimit(LimitExceeded):
    """The guest asked for more than a resource limit allows where WASI has no errno to say so:
    a memory larger than `Limits.max_memory_size` at instantiation, or one `random_get` of
    more than `Limits.max_random_size` bytes."""

    code = "ERR_WASM_RESOURCE_LIMIT"
    exit_status = 122
