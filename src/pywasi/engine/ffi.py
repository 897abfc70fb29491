"""wasmtime-py's private internals, in one place: the only module of pywasi that uses them.

pywasi's fast paths call wasmtime's C API directly (unchecked host calls and export calls,
memory base addresses, epoch-deadline callbacks, deserializing a mapped module), so they need
what wasmtime-py keeps private: its ``_bindings`` module and its ``dll``, the ctypes structures
inside its objects (``Memory._memory``, ``Func._func``...) and methods such as
``Store._context``. All of it is named here, and `check_internals` looks for each name when
this module is imported, so that a wasmtime-py that moved one fails at ``import pywasi``'s
first instantiation with `EngineIncompatibleError` naming what is missing and which versions
to install, never with an AttributeError deep in a call. Supporting a new wasmtime-py means
changing this file (and the bound in pyproject.toml).

Everything here takes and returns plain ints (addresses) or wasmtime-py's public objects.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import wasmtime

if TYPE_CHECKING:
    from wasmtime._instance import InstanceExports

Exports: TypeAlias = "InstanceExports"
"""What ``instance.exports(store)`` returns."""

_PACKAGE: Final = "wasmtime"


class EngineIncompatibleError(ImportError):
    """The installed wasmtime-py lacks an internal pywasi relies on."""


def _supported_range() -> str:
    """The wasmtime-py versions pywasi declares (its pyproject's dependency), for the error."""
    try:
        from importlib.metadata import requires

        for requirement in requires("pywasi") or ():
            if requirement.replace(" ", "").startswith(_PACKAGE + ">") \
                    or requirement.replace(" ", "").startswith(_PACKAGE + "<"):
                return requirement.replace(" ", "")
    except Exception:  # metadata missing (a source tree on sys.path): name the file instead
        pass
    return "wasmtime (the range in pywasi's pyproject.toml)"


def _installed_version() -> str:
    try:
        from importlib.metadata import version

        return version(_PACKAGE)
    except Exception:
        return "(unknown version)"


def incompatible(missing: str) -> EngineIncompatibleError:
    """The error for a wasmtime-py without `missing`, saying what to install."""
    return EngineIncompatibleError(
        f"pywasi needs wasmtime-py's internal {missing}, which the installed wasmtime-py "
        f"{_installed_version()} does not have: install a wasmtime-py pywasi supports "
        f"(pip install '{_supported_range()}')")


# What pywasi uses, by where it lives; `check_internals` looks for every one.
DLL_SYMBOLS: Final = (
    "wasmtime_linker_define_func_unchecked", "wasmtime_trap_new", "wasmtime_memory_data",
    "wasmtime_memory_data_size", "wasmtime_func_call_unchecked",
    "wasmtime_store_epoch_deadline_callback", "wasmtime_context_set_epoch_deadline",
    "wasmtime_store_context", "wasmtime_error_new", "wasmtime_module_deserialize",
)
BINDING_TYPES: Final = ("wasmtime_error_t", "wasm_trap_t", "wasmtime_module_t",
                        "wasmtime_caller_t")
METHODS: Final[Mapping[str, tuple[str, ...]]] = {
    "Store": ("_context", "_delete", "ptr"), "Engine": ("ptr",), "Linker": ("ptr",),
    "FuncType": ("ptr",), "WasmtimeError": ("_from_ptr",), "Trap": ("_from_ptr",),
    "Module": ("_from_ptr",),
}
# Attributes set on instances (looked for in the names their classes' functions store).
INSTANCE_FIELDS: Final[Mapping[str, str]] = {
    "Memory": "_memory", "Func": "_func", "Global": "_global", "Instance": "_instance",
}
STORE_IDS: Final = (("wasmtime_memory", "_anon_1"), ("wasmtime_global", "store_id"),
                    ("wasmtime_instance", "store_id"))


def _stores(cls: type, attribute: str) -> bool:
    """Whether a function of `cls` stores `attribute` on its instances."""
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)
        code = getattr(function, "__code__", None)
        if code is not None and attribute in code.co_names:
            return True
    return False


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def check_internals() -> None:
    """Raise `EngineIncompatibleError` unless wasmtime-py has every internal named above."""
    bindings = _module("wasmtime._bindings")
    if bindings is None:
        raise incompatible("module wasmtime._bindings")
    dll = getattr(bindings, "dll", None)
    if dll is None:
        raise incompatible("wasmtime._bindings.dll")
    for symbol in DLL_SYMBOLS:
        if not hasattr(dll, symbol):
            raise incompatible(f"C function {symbol} (wasmtime._bindings.dll)")
    for name in BINDING_TYPES:
        if not hasattr(bindings, name):
            raise incompatible(f"wasmtime._bindings.{name}")
    for class_name, methods in METHODS.items():
        cls = getattr(wasmtime, class_name)
        for method in methods:
            if not callable(getattr(cls, method, None)):
                raise incompatible(f"wasmtime.{class_name}.{method}")
    for class_name, field in INSTANCE_FIELDS.items():
        if not _stores(getattr(wasmtime, class_name), field):
            raise incompatible(f"wasmtime.{class_name}().{field}")
    exports = getattr(_module("wasmtime._instance"), "InstanceExports", None)
    if exports is None or "_extern_map" not in getattr(exports, "__annotations__", {}):
        raise incompatible("wasmtime._instance.InstanceExports._extern_map")
    for struct, field in STORE_IDS:
        fields = [entry[0] for entry in getattr(getattr(bindings, struct, None),
                                                "_fields_", ())]
        if field not in fields:
            raise incompatible(f"field {field} of wasmtime._bindings.{struct}")


check_internals()

_bindings: Final[Any] = _module("wasmtime._bindings")
_dll: Final[Any] = _bindings.dll


def _prototype(name: str, restype: Any, *argtypes: Any) -> Any:
    """Our own prototype of C function `name`, taking and returning plain integers."""
    function = _dll[name]
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_P, _SIZE = ctypes.c_void_p, ctypes.c_size_t
_define_unchecked: Final = _prototype("wasmtime_linker_define_func_unchecked", _P, _P,
                                      ctypes.c_char_p, _SIZE, ctypes.c_char_p, _SIZE,
                                      _P, _P, _P, _P)
_memory_data: Final = _prototype("wasmtime_memory_data", _SIZE, _P, _P)
_memory_data_size: Final = _prototype("wasmtime_memory_data_size", _SIZE, _P, _P)
_call_unchecked: Final = _prototype("wasmtime_func_call_unchecked", _P, _P, _P, _P, _SIZE, _P)
_set_deadline_callback: Final = _prototype("wasmtime_store_epoch_deadline_callback", None,
                                           _P, _P, _P, _P)
_set_epoch_deadline: Final = _prototype("wasmtime_context_set_epoch_deadline", None, _P,
                                        ctypes.c_uint64)
_store_context: Final = _prototype("wasmtime_store_context", _P, _P)
_error_new: Final = _prototype("wasmtime_error_new", _SIZE, ctypes.c_char_p)
_trap_new: Final = _prototype("wasmtime_trap_new", _P, ctypes.c_char_p, _SIZE)
_deserialize: Final = _prototype("wasmtime_module_deserialize", _P, _P, _P, _SIZE, _P)

TRAP_NEW_ADDRESS: Final = ctypes.cast(_dll["wasmtime_trap_new"], ctypes.c_void_p).value
"""`wasmtime_trap_new`'s address, for the C trampoline."""

ADDRESS_SPACE: Final = memoryview((ctypes.c_ubyte * sys.maxsize).from_address(0)).cast("B")
"""Every address of this process, as bytes. Only ever indexed at the raw argument arrays
wasmtime hands to host calls."""

RESULTS: Final = ADDRESS_SPACE[: sys.maxsize // 4 * 4].cast("I")
"""The same, as u32 cells: a host call's i32 result goes into the first (8-aligned) raw value."""

RawValues = ctypes.Array[ctypes.c_ubyte]
"""A buffer of raw 16-byte values, as `call_unchecked` takes them."""


# --- host calls -------------------------------------------------------------------------------

_HOST_CALL: Final = ctypes.CFUNCTYPE(_SIZE, _P, _P, _P, _SIZE)

# The ctypes callbacks wasmtime holds, by the key it holds them with. A store can outlive the
# Python objects that made it (an export kept after its instance is dropped), so each callback
# lives until wasmtime calls its finalizer, never less (a freed callback would crash the host).
LENT: Final[dict[int, Any]] = {}


def _give_back(key: int | None, lent: dict[int, Any] = LENT) -> None:
    # `lent` bound now: a store freed at interpreter exit calls this after module teardown.
    lent.pop(key or 0, None)


_GIVE_BACK: Final = ctypes.CFUNCTYPE(None, _P)(_give_back)
_GIVE_BACK_ADDRESS: Final = ctypes.cast(_GIVE_BACK, ctypes.c_void_p).value


def host_callback(host_call: Callable[[int | None, int | None, int, int], int]
                  ) -> tuple[int, int, int | None]:
    """A C callback for the Python `host_call(env, caller, raw, count)`: its address, its
    environment (a key to it, held until wasmtime gives it back) and that finalizer."""
    c_callback = _HOST_CALL(host_call)
    LENT[id(c_callback)] = c_callback
    # Its address read from its buffer: `ctypes.cast` would store the callback in its own
    # `_objects`, a cycle that only a garbage collection frees (with the WASI context and
    # its host descriptors), long after wasmtime gave the callback back.
    return ctypes.c_void_p.from_buffer(c_callback).value or 0, id(c_callback), _GIVE_BACK_ADDRESS


def new_trap(message: str) -> int:
    """A new `wasm_trap_t` with `message`, owned by whoever it is handed to (wasmtime)."""
    data = message.encode()
    return _trap_new(data, len(data)) or 0


def new_error(message: str) -> int:
    """A new `wasmtime_error_t` with `message`, for wasmtime to take."""
    return int(_error_new(message.encode()))


def error_message(error: int) -> str:
    """The message of `wasmtime_error_t` at `error`, which this frees."""
    pointer = ctypes.cast(error, ctypes.POINTER(_bindings.wasmtime_error_t))
    return str(wasmtime.WasmtimeError._from_ptr(pointer))


def define_unchecked(linker: wasmtime.Linker, module: str, name: str,
                     func_type: wasmtime.FuncType, callback: int, env: int | None,
                     finalizer: int | None) -> None:
    """``wasmtime_linker_define_func_unchecked``; raises `WasmtimeError` if it fails."""
    module_name, field_name = module.encode(), name.encode()
    error = _define_unchecked(
        ctypes.addressof(linker.ptr().contents), module_name, len(module_name), field_name,
        len(field_name), ctypes.addressof(func_type.ptr().contents), callback, env, finalizer)
    if error:
        raise wasmtime.WasmtimeError(error_message(error))


def caller_export(caller_address: int, name: str) -> object | None:
    """The export `name` of the instance calling a host function, from the raw caller."""
    caller = wasmtime.Caller(ctypes.cast(caller_address,
                                         ctypes.POINTER(_bindings.wasmtime_caller_t)))
    return caller.get(name)


# --- stores and memories ----------------------------------------------------------------------

def _field(item: object, field: str) -> Any:
    try:
        return getattr(item, field)
    except AttributeError:
        raise incompatible(f"wasmtime.{type(item).__name__}().{field}") from None


def context_address(store: wasmtime.Store) -> int:
    """The address of `store`'s context; ValueError once it is closed."""
    return ctypes.addressof(store._context().contents)


def memory_store_id(memory: wasmtime.Memory) -> int:
    return int(_field(memory, "_memory")._anon_1.store_id)


def instance_store_id(instance: wasmtime.Instance) -> int:
    return int(_field(instance, "_instance").store_id)


def store_id(store: wasmtime.Store) -> int:
    """The id wasmtime gives `store`'s objects (read from a global made there to ask)."""
    probe = wasmtime.Global(store, wasmtime.GlobalType(wasmtime.ValType.i32(), False),
                            wasmtime.Val.i32(0))
    return int(_field(probe, "_global").store_id)


_MAX_MEMORY32: Final = 1 << 32


class MemoryWindow:
    """The bytes of one wasmtime memory, as a memoryview at its base address."""

    __slots__ = ("_memory", "_handle", "_base", "_view")

    def __init__(self, memory: wasmtime.Memory) -> None:
        self._memory = memory  # the wasmtime_memory_t lives inside this object
        self._handle = ctypes.addressof(_field(memory, "_memory"))
        self._base: int | None = None
        self._view = memoryview(b"")

    def locate(self, context: int) -> tuple[memoryview, int]:
        """A view from the memory's first byte and its current size, in store `context`."""
        base = _memory_data(context, self._handle)
        size = _memory_data_size(context, self._handle)
        if base != self._base:
            # A view as long as the largest 32-bit memory: GuestMemory checks every access
            # against `size`, so the unmapped part past it is never touched.
            span = ctypes.c_ubyte * max(size, _MAX_MEMORY32)
            self._base, self._view = base, memoryview(span.from_address(base)).cast("B")
        return self._view, size


class FreeNotifyingStore(wasmtime.Store):
    """A store that calls `before_free` just before wasmtime frees it (by `close()` or by
    collection): the one moment its memories can still be let go of safely."""

    def before_free(self) -> None:
        """Overridden by subclasses."""

    def _delete(self, ptr: Any) -> None:
        self.before_free()
        super()._delete(ptr)


# --- exports ----------------------------------------------------------------------------------

def func_address(func: wasmtime.Func) -> int:
    return ctypes.addressof(_field(func, "_func"))


def export_map(exports: object) -> Mapping[str, object]:
    """Every export of an instance by name, in order (wasmtime-py's `InstanceExports`)."""
    return _field(exports, "_extern_map")  # type: ignore[no-any-return]


def raw_values(slots: int) -> RawValues:
    return (ctypes.c_ubyte * (16 * slots or 1))()


def call_unchecked(store: wasmtime.Store, func: int, values: RawValues, slots: int) -> None:
    """``wasmtime_func_call_unchecked``: `values` holds the arguments, then the results.
    wasmtime's `Trap` and `WasmtimeError` come out as they are."""
    trap = ctypes.c_void_p()  # one per call: a host function may call in again
    error = _call_unchecked(store._context(), func, values, slots,
                            ctypes.byref(trap))
    if error:
        raise wasmtime.WasmtimeError._from_ptr(
            ctypes.cast(error, ctypes.POINTER(_bindings.wasmtime_error_t)))
    if trap.value:
        raise wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(_bindings.wasm_trap_t)))


# --- the module cache -------------------------------------------------------------------------

def deserialize(engine: wasmtime.Engine, code: memoryview) -> wasmtime.Module:
    """The module serialized in `code`, handed to wasmtime where it lies: wasmtime-py's
    `Module.deserialize` wants bytes and copies them once more (59 MB for avr-gcc's cc1)."""
    native = (ctypes.c_uint8 * len(code)).from_buffer(code)
    module = ctypes.POINTER(_bindings.wasmtime_module_t)()
    error = _deserialize(ctypes.addressof(engine.ptr().contents), native, len(code),
                         ctypes.byref(module))
    del native  # the mapping can only be closed once nothing points into it
    if error:
        raise wasmtime.WasmtimeError(error_message(error))
    return wasmtime.Module._from_ptr(module)


# --- epoch deadlines --------------------------------------------------------------------------

_DEADLINE_CALLBACK: Final = ctypes.CFUNCTYPE(
    _SIZE, _P, _P, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint8))
_FINALIZER: Final = ctypes.CFUNCTYPE(None, _P)
_CONTINUE: Final = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE


class DeadlineCallback:
    """A C epoch-deadline callback that asks `verdict(data)` (0: carry on one more tick, else a
    `wasmtime_error_t` to stop with) and forgets `data` through `forget` when the store goes.
    `code` is the code object of the Python frame wasmtime enters first (where CPython runs
    pending signal handlers)."""

    def __init__(self, verdict: Callable[[int], int], forget: Callable[[int], None]) -> None:
        def tick(context: int | None, data: int | None,
                 delta: ctypes._Pointer[ctypes.c_uint64],
                 kind: ctypes._Pointer[ctypes.c_uint8]) -> int:
            delta[0] = 1
            kind[0] = _CONTINUE
            return verdict(data or 0)

        def forgotten(data: int | None) -> None:
            forget(data or 0)

        self.code = tick.__code__
        self._tick = _DEADLINE_CALLBACK(tick)
        self._forget = _FINALIZER(forgotten)
        self._addresses = (ctypes.cast(self._tick, ctypes.c_void_p).value,
                           ctypes.cast(self._forget, ctypes.c_void_p).value)

    def install(self, store: wasmtime.Store, data: int) -> None:
        """Give `store` an epoch deadline one tick ahead and this callback, with `data`."""
        store_ptr = ctypes.addressof(store.ptr().contents)
        _set_epoch_deadline(_store_context(store_ptr), 1)
        _set_deadline_callback(store_ptr, self._addresses[0], data, self._addresses[1])


# --- errors known only by their message ------------------------------------------------------
# wasmtime (50 and 51 alike) reports these failures to instantiate as a plain `WasmtimeError`,
# with no trap code, error type or code that tells them from another: their messages are the
# only tell, read here alone.

def limit_exceeded(error: wasmtime.WasmtimeError) -> str | None:
    """``"memory"`` or ``"table"`` when `error` is a store's resource limit refusing an
    instance's memory or table ("memory minimum size of 2 pages exceeds memory limits"), else
    None."""
    message = str(error)
    for kind in ("memory", "table"):
        if f"exceeds {kind} limits" in message:
            return kind
    return None


def cross_engine(error: wasmtime.WasmtimeError) -> bool:
    """Whether `error` is wasmtime refusing a module compiled for another engine than the
    store's ("cross-`Engine` instantiation is not currently supported")."""
    return "cross-`Engine`" in str(error)
