"""What the `WASI` class and an engine need of each other: the seam for a second engine.

An engine gets what it needs of the WASI object through `WasiHost` (never by importing the
system calls), and gives `WASI` a `BoundInstance`.

The engine contract. The wasmtime engine (`host_calls`, `stores`, `instance`) keeps it; a
second engine must keep all of it, because each clause is a way to crash the host process or
corrupt a guest if broken.

Arguments
    A host call either calls the `SystemCall` (``wasi.wasi_import[name]``, the one place that
    normalises arguments: any signed or unsigned reading of the bits is taken, anything no
    reading can hold is EINVAL), or calls ``implementation(context, *args)`` itself with
    exactly the values `SystemCall` would pass: per `Signature.params` code, ``I`` an
    unsigned 32-bit value, ``Q`` unsigned 64-bit, ``q`` signed 64-bit. Never a negative
    pointer: `GuestMemory` refuses one (EFAULT), but only as a second line of defence.
    An embedder's own host function (``instantiate(..., imports=)``) gets Python's natural
    reading instead: i32 and i64 signed, f32 and f64 as floats; its result may be an int of
    either reading of its type, or a float, and one that fits neither traps.

Results and exceptions
    A system call's `errno_of` says which exceptions are errnos (`WasiErrno`, `OSError`); the errno
    goes back to the guest as the i32 result. Any other exception (a host bug, `ProcExit`, an
    embedder's exception from a replaced import) becomes a trap, and the call into the guest
    that the trap ends re-raises that exception, and no later call: an exception belongs to
    the trap it caused.

Guest memory
    `guest_memory()` returns a `GuestMemory` over a buffer that starts at the memory's first
    byte, with the memory's current size. It refuses a memory of another store than the
    instance's (wasmtime aborts the process on first use of one). If the engine may move the
    memory (as it grows), the view is made ``movable=True``; `finalize_bindings` puts it in the
    context's `movable`, which the engine `relocate`s at the entry of every system call, from
    whichever store's guest makes it (one WASI object may be linked into several stores), and
    `SystemCall` relocates it again, since a replaced import may have run the guest before
    calling it. Before the store frees the memory, the view is `detach`ed, so that
    a later system call raises `MemoryGoneError` instead of touching freed memory. The view
    must not hold the store strongly: the store holds the host calls (natively, out of the
    garbage collector's sight), which hold the WASI context, which holds the view, so a strong
    reference back would be a cycle never freed, with the guest's host descriptors in it.

Engines and threads
    Anything bound to an engine (wasmtime's function types, compiled modules) is kept per
    engine, never shared between engines; a module from another engine than the store's is a
    `ModuleLoadError` that says what to pass. Shared state made on first use (pywasi's own
    engine) is made once, under a lock. Any number of engines and stores may be used in one
    process, from any threads, each store by one thread at a time.

Lifetime
    A failed instantiation holds nothing of the WASI object after it has raised (no reference
    cycles: the WASI context closes the guest's host descriptors when it is collected, and
    that must happen by reference counting, not at some later garbage collection).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

from ..abi.signatures import Signature
from ..limits import Limits
from ..memory import GuestMemory

ExportKind = Literal["func", "memory", "table", "global", "tag"]


@runtime_checkable
class BoundInstance(Protocol):
    """An instantiated module, together with whatever its engine needs to run it."""

    def export_kind(self, name: str) -> ExportKind | None:
        """What the export `name` is, or None when there is no such export."""

    def guest_memory(self, memory: object | None = None) -> GuestMemory | None:
        """Access to `memory` (default: the `memory` export); None if it is not a memory.
        Raises `InvalidArgValueError` for a memory of another store than the instance's."""

    def call(self, name: str) -> None:
        """Call the exported function `name` with no arguments.

        A `ProcExit` or other exception raised inside a host call comes out as itself; a trap
        as `GuestTrap`.
        """


class SystemCallContext(Protocol):
    """What an engine reads of a system call's context."""

    @property
    def movable(self) -> list[GuestMemory]:
        """The context's memory when it may move: relocated on entry to every system call."""


@runtime_checkable
class RawSystemCall(Protocol):
    """A system call an engine may call below its normalising ``__call__`` (see "Arguments"
    and "Results and exceptions" above): ``implementation(context, *args)``, and `errno_of`
    for what it raises."""

    @property
    def context(self) -> SystemCallContext: ...

    @property
    def implementation(self) -> Callable[..., int | None]: ...

    @staticmethod
    def errno_of(error: BaseException) -> int | None:
        """The errno for `error`, or None when it is no errno and must become a trap."""

    def __call__(self, *args: int) -> int: ...


class FuelTank(Protocol):
    """What fuel accounting needs of a store (a `wasmtime.Store` has both)."""

    def get_fuel(self) -> int: ...

    def set_fuel(self, fuel: int) -> None: ...


class StopBell(Protocol):
    """A WASI object's stop signal: `ring` ends its blocking waits; `reason` says why."""

    reason: Callable[[], BaseException | None]

    def ring(self) -> None: ...


HostImportObject = Mapping[str, Mapping[str, Callable[..., Any]]]


class WasiHost(Protocol):
    """What an engine needs of the WASI object it links (`pywasi.WASI` is one)."""

    @property
    def import_module(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def signatures(self) -> Mapping[str, Signature]: ...

    @property
    def limits(self) -> Limits | None: ...

    @property
    def stop_signal(self) -> StopBell: ...

    @property
    def wasi_import(self) -> Mapping[str, Callable[..., Any]]: ...

    @property
    def around_guest_call(self) -> AbstractContextManager[None]:
        """Entered around every call into the guest (its hooks run once per call)."""

    def get_import_object(self) -> HostImportObject: ...

    def layered_imports(self, fuel: FuelTank | None) -> HostImportObject:
        """The import object with the WASI object's layers (reproducible runs, trace, and fuel
        paid out of `fuel` when given) around its system calls: the call path to link."""

    def finalize_bindings(self, instance: BoundInstance, memory: object | None = None
                          ) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class GuestCallHooks(Protocol):
    """What an engine calls around every call into the guest (`WASI` has both): buffers the
    host must flush first, and errors the host kept for after the call."""

    def before_guest_call(self) -> None: ...

    def after_guest_call(self) -> None: ...


class GuestCalls:
    """One hooks object's calls into the guest: whether an entry is open that the next one
    continues (`WASI.start` enters, then the instance's call does, for the same call)."""

    __slots__ = ("handed_over",)

    def __init__(self) -> None:
        self.handed_over = False


class AroundGuestCall:
    """``with AroundGuestCall(hooks, calls):`` around a call into the guest: the hooks run
    once per call. An entry made with `opens` (`WASI.start`'s) hands the call over to the next
    entry (the instance's call inside it), which then runs no hooks of its own; any other
    entry runs them, a host function's call back into the guest included. An error
    `after_guest_call` raises has what the call raised as its context; a KeyboardInterrupt or
    SystemExit goes on as it is (the kept error waits for the next call)."""

    __slots__ = ("_hooks", "_calls", "_opens", "_skipped")

    def __init__(self, hooks: GuestCallHooks, calls: GuestCalls | None = None, *,
                 opens: bool = False) -> None:
        self._hooks = hooks
        self._calls = calls if calls is not None else GuestCalls()
        self._opens = opens
        self._skipped: list[bool] = []  # per open entry (calls nest through host functions)

    def __enter__(self) -> None:
        calls = self._calls
        if calls.handed_over and not self._opens:
            calls.handed_over = False
            self._skipped.append(True)
            return
        self._hooks.before_guest_call()
        self._skipped.append(False)
        calls.handed_over = self._opens

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._opens:
            self._calls.handed_over = False
        if not self._skipped.pop() and (kind is None or issubclass(kind, Exception)):
            self._hooks.after_guest_call()
