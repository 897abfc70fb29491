"""The wasmtime binding: the fast host-call path, guest memory access, instantiation.

Host calls are registered with ``wasmtime_linker_define_func_unchecked``: wasmtime hands the
callback a pointer to an array of raw 16-byte values. The callback is the C trampoline of
`_trampoline.c` where it was built at install, else a Python function (generated per signature)
behind a ctypes callback, which reads the values with one precompiled `struct` through a
memoryview spanning the process address space. Either way the system call's implementation is
called with plain ints, and its exceptions come back to `_HostCalls.callback` to become an errno
or a trap. Guest memory is a memoryview at the memory's base address, so a call allocates no
ctypes objects. This is the only module (with `cache` and `interrupt`) that touches ctypes or
wasmtime.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from struct import Struct
from types import ModuleType
from typing import Any, Final

import wasmtime
from wasmtime import _bindings as ffi
from wasmtime._bindings import dll as _dll  # type: ignore[attr-defined]

from ..abi.signatures import Signature
from ..errors import (
    GuestTrap,
    InvalidArgValueError,
    ModuleLoadError,
    OutOfFuel,
    ResourceLimit,
    StackExhausted,
)
from ..limits import Limits
from ..memory import GuestMemory
from ..sandbox.stop import StopSignal
from ..syscalls import SystemCall, errno_of
from ..trace import traced_imports
from .base import ExportKind
from .cache import ModuleCache, cache_enabled
from .interrupt import Watchdog, signal_watcher


def _load_trampoline() -> ModuleType | None:
    """The C host-call trampoline (`_trampoline.c`), built at install time when a C compiler
    is at hand; None if it was not, or if ``PYWASI_TRAMPOLINE=0`` asks for the pure-Python
    host calls (which behave the same, at 1.2-2x the cost per call)."""
    if os.environ.get("PYWASI_TRAMPOLINE", "1") == "0":
        return None
    try:
        return importlib.import_module(f"{__package__}._trampoline")
    except ImportError:
        return None


# Module state, so tests and the benchmark can compare the two paths in one process.
trampoline: ModuleType | None = _load_trampoline()

# Every address of this process, as bytes. Only ever indexed at the raw argument arrays
# wasmtime hands to host calls.
_ADDRESS_SPACE: Final = memoryview((ctypes.c_ubyte * sys.maxsize).from_address(0)).cast("B")

# The same, as u32 cells: a host call's i32 result goes into the first (8-aligned) raw value.
_RESULTS: Final = _ADDRESS_SPACE[: sys.maxsize // 4 * 4].cast("I")

_MAX_MEMORY32: Final = 1 << 32
_CALLBACK: Final = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
)

# The ctypes callbacks wasmtime holds, by the key it holds them with. A store can outlive the
# Python objects that made it (an export kept after its instance is dropped), so each callback
# lives until wasmtime calls its finalizer, never less (a freed callback would crash the host).
_LENT: Final[dict[int, Any]] = {}


def _give_back(key: int | None) -> None:
    _LENT.pop(key or 0, None)


_GIVE_BACK: Final = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_give_back)
_GIVE_BACK_ADDRESS: Final = ctypes.cast(_GIVE_BACK, ctypes.c_void_p).value

# Our own prototypes of the C functions, taking and returning plain integers.
_define_unchecked: Final = _dll["wasmtime_linker_define_func_unchecked"]
_define_unchecked.restype = ctypes.c_void_p
_define_unchecked.argtypes = [
    ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
]
_TRAP_NEW_ADDRESS: Final = ctypes.cast(_dll["wasmtime_trap_new"], ctypes.c_void_p).value
_memory_data: Final = _dll["wasmtime_memory_data"]
_memory_data.restype = ctypes.c_size_t
_memory_data.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
_memory_data_size: Final = _dll["wasmtime_memory_data_size"]
_memory_data_size.restype = ctypes.c_size_t
_memory_data_size.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

_I32 = wasmtime.ValType.i32()
_I64 = wasmtime.ValType.i64()

# Engine settings pywasi relies on; also part of the compiled-module cache key.
ENGINE_SETTINGS: Final[Mapping[str, bool]] = {
    "memory_may_move": False,  # a memory's base address is fixed: no per-call lookup needed
    "wasm_exceptions": True,  # emitted by current toolchains (e.g. recent yowasp builds)
    "wasm_tail_call": True,
    "wasm_function_references": True,
    "epoch_interruption": True,  # Ctrl-C, interrupt() and timeouts stop compute (interrupt.py)
}
# Fuel is counted by code compiled for it (a few % slower), so it has an engine of its own.
FUEL_SETTINGS: Final[Mapping[str, bool]] = {**ENGINE_SETTINGS, "consume_fuel": True}


def make_engine(settings: Mapping[str, bool] = ENGINE_SETTINGS,
                max_wasm_stack: int | None = None) -> wasmtime.Engine:
    config = wasmtime.Config()
    for name, value in settings.items():
        setattr(config, name, value)
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack  # a run-time bound: compiled code is the same
    return wasmtime.Engine(config)


# Cached per signature (a NamedTuple), as are FuncTypes below: a FuncType costs ~20 us of ctypes
# calls to build, and instantiate() needs one per import.
@cache
def _params_layout(signature: Signature) -> Struct:
    # Each raw value is 16 bytes; an i32 fills the first 4, an i64 the first 8.
    padded = (code + ("12x" if code == "I" else "8x") for code in signature.params)
    return Struct("<" + "".join(padded))


def _new_func_type(signature: Signature) -> wasmtime.FuncType:
    params = [_I32 if code == "I" else _I64 for code in signature.params]
    return wasmtime.FuncType(params, [_I32] if signature.returns_errno else [])


# A FuncType belongs to the first engine it is used with (wasmtime asserts as much), so the
# cache is per engine; pywasi's engines live as long as the process, others get fresh ones.
_FUNC_TYPES: Final[dict[tuple[int, Signature], wasmtime.FuncType]] = {}


def _func_type(signature: Signature, engine: wasmtime.Engine) -> wasmtime.FuncType:
    if _cache_settings(engine) is None:
        return _new_func_type(signature)
    key = id(engine), signature
    if key not in _FUNC_TYPES:
        _FUNC_TYPES[key] = _new_func_type(signature)
    return _FUNC_TYPES[key]


def _new_trap(message: str) -> int:
    data = message.encode()
    trap = ffi.wasmtime_trap_new(ctypes.create_string_buffer(data), len(data))
    return ctypes.cast(trap, ctypes.c_void_p).value or 0


def _error_message(error: int) -> str:
    pointer = ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))
    return str(wasmtime.WasmtimeError._from_ptr(pointer))


# Host-call bodies are generated per (arity, kind, has-result), so that the raw arguments land
# in plain locals and the implementation is called with exact positional arguments: CPython
# runs such a call without a C-level `*args` call, measurably cheaper on the hot path.
_HOST_CALL_SOURCE: Final = """
def make(space, results, unpack, movable, target, context, failed):
    def host_call(env, caller, raw, count):
        try:
            if movable:
                for memory in movable:
                    memory.relocate()
            {unpack}
            {store}{call}
            return 0
        except BaseException as error:
            return failed(error, raw)
    return host_call
"""


@cache
def _host_call_factory(arity: int, system_call: bool, returns: bool) -> Callable[..., Any]:
    params = ", ".join(f"p{index}" for index in range(arity))
    call = f"target.implementation(context, {params})" if system_call else f"target({params})"
    source = _HOST_CALL_SOURCE.format(
        unpack=f"{params}, = unpack(space, raw)" if arity else "pass",
        store="results[raw >> 2] = " if returns else "",
        call=call if system_call or not returns else f"int({call})",
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<pywasi host call/{arity}>", "exec"), namespace)
    return namespace["make"]  # type: ignore[no-any-return]


@dataclass
class _HostCalls:
    """The host functions linked into one store, and what they left behind."""

    # An exception raised by a host function; it becomes a trap, then re-raised by `call`.
    pending: BaseException | None = None
    # Memories whose base must be looked up on every call (engines that may move memory).
    movable: list[GuestMemory] = field(default_factory=list)

    def stop(self, reason: BaseException) -> None:
        """The watchdog stopped the guest: `call` raises `reason`, as for a host call."""
        self.pending = reason

    def _trap(self, name: str, error: BaseException) -> int:
        self.pending = error
        return _new_trap(f"host call {name} raised {type(error).__name__}")

    def callback(self, function: Callable[..., int | None],
                 signature: Signature) -> tuple[int, int | None, int | None]:
        """Addresses of a C callback for `function`, its environment and the environment's
        finalizer. A pywasi `SystemCall` has its implementation called directly, with its
        exceptions turned into errno values here; any other callable is called as it is. An
        exception that is no errno becomes a trap, re-raised by `call`.

        The callback is the C trampoline when it was compiled, else a generated Python
        function behind a ctypes callback; both take the same steps."""
        context = function.context if isinstance(function, SystemCall) else None
        is_system_call = context is not None
        returns = signature.returns_errno

        def failed(error: BaseException, raw: int) -> int:
            errno = errno_of(error) if is_system_call else None
            if errno is None:
                return self._trap(getattr(function, "__name__", repr(function)), error)
            if returns:
                _RESULTS[raw >> 2] = errno
            return 0

        if trampoline is not None:
            env = trampoline.HostCall(function, context, signature.params, returns, failed,
                                      self.movable, _TRAP_NEW_ADDRESS)
            # wasmtime holds the HostCall until the last store and linker using it are gone.
            return trampoline.CALLBACK, env.lend(), trampoline.FINALIZER
        make = _host_call_factory(len(signature.params), is_system_call, returns)
        host_call = make(
            _ADDRESS_SPACE, _RESULTS, _params_layout(signature).unpack_from, self.movable,
            function, context, failed,
        )
        c_callback = _CALLBACK(host_call)
        _LENT[id(c_callback)] = c_callback  # until wasmtime gives it back through _give_back
        return (ctypes.cast(c_callback, ctypes.c_void_p).value or 0, id(c_callback),
                _GIVE_BACK_ADDRESS)


def define_imports(
    linker: wasmtime.Linker,
    import_object: Mapping[str, Mapping[str, Callable[..., int | None]]],
    signatures: Mapping[str, Signature],
    wanted: Set[tuple[str, str | None]],
) -> _HostCalls:
    """Define the functions of `import_object` named in `wanted` (the module's imports) in
    `linker` on the fast path. Defining only those halves an empty program's start-up."""
    calls = _HostCalls()
    linker_ptr = ctypes.addressof(linker.ptr().contents)
    for module, functions in import_object.items():
        module_name = module.encode()
        for name, function in functions.items():
            if (module, name) not in wanted:
                continue
            signature = signatures[name]
            func_type = _func_type(signature, linker.engine)
            callback, env, finalizer = calls.callback(function, signature)
            error = _define_unchecked(
                linker_ptr, module_name, len(module_name), name.encode(), len(name.encode()),
                ctypes.addressof(func_type.ptr().contents), callback, env, finalizer,
            )
            if error:
                raise ModuleLoadError(f"cannot define {module}.{name}: {_error_message(error)}")
    return calls


_EXPORT_KINDS: Final[dict[type, ExportKind]] = {
    wasmtime.Func: "func",
    wasmtime.Memory: "memory",
    wasmtime.Table: "table",
    wasmtime.Global: "global",
}


class WasmtimeInstance:
    """A wasmtime instance with its store: what `WASI.start()` and friends accept."""

    def __init__(self, store: wasmtime.Store, instance: wasmtime.Instance,
                 host_calls: _HostCalls, memory_may_move: bool, watchdog: Watchdog,
                 timeout: float | None = None) -> None:
        self.store = store
        self.instance = instance
        self.exports = instance.exports(store)
        self._host_calls = host_calls
        self._memory_may_move = memory_may_move
        self._watchdog = watchdog
        self._timeout = timeout

    def export_kind(self, name: str) -> ExportKind | None:
        item = self.exports.get(name)
        if item is None:
            return None
        return _EXPORT_KINDS.get(type(item), "tag")

    def guest_memory(self, memory: object | None = None) -> GuestMemory | None:
        if memory is None:
            memory = self.exports.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return None
        context = ctypes.addressof(self.store._context().contents)
        handle = ctypes.addressof(memory._memory)
        keep_alive = memory  # the wasmtime_memory_t lives inside this object
        window: list[Any] = [None, memoryview(b"")]  # (base address, view starting there)

        def locate() -> tuple[memoryview, int]:
            assert keep_alive is not None
            base = _memory_data(context, handle)
            size = _memory_data_size(context, handle)
            if base != window[0]:
                # A view as long as the largest 32-bit memory: GuestMemory checks every access
                # against `size`, so the unmapped part past it is never touched.
                span = ctypes.c_ubyte * max(size, _MAX_MEMORY32)
                window[:] = [base, memoryview(span.from_address(base)).cast("B")]
            return window[1], size

        guest = GuestMemory(locate)
        if self._memory_may_move:
            self._host_calls.movable.append(guest)
        return guest

    def call(self, name: str, *args: Any) -> Any:
        """Call an exported function, turning traps into `GuestTrap` and re-raising what a
        host call raised (such as `ProcExit`). Ctrl-C stops it with KeyboardInterrupt; the
        `Limits.timeout` bounds it."""
        func = self.exports[name]
        if not isinstance(func, wasmtime.Func):
            raise TypeError(f"export {name!r} is not a function")
        try:
            with signal_watcher.watching(), self._watchdog.running(self._timeout):
                return func(self.store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
            pending, self._host_calls.pending = self._host_calls.pending, None
            if pending is not None:
                raise pending from None
            raise guest_trap(trap) from None

    def interrupt(self) -> None:
        """Stop the guest from any thread: its running call raises `GuestInterrupted` at the
        next loop iteration or call in wasm, or out of a blocking poll_oneoff, promptly."""
        self._watchdog.stop()


_TRAPS: Final[dict[wasmtime.TrapCode, type[GuestTrap]]] = {
    wasmtime.TrapCode.OUT_OF_FUEL: OutOfFuel,
    wasmtime.TrapCode.STACK_OVERFLOW: StackExhausted,
}


_LIMIT_HINTS: Final[dict[type[GuestTrap], str]] = {
    OutOfFuel: "the guest used up its fuel (raise -W fuel or Limits.fuel)",
    StackExhausted: "the guest's call stack is exhausted (raise -W max-wasm-stack or "
                    "Limits.max_wasm_stack)",
}


def guest_trap(trap: wasmtime.Trap | wasmtime.WasmtimeError) -> GuestTrap:
    """The `GuestTrap` (or limit subclass) for a wasmtime trap, keeping its trap code. A
    limit's message is wasmtime's reason and what to raise, without the wasm backtrace."""
    code = trap.trap_code if isinstance(trap, wasmtime.Trap) else None
    exception = _TRAPS.get(code, GuestTrap) if code is not None else GuestTrap
    message = str(trap)
    if exception in _LIMIT_HINTS:
        reason = next((line.strip() for line in message.splitlines()
                       if line.strip().startswith("wasm trap:")), "wasm trap")
        message = f"{reason}: {_LIMIT_HINTS[exception]}"
    return exception(message, code.name if code is not None else None)


_default_engine: wasmtime.Engine | None = None
# pywasi's engines by (fuel, max_wasm_stack), each with the settings the cache keys it by.
_engines: dict[tuple[bool, int | None], tuple[wasmtime.Engine, Mapping[str, bool]]] = {}


def default_engine() -> wasmtime.Engine:
    """One engine per process, configured with `ENGINE_SETTINGS`, shared by all modules."""
    global _default_engine
    if _default_engine is None:
        _default_engine = make_engine()
        _engines[False, None] = _default_engine, ENGINE_SETTINGS
        signal_watcher.engines.append(_default_engine)
    return _default_engine


def engine_for(limits: Limits | None) -> wasmtime.Engine:
    """pywasi's engine for guests under `limits`: the default engine, or (for fuel or a stack
    size) one made once per process for those settings, cached as well."""
    if limits is None or (limits.fuel is None and limits.max_wasm_stack is None):
        return default_engine()
    key = limits.fuel is not None, limits.max_wasm_stack
    if key not in _engines:
        settings = FUEL_SETTINGS if limits.fuel is not None else ENGINE_SETTINGS
        engine = make_engine(settings, limits.max_wasm_stack)
        _engines[key] = engine, settings
        signal_watcher.engines.append(engine)
    return _engines[key][0]


def _cache_settings(engine: wasmtime.Engine) -> Mapping[str, bool] | None:
    """The settings `engine` is cached by, if pywasi made it (None for anyone else's)."""
    return next((settings for made, settings in _engines.values() if made is engine), None)


def load_module(source: str | Path | bytes, engine: wasmtime.Engine | None = None, *,
                cache: bool = True, limits: Limits | None = None) -> wasmtime.Module:
    """Compile a module from a `.wasm`/`.wat` path or bytes, through the on-disk cache
    (unless `cache` is False or ``PYWASI_CACHE=0``). With `limits` and no `engine`, it is
    compiled for the engine those limits need (see `engine_for`)."""
    engine = engine or engine_for(limits)
    if isinstance(source, (str, Path)):
        try:
            wasm: bytes = Path(source).read_bytes()
        except OSError as error:
            raise ModuleLoadError(f"cannot read module {str(source)!r}: {error.strerror}") from None
    else:
        wasm = source
    try:
        if not wasm.startswith(b"\0asm"):
            wasm = bytes(wasmtime.wat2wasm(wasm.decode("utf-8", "replace")))
        settings = _cache_settings(engine)
        if cache and cache_enabled() and settings is not None:
            return ModuleCache().load(engine, wasm, settings)
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as error:
        raise ModuleLoadError(f"cannot compile module: {error}") from None


def instantiate(wasi: Any, module: wasmtime.Module | str | Path | bytes, *,
                store: wasmtime.Store | None = None, cache: bool = True) -> WasmtimeInstance:
    """Compile (if need be) and instantiate `module` with `wasi`'s imports on wasmtime.

    With no `store`, pywasi's own engine is used: its memories never move, which saves a
    lookup per host call. A store on another engine works too, at that small cost; a
    `wasmtime.Module` passed in must come from the store's engine.
    """
    limits: Limits | None = getattr(wasi, "limits", None)
    engine = store.engine if store is not None else engine_for(limits)
    if not isinstance(module, wasmtime.Module):
        module = load_module(module, engine, cache=cache)
    if store is None:
        store = wasmtime.Store(engine)
    _apply_limits(store, limits)
    linker = wasmtime.Linker(engine)
    wanted = {(item.module, item.name) for item in module.imports}
    imports = wasi.get_import_object()
    trace = getattr(wasi, "trace", None)
    if trace is not None:  # chosen here, once: the untraced host calls stay as they are
        imports = traced_imports(imports, wasi.signatures, trace)
    host_calls = define_imports(linker, imports, wasi.signatures, wanted)
    stop_signal: StopSignal | None = getattr(wasi, "stop_signal", None)
    watchdog = Watchdog(store, engine, host_calls.stop,
                        stop_signal.ring if stop_signal is not None else _nothing)
    if stop_signal is not None:
        stop_signal.reason = watchdog.reason_to_stop
    timeout = limits.timeout if limits is not None else None
    try:
        # A start function is bounded by the timeout, but not watched for Ctrl-C: that costs
        # ~8 us, and WASI programs start from an export (`_start`), not a start function.
        with watchdog.running(timeout):
            instance = linker.instantiate(store, module)
    except wasmtime.Trap as trap:
        pending, host_calls.pending = host_calls.pending, None
        if pending is not None:
            raise pending from None
        raise guest_trap(trap) from None
    except wasmtime.WasmtimeError as error:
        pending, host_calls.pending = host_calls.pending, None
        if pending is not None:
            raise pending from None
        if limits is not None and limits.max_memory_size is not None \
                and "memory" in str(error) and "limit" in str(error):
            raise ResourceLimit(
                f"the module's memory is larger than its limit of {limits.max_memory_size} "
                f"bytes (max-memory-size): {error}") from None
        raise ModuleLoadError(f"cannot instantiate module: {error}") from None
    return WasmtimeInstance(store, instance, host_calls,
                            memory_may_move=engine is not _default_engine, watchdog=watchdog,
                            timeout=timeout)


def _nothing() -> None:
    """No blocking wait to wake: an import object that is not pywasi's `WASI`."""


def _apply_limits(store: wasmtime.Store, limits: Limits | None) -> None:
    if limits is None:
        return
    if limits.fuel is not None:
        try:
            store.set_fuel(limits.fuel)
        except wasmtime.WasmtimeError:
            raise InvalidArgValueError(
                "Limits.fuel needs a store whose engine consumes fuel: leave out store= "
                "(pywasi makes one), or enable consume_fuel on your engine's config"
            ) from None
    if limits.max_memory_size is not None:
        store.set_limits(memory_size=limits.max_memory_size)
