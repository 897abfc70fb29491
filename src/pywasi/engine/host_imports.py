"""An embedder's own imports beside WASI, and pywasi's WASI in an embedder's own Linker.

``instantiate(wasi, module, imports={"env": {"log": log}})`` links plain Python callables on
the same raw-callback path as the system calls (no `wasmtime.Func` per call). Each function's
core type comes from the module's import; `HostFunc` may declare it too (checked against the
module) and asks for a `Memory` view of the calling instance as the first argument. Values
arrive as Python ints (i32, i64: signed) and floats (f32, f64); a result may be any int of
either reading of its type, or a float. An exception a host function raises becomes a trap
that `start()`/`call()` re-raise as that exception.

`define_wasi` is the other way round: a wasmtime-py user keeps their Linker and Store and
replaces ``linker.define_wasi()`` / ``store.set_wasi(...)`` with ``wasi.define(linker, store)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

import wasmtime

from ..errors import AlreadyStartedError, InvalidArgValueError, ModuleLoadError
from ..memory import GuestMemory
from . import ffi
from .base import ExportKind, WasiHost
from .engines import epoch_checks
from .exports import describe_type
from .host_calls import HostCalls, define_function, watchdog_for
from .instance import WasmtimeInstance
from .stores import memory_view

if TYPE_CHECKING:  # imported where used: only plugins' host calls need it
    from ..plugin import Memory

# Raw-value codes (see `host_calls._VALUE_TYPES`) of the core types a host function takes.
_CODES: Final = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_WASI_MODULES: Final = ("wasi_snapshot_preview1", "wasi_unstable")


class HostFunc(NamedTuple):
    """A host function with what a plain callable cannot say: its declared core types
    (``params=("i32", "f64")``, ``results=("i32",)``; checked against the module's import)
    and whether it takes the calling instance's `Memory` as its first argument."""

    function: Callable[..., Any]
    params: Sequence[str] | None = None
    results: Sequence[str] | None = None
    memory: bool = False


HostImport: TypeAlias = (
    "Callable[..., Any] | HostFunc | wasmtime.Memory | wasmtime.Global | wasmtime.Table"
)
Imports: TypeAlias = Mapping[str, Mapping[str, HostImport]]
"""``{"module": {"name": function or HostFunc or wasmtime extern}}``"""


def _import_kind(item: wasmtime.ImportType) -> str:
    kind = item.type
    if isinstance(kind, wasmtime.FuncType):
        return f"a function {describe_type(kind)}"
    return {wasmtime.MemoryType: "a memory", wasmtime.GlobalType: "a global",
            wasmtime.TableType: "a table"}.get(type(kind), "an import")


def check_imports(module: wasmtime.Module, wasi: WasiHost, imports: Imports) -> None:
    """Refuse, before linking, a module importing anything neither `wasi` nor `imports`
    provides, naming each such import and what to do about it."""
    provided = wasi.get_import_object()[wasi.import_module]
    missing = [item for item in module.imports
               if not (item.module == wasi.import_module and item.name in provided)
               and (item.name or "") not in imports.get(item.module, {})]
    if not missing:
        return
    lines = []
    for item in missing:
        what = f"{item.module}.{item.name} ({_import_kind(item)})"
        if item.module == wasi.import_module:
            lines.append(f"{what}: not a function of WASI {wasi.version}")
        elif item.module in _WASI_MODULES:
            lines.append(f"{what}: WASI of another version than {wasi.version!r}; pass "
                         "WASI(version=pywasi.wasi_version(module), ...)")
        else:
            lines.append(f"{what}: not defined; pass it as pywasi.instantiate(..., imports="
                         f"{{{item.module!r}: {{{item.name!r}: your_function}}}})")
    raise ModuleLoadError(
        "cannot instantiate module: unknown imports:\n  " + "\n  ".join(lines)
        + f"\npywasi provides {wasi.import_module!r} (WASI {wasi.version}, "
        f"{len(provided)} functions)"
    )


def _codes(types: Sequence[str], where: str) -> str:
    try:
        return "".join(_CODES[str(value)] for value in types)
    except KeyError as error:
        raise ModuleLoadError(f"cannot link {where}: a host function takes and returns only "
                              f"i32, i64, f32 and f64, not {error.args[0]}") from None


def link_imports(linker: wasmtime.Linker, store: wasmtime.Store, module: wasmtime.Module,
                 imports: Imports, calls: HostCalls) -> list[Memory]:
    """Define in `linker` every import of `module` that `imports` has; returns the `Memory`
    views promised to host functions, to bind once the instance exists."""
    memories: list[Memory] = []
    for item in module.imports:
        given = imports.get(item.module, {}).get(item.name or "")
        if given is None:
            continue
        where = f"{item.module}.{item.name}"
        if isinstance(given, (wasmtime.Memory, wasmtime.Global, wasmtime.Table)):
            linker.define(store, item.module, item.name or "", given)
            continue
        func_type = item.type
        if not isinstance(func_type, wasmtime.FuncType):
            raise ModuleLoadError(f"cannot link {where}: the module imports {_import_kind(item)}"
                                  ", so pass a wasmtime extern of that kind, not a function")
        host = given if isinstance(given, HostFunc) else HostFunc(given)
        params = _codes([str(value) for value in func_type.params], where)
        result = _codes([str(value) for value in func_type.results], where)
        declared = (host.params if host.params is not None else
                    [str(value) for value in func_type.params],
                    host.results if host.results is not None else
                    [str(value) for value in func_type.results])
        if (list(declared[0]), list(declared[1])) != (
                [str(value) for value in func_type.params],
                [str(value) for value in func_type.results]):
            declared_text = f"({', '.join(declared[0])}) -> {', '.join(declared[1]) or 'nothing'}"
            raise ModuleLoadError(f"cannot link {where}: the module imports it as "
                                  f"{describe_type(func_type)}, but it is declared {declared_text}")
        if len(result) > 1:
            raise ModuleLoadError(f"cannot link {where}: a host function returns one value at "
                                  f"most, and this import has {describe_type(func_type)}")
        function = host.function
        if host.memory:
            from ..plugin import Memory

            view = Memory(unbound="the instance's memory is not available before "
                                  "instantiate() returns (a start function calling a host "
                                  "function that takes memory)")
            memories.append(view)
            function = partial(function, view)
        if not callable(function):
            raise ModuleLoadError(f"cannot link {where}: {given!r} is not callable")
        define_function(linker, calls, item.module, item.name or "", function, params, result)
    return memories


def bind_memories(memories: Sequence[Memory], instance: WasmtimeInstance) -> None:
    if not memories:
        return  # a view costs a relocation per host call on a store that may move memory
    guest = instance.guest_memory()
    for view in memories:
        view._bind(guest, "the instance exports no memory (export it as `memory`)")


class _CallerInstance:
    """The `BoundInstance` the first system call of a guest instantiated from a user's Linker
    binds WASI with: its memory is the calling instance's `memory` export."""

    def __init__(self, store: wasmtime.Store, memory: object, calls: HostCalls) -> None:
        self._store, self._memory, self._calls = store, memory, calls

    def export_kind(self, name: str) -> ExportKind | None:
        return "memory" if name == "memory" and self._memory is not None else None

    def guest_memory(self, memory: object | None = None) -> GuestMemory | None:
        memory = memory if memory is not None else self._memory
        if not isinstance(memory, wasmtime.Memory):
            return None
        return memory_view(self._store, memory, self._calls.movable)

    def call(self, name: str) -> None:
        raise TypeError("call the guest's exports through wasmtime, or use WasiLink.instance()")


class WasiLink:
    """What `define_wasi` returns: `instance(...)` wraps an instance made with the Linker as
    a `WasmtimeInstance` (for `wasi.start()`, typed exports, exceptions out of traps)."""

    def __init__(self, wasi: WasiHost, store: wasmtime.Store, calls: HostCalls) -> None:
        self._wasi, self._store, self._calls = wasi, store, calls

    def instance(self, instance: wasmtime.Instance) -> WasmtimeInstance:
        return WasmtimeInstance(self._store, instance, self._calls, self._wasi,
                                watchdog=watchdog_for(self._wasi, self._store, self._calls,
                                                      epochs=epoch_checks(self._wasi.limits)))

    def failure(self, trap: wasmtime.Trap | wasmtime.WasmtimeError) -> BaseException:
        """The exception to raise for a trap out of a call you made through wasmtime: what a
        host call raised (`ProcExit`, say), else `GuestTrap`."""
        return self._calls.failure(trap)


def define_wasi(wasi: WasiHost, linker: wasmtime.Linker, store: wasmtime.Store) -> WasiLink:
    """Define `wasi`'s functions in `linker`, for instances of `store`. WASI binds itself to
    the calling instance's `memory` export at its first system call, so an instance made with
    ``linker.instantiate(store, module)`` runs as it is; or wrap it with `WasiLink.instance`."""
    calls = HostCalls()
    store_id = ffi.store_id(store)

    def bind(caller_address: int) -> None:
        memory = ffi.caller_export(caller_address, "memory")
        if isinstance(memory, wasmtime.Memory) and ffi.memory_store_id(memory) != store_id:
            raise InvalidArgValueError(
                "the guest was instantiated in another wasmtime.Store than the one given to "
                "wasi.define(linker, store): instantiate it with that store")
        with suppress(AlreadyStartedError):  # bound already: an earlier call, or wasi.start()
            wasi.finalize_bindings(_CallerInstance(store, memory, calls))

    # With the layers `instantiate` links (reproducible runs, the trace); not fuel, which is
    # paid out of a store pywasi made.
    layered = wasi.layered_imports(None)[wasi.import_module]
    for name, function in layered.items():
        signature = wasi.signatures[name]
        define_function(linker, calls, wasi.import_module, name, function, signature.params,
                        "I" if signature.returns_errno else "", bind)
    return WasiLink(wasi, store, calls)


def wasi_version(module: wasmtime.Module) -> str:
    """The WASI version `module` imports (``"unstable"`` or ``"preview1"``), for
    ``WASI(version=...)``, which, as in Node, names it explicitly."""
    if any(item.module == "wasi_unstable" for item in module.imports):
        return "unstable"
    return "preview1"
