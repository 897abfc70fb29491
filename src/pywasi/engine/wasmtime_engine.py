"""The wasmtime binding: the fast host-call path, guest memory access, instantiation.

Host calls are registered with ``wasmtime_linker_define_func_unchecked``: wasmtime hands the
callback a pointer to an array of raw 16-byte values. The callback is the C trampoline of
`_trampoline.c` where it was built at install, else a Python function (generated per signature)
behind a ctypes callback, which reads the values with one precompiled `struct` through a
memoryview spanning the process address space. Either way the system call's implementation is
called with plain ints, and its exceptions come back to `_HostCalls.callback` to become an errno
or a trap. Guest memory is a memoryview at the memory's base address, so a call allocates no
ctypes objects. This is the only module (with `cache`) that touches ctypes or wasmtime.

Everything engine-bound is kept per engine (wasmtime ties a function type to the first engine
that uses it, and aborts the process if another engine uses it after), so any number of engines
and stores can be used in one process, from any thread. See `base` for the engine contract.
"""

from __future__ import annotations

import ctypes
import importlib
import itertools
import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping, Set
from contextlib import AbstractContextManager, nullcontext
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
    InstanceClosedError,
    InvalidArgValueError,
    MemoryGoneError,
    ModuleLoadError,
)
from ..memory import GuestMemory
from ..syscalls import SystemCall, errno_of
from .base import AroundGuestCall, ExportKind, GuestCallHooks
from .cache import ModuleCache, cache_enabled, remember_settings, settings_of


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
}


def make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    for name, value in ENGINE_SETTINGS.items():
        setattr(config, name, value)
    engine = wasmtime.Engine(config)
    remember_settings(engine, ENGINE_SETTINGS)
    return engine


@cache
def _params_layout(signature: Signature) -> Struct:
    # Each raw value is 16 bytes; an i32 fills the first 4, an i64 the first 8. Read so, the
    # values are exactly what `SystemCall` would normalise them to: u32, u64 or s64.
    padded = (code + ("12x" if code == "I" else "8x") for code in signature.params)
    return Struct("<" + "".join(padded))


# FuncTypes by engine, then by signature: one costs ~20 us of ctypes calls to build and
# instantiate() needs one per import, but wasmtime binds a FuncType to the first engine that
# uses it (another engine using it after is an abort, not an error), so none is shared
# between engines. An engine's types go with it.
_FuncTypes = dict[Signature, wasmtime.FuncType]
_FUNC_TYPES: Final[weakref.WeakKeyDictionary[wasmtime.Engine, _FuncTypes]] = (
    weakref.WeakKeyDictionary()
)
_FUNC_TYPES_LOCK: Final = threading.Lock()


def _func_types(engine: wasmtime.Engine) -> _FuncTypes:
    with _FUNC_TYPES_LOCK:
        types = _FUNC_TYPES.get(engine)
        if types is None:
            types = _FUNC_TYPES[engine] = {}
        return types


def _func_type(types: _FuncTypes, signature: Signature) -> wasmtime.FuncType:
    func_type = types.get(signature)
    if func_type is None:
        params = [_I32 if code == "I" else _I64 for code in signature.params]
        built = wasmtime.FuncType(params, [_I32] if signature.returns_errno else [])
        func_type = types.setdefault(signature, built)
    return func_type


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


# Numbers the traps made for host-call exceptions, so an exception is re-raised only by the
# trap it caused, never by a later, unrelated one. The salt keeps a guest from forging a tag
# (a trap's text includes the guest's own function names).
_TRAP_NUMBERS: Final = itertools.count(1)
_TRAP_SALT: Final = os.urandom(8).hex()


def _trap_tag(number: int) -> str:
    return f"[pywasi host-call trap {_TRAP_SALT}-{number}]"


class _HostCalls:
    """The host functions linked into one store, and what they left behind."""

    def __init__(self) -> None:
        # The exception of the host call that trapped last, with its trap's number: `call`
        # re-raises it if the trap it catches is that one.
        self.pending: tuple[int, BaseException] | None = None
        # Memories whose base must be looked up on every call (engines that may move memory).
        self.movable: list[GuestMemory] = []

    def _trap(self, name: str, error: BaseException) -> int:
        number = next(_TRAP_NUMBERS)
        self.pending = (number, error)
        return _new_trap(f"host call {name} raised {type(error).__name__} {_trap_tag(number)}")

    def failure(self, trap: Exception) -> BaseException:
        """What to raise for `trap`: the host-call exception that caused it, else `GuestTrap`.
        What is pending is dropped either way (it belonged to a trap that went elsewhere).

        The trap's traceback is cut: it holds the frame of wasmtime-py's `enter_wasm`, which
        holds the trap, a cycle that would keep the store and the guest's host descriptors
        (through our frames on the same traceback) until a garbage collection."""
        pending, self.pending = self.pending, None
        trap.__traceback__ = None
        if pending is not None and _trap_tag(pending[0]) in str(trap):
            return pending[1]
        return GuestTrap(str(trap))

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
        # Its address read from its buffer: `ctypes.cast` would store the callback in its own
        # `_objects`, a cycle that only a garbage collection frees (with the WASI context and
        # its host descriptors), long after wasmtime gave the callback back.
        return (ctypes.c_void_p.from_buffer(c_callback).value or 0, id(c_callback),
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
    func_types = _func_types(linker.engine)
    linker_ptr = ctypes.addressof(linker.ptr().contents)
    for module, functions in import_object.items():
        module_name = module.encode()
        for name, function in functions.items():
            if (module, name) not in wanted:
                continue
            signature = signatures[name]
            func_type = _func_type(func_types, signature)
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


class _OwnedStore(wasmtime.Store):
    """A store pywasi made on its own engine. Its memories never move, so their views are not
    looked up per call; instead every view is detached before wasmtime frees the store (by
    `close()` or by collection), so a later system call fails cleanly, not on freed memory."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.memories: list[GuestMemory] = []
        super().__init__(engine)

    def _delete(self, ptr: Any) -> None:
        for memory in self.memories:
            memory.detach()
        super()._delete(ptr)


def _context_finder(store: wasmtime.Store) -> Callable[[], int]:
    """The address of `store`'s context, looked up per use unless pywasi owns the store.

    The memory view must not keep a user's store alive: the store holds (natively, out of the
    garbage collector's sight) the host calls, which hold the WASI context, which holds the
    memory, so a strong reference back would be a cycle never collected. So a user's store is
    held weakly and checked on each lookup: once it is gone or closed, `MemoryGoneError`."""
    if isinstance(store, _OwnedStore):
        address = ctypes.addressof(store._context().contents)
        return lambda: address
    held = weakref.ref(store)

    def find() -> int:
        alive = held()
        try:
            if alive is None:
                raise ValueError("collected")
            return ctypes.addressof(alive._context().contents)
        except ValueError:  # wasmtime-py's "already closed"
            raise MemoryGoneError() from None

    return find


class WasmtimeInstance:
    """A wasmtime instance with its store: what `WASI.start()` and friends accept.

    A context manager: `close()` (or the end of the `with` block) closes the guest's host
    descriptors and, if pywasi made the store, the store. Without it, both are released when
    nothing can reach them any more (the WASI object, the instance and the store)."""

    def __init__(self, store: wasmtime.Store, instance: wasmtime.Instance,
                 host_calls: _HostCalls, wasi: Any = None) -> None:
        self.store = store
        self.instance = instance
        self.exports = instance.exports(store)
        self._host_calls = host_calls
        self._wasi = wasi
        self._closed = False
        # The WASI object's hooks (flush the host's stdio before a call, raise what a Python
        # stdio object raised after), when it has them.
        self._around_call: AbstractContextManager[None] = (
            AroundGuestCall(wasi) if isinstance(wasi, GuestCallHooks) else nullcontext())

    def __enter__(self) -> WasmtimeInstance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the WASI object's descriptors and the store pywasi made (not one passed in
        with ``store=``, which its owner closes); calling exports afterwards is an error."""
        self._closed = True
        if self._wasi is not None:
            self._wasi.close()
        if isinstance(self.store, _OwnedStore):
            self.store.close()

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
        if memory._memory._anon_1.store_id != self.instance._instance.store_id:
            # wasmtime would panic (abort the process) on the first use.
            raise InvalidArgValueError(
                "The memory belongs to another wasmtime.Store than the instance: pass a memory "
                "of the instance's own store (one of its exports, or one made with its store)"
            )
        store = self.store
        find_context = _context_finder(store)
        handle = ctypes.addressof(memory._memory)
        keep_alive = memory  # the wasmtime_memory_t lives inside this object
        window: list[Any] = [None, memoryview(b"")]  # (base address, view starting there)

        def locate() -> tuple[memoryview, int]:
            assert keep_alive is not None
            context = find_context()
            base = _memory_data(context, handle)
            size = _memory_data_size(context, handle)
            if base != window[0]:
                # A view as long as the largest 32-bit memory: GuestMemory checks every access
                # against `size`, so the unmapped part past it is never touched.
                span = ctypes.c_ubyte * max(size, _MAX_MEMORY32)
                window[:] = [base, memoryview(span.from_address(base)).cast("B")]
            return window[1], size

        if isinstance(store, _OwnedStore):
            guest = GuestMemory(locate)
            store.memories.append(guest)
        else:
            # Any engine's settings may let memory move; a user's store is also checked to be
            # alive on each lookup (see `_context_finder`).
            guest = GuestMemory(locate, movable=True)
            self._host_calls.movable.append(guest)
            weakref.finalize(store, guest.detach)
        return guest

    def call(self, name: str, *args: Any) -> Any:
        """Call an exported function, turning traps into `GuestTrap` and re-raising what a
        host call raised (such as `ProcExit`) from the trap it caused, between the WASI
        object's hooks (which flush the host's stdio before, and raise what a Python stdio
        object raised after)."""
        if self._closed:
            raise InstanceClosedError()
        func = self.exports[name]
        if not isinstance(func, wasmtime.Func):
            raise TypeError(f"export {name!r} is not a function")
        with self._around_call:
            try:
                return func(self.store, *args)
            except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
                raise self._host_calls.failure(trap) from None


_default_engine: wasmtime.Engine | None = None
_DEFAULT_ENGINE_LOCK: Final = threading.Lock()


def default_engine() -> wasmtime.Engine:
    """One engine per process, configured with `ENGINE_SETTINGS`, shared by all modules; made
    once even when several threads ask first at the same time."""
    global _default_engine
    engine = _default_engine
    if engine is None:
        with _DEFAULT_ENGINE_LOCK:
            if _default_engine is None:
                _default_engine = make_engine()
            engine = _default_engine
    return engine


def load_module(source: str | Path | bytes, engine: wasmtime.Engine | None = None, *,
                cache: bool = True) -> wasmtime.Module:
    """Compile a module from a `.wasm`/`.wat` path or bytes, through the on-disk cache
    (unless `cache` is False or ``PYWASI_CACHE=0``, or `engine` has settings the cache cannot
    key: one not made by `make_engine`)."""
    engine = engine or default_engine()
    settings = settings_of(engine) if cache and cache_enabled() else None  # None: no cache
    if isinstance(source, (str, Path)):
        try:
            # An unchanged file is not even read (see `ModuleCache.load_file`).
            known = (ModuleCache().load_file(engine, Path(source), settings)
                     if settings is not None else None)
            if known is not None:
                return known
            wasm: bytes = Path(source).read_bytes()
        except OSError as error:
            raise ModuleLoadError(f"cannot read module {str(source)!r}: {error.strerror}") from None
        except wasmtime.WasmtimeError as error:
            raise ModuleLoadError(f"cannot compile module: {error}") from None
    else:
        wasm = source
    try:
        if not wasm.startswith(b"\0asm"):
            wasm = bytes(wasmtime.wat2wasm(wasm.decode("utf-8", "replace")))
        if settings is not None:
            return ModuleCache().load(engine, wasm, settings)
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as error:
        raise ModuleLoadError(f"cannot compile module: {error}") from None


def instantiate(wasi: Any, module: wasmtime.Module | str | Path | bytes, *,
                store: wasmtime.Store | None = None, cache: bool = True) -> WasmtimeInstance:
    """Compile (if need be) and instantiate `module` with `wasi`'s imports on wasmtime.

    With no `store`, pywasi's own engine is used: its memories never move, which saves a
    lookup per host call. A store of yours, on any engine, works too, at that small cost; a
    `wasmtime.Module` passed in must come from the store's engine.
    """
    engine = store.engine if store is not None else default_engine()
    if not isinstance(module, wasmtime.Module):
        module = load_module(module, engine, cache=cache)
    if store is None:
        store = _OwnedStore(engine)
    linker = wasmtime.Linker(engine)
    wanted = {(item.module, item.name) for item in module.imports}
    host_calls = define_imports(linker, wasi.get_import_object(), wasi.signatures, wanted)
    try:
        instance = linker.instantiate(store, module)
    except wasmtime.Trap as trap:  # in the start section
        raise host_calls.failure(trap) from None
    except wasmtime.WasmtimeError as error:
        if host_calls.pending is not None:  # a host call in the start section failed
            raise host_calls.failure(error) from None
        raise ModuleLoadError(_instantiation_problem(str(error))) from None
    return WasmtimeInstance(store, instance, host_calls, wasi)


def _instantiation_problem(error: str) -> str:
    if "cross-`Engine`" in error:
        return ("cannot instantiate module: it was compiled for another wasmtime.Engine than "
                "the store's. Pass store=wasmtime.Store(<the module's engine>), or compile it "
                "for the store with pywasi.load_module(..., engine=store.engine) (with no "
                "store=, that is pywasi's engine: pywasi.load_module(...))")
    return f"cannot instantiate module: {error}"
