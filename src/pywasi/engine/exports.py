"""Typed access to an instance's exports, and the checks `WasmtimeInstance.call` makes.

wasmtime-py's ``instance.exports[name]`` is a union of every extern kind, and calling a `Func`
wraps an out-of-range int silently (``add(2**40, 1)`` is ``add(0, 1)``) and reports a wrong
argument count as a trap. Here each kind has its accessor (`func`, `global_`, `table`,
`wasm_memory`, and `memory` as a `pywasi.Memory`), a missing export is a `LookupError` that
lists what exists, and a call's arguments are checked against the export's type first:
`TypeError` for a wrong count or kind, `ValueError` for an int no reading of the type holds.

A checked call goes through ``wasmtime_func_call_unchecked`` with the raw values packed by
one precompiled `struct`, not through `wasmtime.Func.__call__` (which looks the function's
type up and converts every value through a wrapper object on each call: about 15 µs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from struct import Struct
from typing import TYPE_CHECKING, Any, Final, TypeVar

import wasmtime

from ..memory import GuestMemory
from . import ffi

if TYPE_CHECKING:  # imported where used: only a plugin's caller needs it
    from ..plugin import Memory

_Extern = TypeVar("_Extern", wasmtime.Func, wasmtime.Global, wasmtime.Table, wasmtime.Memory)
_KIND_NAMES: Final = {wasmtime.Func: "function", wasmtime.Global: "global",
                      wasmtime.Table: "table", wasmtime.Memory: "memory"}
_U32_MASK: Final = 0xFFFFFFFF
# `struct` codes of each core type in a raw value (i32 and f32 fill 4 of its 16 bytes).
_RAW_LAYOUTS: Final = {"i32": "i12x", "i64": "q8x", "f32": "f12x", "f64": "d8x"}


def describe_type(func_type: wasmtime.FuncType) -> str:
    """``(i32, f64) -> i32``, as messages show a function's core type."""
    params = ", ".join(str(value) for value in func_type.params)
    results = ", ".join(str(value) for value in func_type.results)
    return f"({params}) -> {results or 'nothing'}"


def _int_argument(bits: int) -> Callable[[str, int, Any], Any]:
    low, high, span = -(1 << (bits - 1)), 1 << bits, 1 << bits

    def check(where: str, index: int, value: Any) -> Any:
        if not isinstance(value, int):
            raise TypeError(f"{where}: argument {index} must be an int (i{bits}), "
                            f"not {type(value).__name__}")
        if not low <= value < high:
            raise ValueError(f"{where}: argument {index} = {value} does not fit an i{bits} "
                             f"(either reading: {low}..{high - 1})")
        return value - span if value >= high // 2 else value  # wasmtime-py takes signed

    return check


def _float_argument(where: str, index: int, value: Any) -> Any:
    if not isinstance(value, (int, float)):
        raise TypeError(f"{where}: argument {index} must be a float, not {type(value).__name__}")
    return float(value)


_ARGUMENT_CHECKS: Final = {"i32": _int_argument(32), "i64": _int_argument(64),
                           "f32": _float_argument, "f64": _float_argument}


class ExportCall:
    """One exported function with its type, ready to check arguments for it."""

    __slots__ = ("func", "where", "_checks", "_raw", "_pack", "_unpack", "_slots", "_address")

    def __init__(self, name: str, func: wasmtime.Func, func_type: wasmtime.FuncType) -> None:
        self.func = func
        self.where = f"export {name}{describe_type(func_type)}"
        params = [str(value) for value in func_type.params]
        results = [str(value) for value in func_type.results]
        self._checks = [_ARGUMENT_CHECKS.get(value) for value in params]
        # Only plain numbers go by raw values; references and vectors by wasmtime-py's call.
        self._raw = all(value in _RAW_LAYOUTS for value in params + results)
        if self._raw:
            self._pack = Struct("<" + "".join(_RAW_LAYOUTS[value] for value in params)).pack_into
            self._unpack = Struct("<" + "".join(_RAW_LAYOUTS[value]
                                                for value in results)).unpack_from
            self._slots = max(len(params), len(results))
            self._address = ffi.func_address(func)

    def invoke(self, store: wasmtime.Store, arguments: Sequence[Any]) -> Any:
        """Call with `arguments` as `arguments()` returned them; wasmtime's exceptions
        (`Trap`, `WasmtimeError`) come out as they are."""
        if not self._raw:
            return self.func(store, *arguments)
        values = ffi.raw_values(self._slots)
        self._pack(values, 0, *arguments)
        ffi.call_unchecked(store, self._address, values, self._slots)
        results = self._unpack(values, 0)
        return results[0] if len(results) == 1 else list(results) if results else None

    def arguments(self, args: Sequence[Any]) -> list[Any]:
        if len(args) != len(self._checks):
            raise TypeError(f"{self.where} takes {len(self._checks)} arguments, "
                            f"got {len(args)}")
        return [value if check is None else check(self.where, index, value)
                for index, (check, value) in enumerate(zip(self._checks, args, strict=True))]


class ExportAccess:
    """The typed export accessors of `WasmtimeInstance`, with its `exports` and `store`."""

    exports: ffi.Exports
    store: wasmtime.Store
    _calls: dict[str, ExportCall]
    _memory: Memory | None

    def _export(self, name: str, kind: type[_Extern]) -> _Extern:
        item = self.exports.get(name)
        if item is None:
            listed = ", ".join(f"{export} ({_KIND_NAMES.get(type(value), 'tag')})"
                               for export, value in ffi.export_map(self.exports).items())
            raise LookupError(f"the module has no export {name!r}; it exports: "
                              f"{listed or 'nothing'}")
        if not isinstance(item, kind):
            raise TypeError(f"export {name!r} is a {_KIND_NAMES.get(type(item), 'tag')}, "
                            f"not a {_KIND_NAMES[kind]}")
        return item

    def func(self, name: str) -> wasmtime.Func:
        return self._export(name, wasmtime.Func)

    def global_(self, name: str) -> wasmtime.Global:
        return self._export(name, wasmtime.Global)

    def table(self, name: str) -> wasmtime.Table:
        return self._export(name, wasmtime.Table)

    def wasm_memory(self, name: str = "memory") -> wasmtime.Memory:
        return self._export(name, wasmtime.Memory)

    def export_call(self, name: str) -> ExportCall:
        """The export `name`, checked to be a function, with its type (looked up once)."""
        call = self._calls.get(name)
        if call is None:
            func = self.func(name)
            call = self._calls[name] = ExportCall(name, func, func.type(self.store))
        return call

    @property
    def memory(self) -> Memory:
        """The `memory` export as a `pywasi.Memory`."""
        if self._memory is None:
            from ..plugin import Memory

            self._memory = Memory(self.guest_memory(self.wasm_memory()))
        return self._memory

    if TYPE_CHECKING:  # what WasmtimeInstance provides
        def guest_memory(self, memory: object | None = None) -> GuestMemory | None: ...

        def call(self, name: str, *args: Any) -> Any: ...

        def calling(self) -> AbstractContextManager[None]: ...

        def call_within(self, name: str, *args: Any) -> Any: ...

    def _allocator(self) -> tuple[Callable[[int], int], Callable[[int, int], None]]:
        names = ffi.export_map(self.exports)
        if "malloc" in names:
            free = (lambda ptr, size: self.call_within("free", ptr)) if "free" in names else \
                (lambda ptr, size: None)
            return (lambda size: int(self.call_within("malloc", size))), free
        if "cabi_realloc" in names:
            return (lambda size: int(self.call_within("cabi_realloc", 0, 0, 1, size))), \
                (lambda ptr, size: None)
        raise LookupError("the module exports no allocator: export malloc and free (with "
                          "zig or clang: -Wl,--export=malloc -Wl,--export=free), or "
                          "cabi_realloc")

    def put_bytes(self, data: bytes) -> int:
        """Copy `data` into memory from the guest's own allocator; returns its pointer."""
        with self.calling():
            return self._put_bytes(data)

    def _put_bytes(self, data: bytes) -> int:
        allocate, _ = self._allocator()
        ptr = allocate(len(data))
        if ptr == 0 and data:
            raise MemoryError(f"the guest's allocator could not give {len(data)} bytes")
        self.memory.write(ptr, data)
        return ptr

    def call_bytes(self, name: str, data: bytes, *args: Any) -> bytes:
        """``name(ptr, len, *args) -> i64`` on a copy of `data`: the bytes the result points
        at (high 32 bits the pointer, low 32 the length; see `pywasi.plugin`). Both buffers go
        back to the guest's `free`, when it has one."""
        with self.calling():
            _, free = self._allocator()
            ptr = self._put_bytes(data)
            try:
                packed = int(self.call_within(name, ptr, len(data), *args))
            finally:
                free(ptr, len(data))
            out_ptr, out_length = (packed >> 32) & _U32_MASK, packed & _U32_MASK
            try:
                return self.memory.read(out_ptr, out_length)
            finally:
                if out_ptr:
                    free(out_ptr, out_length)

    def call_str(self, name: str, text: str, *args: Any) -> str:
        """`call_bytes` on UTF-8 text."""
        return self.call_bytes(name, text.encode(), *args).decode()
