"""The wasmtime binding: the fast host-call path, guest memory access, instantiation.

Host calls are registered with ``wasmtime_linker_define_func_unchecked``: wasmtime hands the
callback a pointer to an array of raw 16-byte values. The callback is the C trampoline of
`_trampoline.c` where it was built at install, else a Python function (generated per signature)
behind a C callback made by `ffi`, which reads the values with one precompiled `struct` through a
memoryview spanning the process address space. Either way the system call's implementation is
called with plain ints, and its exceptions come back to `_HostCalls.callback` to become an errno
or a trap. Guest memory is a memoryview at the memory's base address, so a call allocates no
wrapper objects. wasmtime-py's internals are all in `ffi`.

Everything engine-bound is kept per engine (wasmtime ties a function type to the first engine
that uses it, and aborts the process if another engine uses it after), so any number of engines
and stores can be used in one process, from any thread. See `base` for the engine contract.
"""

from __future__ import annotations

import importlib
import itertools
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path
from struct import Struct
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

import wasmtime

from ..abi.signatures import Signature
from ..errors import (
    GuestTrap,
    InstanceClosedError,
    InvalidArgValueError,
    MemoryGoneError,
    ModuleLoadError,
    OutOfFuel,
    ResourceLimit,
    StackExhausted,
)
from ..limits import TABLE_ELEMENTS_DEFAULT, Limits
from ..memory import GuestMemory
from ..sandbox.stop import StopSignal
from ..syscalls import SystemCall, errno_of
from . import ffi
from .base import AroundGuestCall, ExportKind, GuestCallHooks
from .cache import ModuleCache, cache_enabled, remember_settings, settings_of
from .exports import ExportAccess, ExportCall
from .interrupt import Watchdog, signal_watcher

if TYPE_CHECKING:
    from .host_imports import Imports


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

_TRAMPOLINE_MAX_ARITY: Final = 16  # MAX_ARITY in _trampoline.c; longer ones take the Python path

# Raw-value codes (`struct` codes) by core type. Parameters of WASI calls are read unsigned
# (``I``, ``Q``) or, where the ABI says so, signed (``q``); an embedder's host functions get
# Python's natural reading: signed ints (``i``, ``q``) and floats (``f``, ``d``).
_VALUE_TYPES: Final[dict[str, Callable[[], wasmtime.ValType]]] = {
    "I": wasmtime.ValType.i32, "i": wasmtime.ValType.i32, "Q": wasmtime.ValType.i64,
    "q": wasmtime.ValType.i64, "f": wasmtime.ValType.f32, "d": wasmtime.ValType.f64,
}

# Engine settings pywasi relies on; also part of the compiled-module cache key.
ENGINE_SETTINGS: Final[Mapping[str, bool]] = {
    "memory_may_move": False,  # a memory's base address is fixed: no per-call lookup needed
    "wasm_exceptions": True,  # emitted by current toolchains (e.g. recent yowasp builds)
    "wasm_tail_call": True,
    "wasm_function_references": True,
    # No epoch checks, as `wasmtime run` and wasmtime-py compile: they cost call-heavy code up
    # to half its speed (bench/real_programs.py). A stop still ends every blocking wait and
    # stops the guest at its next host call (`_HostCalls.stop_flag`).
    "epoch_interruption": False,
}
# Fuel is counted by code compiled for it (a few % slower), so it has an engine of its own.
FUEL_SETTINGS: Final[Mapping[str, bool]] = {**ENGINE_SETTINGS, "consume_fuel": True}
# A timeout or `Limits(interruptible=True)`: epoch checks in the code, so that Ctrl-C,
# `interrupt()` and timeouts stop compute too (see `interrupt`).
INTERRUPTIBLE: Final[Mapping[str, bool]] = {"epoch_interruption": True}


def epoch_checks(limits: Limits | None) -> bool:
    """Whether a guest under `limits` is compiled with epoch checks: when asked for
    (``interruptible=True``), or, unless refused, when a timeout needs them."""
    if limits is None:
        return False
    if limits.interruptible is not None:
        return limits.interruptible
    return limits.timeout is not None


def make_engine(settings: Mapping[str, bool] = ENGINE_SETTINGS,
                max_wasm_stack: int | None = None) -> wasmtime.Engine:
    config = wasmtime.Config()
    for name, value in settings.items():
        setattr(config, name, value)
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack  # a run-time bound: compiled code is the same
    engine = wasmtime.Engine(config)
    remember_settings(engine, settings)
    return engine


@cache
def _params_layout(params: str) -> Struct:
    # Each raw value is 16 bytes; an i32 or f32 fills the first 4, an i64 or f64 the first 8.
    # Read so, WASI's values are exactly what `SystemCall` would normalise them to.
    padded = (code + ("12x" if code in "Iif" else "8x") for code in params)
    return Struct("<" + "".join(padded))


def _int_bits(bits: int) -> Callable[[Any], int]:
    low, high, mask = -(1 << (bits - 1)), 1 << bits, (1 << bits) - 1

    def to_bits(value: Any) -> int:
        number = int(value)
        if not low <= number < high:
            raise OverflowError(f"host function result does not fit an i{bits}")
        return number & mask

    return to_bits


# How an embedder's host function's result is stored in the first raw value, by result code
# (the same rules as the trampoline's `store_result`: an int of either reading, a float).
def _result_store(layout: str, convert: Callable[[Any], Any]
                  ) -> Callable[[memoryview, int, Any], None]:
    pack = Struct(layout).pack_into

    def store(space: memoryview, raw: int, value: Any) -> None:
        pack(space, raw, convert(value))

    return store


_RESULT_STORES: Final = {"i": _result_store("<I", _int_bits(32)),
                         "q": _result_store("<Q", _int_bits(64)),
                         "f": _result_store("<f", float), "d": _result_store("<d", float)}


# FuncTypes by engine, then by signature: one costs ~20 us of foreign calls to build and
# instantiate() needs one per import, but wasmtime binds a FuncType to the first engine that
# uses it (another engine using it after is an abort, not an error), so none is shared
# between engines. An engine's types go with it.
_FuncTypes = dict[tuple[str, str], wasmtime.FuncType]
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


def _func_type(types: _FuncTypes, params: str, result: str) -> wasmtime.FuncType:
    """The function type of raw-value codes `params` and `result` ('' for none)."""
    func_type = types.get((params, result))
    if func_type is None:
        built = wasmtime.FuncType([_VALUE_TYPES[code]() for code in params],
                                  [_VALUE_TYPES[code]() for code in result])
        func_type = types.setdefault((params, result), built)
    return func_type


# Host-call bodies are generated per (arity, kind, result), so that the raw arguments land
# in plain locals and the implementation is called with exact positional arguments: CPython
# runs such a call without a C-level `*args` call, measurably cheaper on the hot path.
_HOST_CALL_SOURCE: Final = """
def make(space, results, unpack, movable, target, context, failed, store_result, bind,
         stop_flag, check_stop):
    def host_call(env, caller, raw, count):
        {bind_once}
        try:
            {bind}
            if stop_flag[0]:
                check_stop()
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
def _host_call_factory(arity: int, system_call: bool, result: str,
                       binds: bool) -> Callable[..., Any]:
    params = ", ".join(f"p{index}" for index in range(arity))
    call = f"target.implementation(context, {params})" if system_call else f"target({params})"
    if result in ("", "I"):  # WASI's: none, or an errno (int() for a replaced import's result)
        store = "results[raw >> 2] = " if result else ""
        call = call if system_call or not result else f"int({call})"
    else:
        store, call = "", f"store_result(space, raw, {call})"
    source = _HOST_CALL_SOURCE.format(
        unpack=f"{params}, = unpack(space, raw)" if arity else "pass",
        store=store, call=call,
        bind_once="nonlocal bind" if binds else "",
        bind="if bind is not None:\n                bind(caller)\n                bind = None"
        if binds else "",
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
        # Memories whose base must be looked up on every call of a plain host function
        # (engines that may move memory). A system call relocates its own context's `movable`
        # instead: whichever store's guest calls it, that is the memory it will use.
        self.movable: list[GuestMemory] = []
        # Set (to 1) by the watchdog when the guest must stop: every host call looks at it on
        # entry and then calls `check_stop`, which raises why. So a guest compiled without
        # epoch checks still stops at its next system call.
        self.stop_flag = bytearray(1)
        self.check_stop: Callable[[], None] = self._carry_on

    def _carry_on(self) -> None:
        self.stop_flag[0] = 0

    def stop(self, reason: BaseException) -> str:
        """Stop the guest with `reason` (a host call's exception, or the watchdog's): `call`
        raises it when the trap or error handed to wasmtime carries the tag returned here."""
        number = next(_TRAP_NUMBERS)
        self.pending = (number, reason)
        return _trap_tag(number)

    def _check_stop(self) -> None:
        self.check_stop()  # looked up per stop, so that the watchdog can set it after linking

    def _trap(self, name: str, error: BaseException) -> int:
        return ffi.new_trap(f"host call {name} raised {type(error).__name__} {self.stop(error)}")

    def failure(self, trap: wasmtime.Trap | wasmtime.WasmtimeError) -> BaseException:
        """What to raise for `trap`: the host-call exception that caused it, else `GuestTrap`.
        What is pending is dropped either way (it belonged to a trap that went elsewhere).

        The trap's traceback is cut: it holds the frame of wasmtime-py's `enter_wasm`, which
        holds the trap, a cycle that would keep the store and the guest's host descriptors
        (through our frames on the same traceback) until a garbage collection."""
        pending, self.pending = self.pending, None
        trap.__traceback__ = None
        if pending is not None and _trap_tag(pending[0]) in str(trap):
            return pending[1]
        return guest_trap(trap)

    def callback(self, function: Callable[..., Any], params: str, result: str,
                 bind: Callable[[int], object] | None = None
                 ) -> tuple[int, int | None, int | None]:
        """Addresses of a C callback for `function`, its environment and the environment's
        finalizer; `params` and `result` are raw-value codes (see `_VALUE_TYPES`). A pywasi
        `SystemCall` has its implementation called directly, with its exceptions turned into
        errno values here; any other callable is called as it is. An exception that is no
        errno becomes a trap, re-raised by `call`. `bind`, if given, is called with the
        caller's address before the first call.

        The callback is the C trampoline when it was compiled (for up to 16 parameters), else
        a generated Python function behind a C callback (`ffi.host_callback`); both take the
        same steps."""
        context = function.context if isinstance(function, SystemCall) else None
        is_system_call = context is not None
        returns = result == "I"
        movable = context.movable if context is not None else self.movable

        def failed(error: BaseException, raw: int) -> int:
            errno = errno_of(error) if is_system_call else None
            if errno is None:
                return self._trap(getattr(function, "__name__", repr(function)), error)
            if returns:
                ffi.RESULTS[raw >> 2] = errno
            return 0

        if trampoline is not None and len(params) <= _TRAMPOLINE_MAX_ARITY:
            env = trampoline.HostCall(function, context, params, result, failed,
                                      movable, ffi.TRAP_NEW_ADDRESS, bind, self.stop_flag,
                                      self._check_stop)
            # wasmtime holds the HostCall until the last store and linker using it are gone.
            return trampoline.CALLBACK, env.lend(), trampoline.FINALIZER
        make = _host_call_factory(len(params), is_system_call, result, bind is not None)
        host_call = make(
            ffi.ADDRESS_SPACE, ffi.RESULTS, _params_layout(params).unpack_from, movable,
            function, context, failed, _RESULT_STORES.get(result), bind, self.stop_flag,
            self._check_stop,
        )
        return ffi.host_callback(host_call)


def define_imports(
    linker: wasmtime.Linker,
    import_object: Mapping[str, Mapping[str, Callable[..., int | None]]],
    signatures: Mapping[str, Signature],
    wanted: Set[tuple[str, str | None]],
) -> _HostCalls:
    """Define the functions of `import_object` named in `wanted` (the module's imports) in
    `linker` on the fast path. Defining only those halves an empty program's start-up."""
    calls = _HostCalls()
    for module, functions in import_object.items():
        for name, function in functions.items():
            if (module, name) in wanted:
                signature = signatures[name]
                define_function(linker, calls, module, name, function, signature.params,
                                "I" if signature.returns_errno else "")
    return calls


def define_function(linker: wasmtime.Linker, calls: _HostCalls, module: str, name: str,
                    function: Callable[..., Any], params: str, result: str,
                    bind: Callable[[int], object] | None = None) -> None:
    """Define `module`.`name` in `linker` as `function` on the fast path, with the raw-value
    codes `params` and `result` (see `_HostCalls.callback`)."""
    func_type = _func_type(_func_types(linker.engine), params, result)
    callback, env, finalizer = calls.callback(function, params, result, bind)
    try:
        ffi.define_unchecked(linker, module, name, func_type, callback, env, finalizer)
    except wasmtime.WasmtimeError as error:
        raise ModuleLoadError(f"cannot define {module}.{name}: {error}") from None


_EXPORT_KINDS: Final[dict[type, ExportKind]] = {
    wasmtime.Func: "func",
    wasmtime.Memory: "memory",
    wasmtime.Table: "table",
    wasmtime.Global: "global",
}


class _OwnedStore(ffi.FreeNotifyingStore):
    """A store pywasi made on its own engine. Its memories never move, so their views are not
    looked up per call; instead every view is detached before wasmtime frees the store (by
    `close()` or by collection), so a later system call fails cleanly, not on freed memory."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.memories: list[GuestMemory] = []
        super().__init__(engine)

    def before_free(self) -> None:
        for memory in self.memories:
            memory.detach()


def _context_finder(store: wasmtime.Store) -> Callable[[], int]:
    """The address of `store`'s context, looked up per use unless pywasi owns the store.

    The memory view must not keep a user's store alive: the store holds (natively, out of the
    garbage collector's sight) the host calls, which hold the WASI context, which holds the
    memory, so a strong reference back would be a cycle never collected. So a user's store is
    held weakly and checked on each lookup: once it is gone or closed, `MemoryGoneError`."""
    if isinstance(store, _OwnedStore):
        address = ffi.context_address(store)
        return lambda: address
    held = weakref.ref(store)

    def find() -> int:
        alive = held()
        try:
            if alive is None:
                raise ValueError("collected")
            return ffi.context_address(alive)
        except ValueError:  # wasmtime-py's "already closed"
            raise MemoryGoneError() from None

    return find


class WasmtimeInstance(ExportAccess):
    """A wasmtime instance with its store: what `WASI.start()` and friends accept, with typed
    exports (`func`, `memory`, `call_str`...: see `exports.ExportAccess`).

    A context manager: `close()` (or the end of the `with` block) closes the guest's host
    descriptors and, if pywasi made the store, the store. Without it, both are released when
    nothing can reach them any more (the WASI object, the instance and the store)."""

    def __init__(self, store: wasmtime.Store, instance: wasmtime.Instance,
                 host_calls: _HostCalls, wasi: Any = None, *, watchdog: Watchdog,
                 timeout: float | None = None) -> None:
        self.store = store
        self.instance = instance
        self.exports = instance.exports(store)
        self._host_calls = host_calls
        self._wasi = wasi
        self._closed = False
        self._calls: dict[str, ExportCall] = {}
        self._memory = None
        self._watchdog = watchdog
        self._timeout = timeout
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
        if ffi.memory_store_id(memory) != ffi.instance_store_id(self.instance):
            # wasmtime would panic (abort the process) on the first use.
            raise InvalidArgValueError(
                "The memory belongs to another wasmtime.Store than the instance: pass a memory "
                "of the instance's own store (one of its exports, or one made with its store)"
            )
        return memory_view(self.store, memory, self._host_calls)

    def call(self, name: str, *args: Any) -> Any:
        """Call an exported function, turning traps into `GuestTrap` and re-raising what a
        host call raised (such as `ProcExit`) from the trap it caused, between the WASI
        object's hooks (which flush the host's stdio before, and raise what a Python stdio
        object raised after). Ctrl-C stops it with KeyboardInterrupt; `Limits.timeout` bounds
        it."""
        with self.calling():
            return self.call_within(name, *args)

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Around one or more `call_within`s: the WASI object's hooks, Ctrl-C, the timeout,
        and traps turned into the exceptions `call` raises (one entry for a plugin call's
        several calls into the guest: entering costs a few µs)."""
        if self._closed:
            raise InstanceClosedError()
        with self._around_call:
            try:
                with signal_watcher.watching(), self._watchdog.running(self._timeout):
                    yield
            except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
                raise self._host_calls.failure(trap) from None

    def call_within(self, name: str, *args: Any) -> Any:
        """Call the export `name`, checked, inside `calling()`."""
        export = self.export_call(name)
        return export.invoke(self.store, export.arguments(args))

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


def memory_view(store: wasmtime.Store, memory: wasmtime.Memory, host_calls: _HostCalls
                ) -> GuestMemory:
    """A `GuestMemory` over `memory`, a memory of `store` (see the engine contract in `base`
    for how it follows the memory and is detached when the store goes)."""
    find_context = _context_finder(store)
    window = ffi.MemoryWindow(memory)

    def locate() -> tuple[memoryview, int]:
        return window.locate(find_context())

    if isinstance(store, _OwnedStore):
        guest = GuestMemory(locate)
        store.memories.append(guest)
    else:
        # Any engine's settings may let memory move; a user's store is also checked to be
        # alive on each lookup (see `_context_finder`).
        guest = GuestMemory(locate, movable=True)
        host_calls.movable.append(guest)
        weakref.finalize(store, guest.detach)
    return guest


_default_engine: wasmtime.Engine | None = None
# pywasi's engines for limits, by (fuel, max_wasm_stack, epoch checks); the default one is
# (False, None, False).
_engines: dict[tuple[bool, int | None, bool], wasmtime.Engine] = {}
_ENGINES_LOCK: Final = threading.Lock()


def default_engine() -> wasmtime.Engine:
    """One engine per process, configured with `ENGINE_SETTINGS`, shared by all modules; made
    once even when several threads ask first at the same time."""
    global _default_engine
    engine = _default_engine
    if engine is None:
        with _ENGINES_LOCK:
            if _default_engine is None:
                _default_engine = _engines[False, None, False] = make_engine()
                signal_watcher.engines.append(_default_engine)
            engine = _default_engine
    return engine


def engine_for(limits: Limits | None) -> wasmtime.Engine:
    """pywasi's engine for guests under `limits`: the default engine, or (for fuel, a stack
    size or epoch checks) one made once per process for those settings, cached as well."""
    epochs = epoch_checks(limits)
    if limits is None or (limits.fuel is None and limits.max_wasm_stack is None
                          and not epochs):
        return default_engine()
    key = limits.fuel is not None, limits.max_wasm_stack, epochs
    with _ENGINES_LOCK:
        engine = _engines.get(key)
        if engine is None:
            settings = FUEL_SETTINGS if limits.fuel is not None else ENGINE_SETTINGS
            if epochs:
                settings = {**settings, **INTERRUPTIBLE}
            engine = _engines[key] = make_engine(settings, limits.max_wasm_stack)
            signal_watcher.engines.append(engine)
    return engine


def load_module(source: str | Path | bytes, engine: wasmtime.Engine | None = None, *,
                cache: bool = True, limits: Limits | None = None) -> wasmtime.Module:
    """Compile a module from a `.wasm`/`.wat` path or bytes, through the on-disk cache
    (unless `cache` is False or ``PYWASI_CACHE=0``, or `engine` has settings the cache cannot
    key: one not made by `make_engine`). With `limits` and no `engine`, it is compiled for the
    engine those limits need (see `engine_for`)."""
    engine = engine or engine_for(limits)
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
        named = f" {str(source)!r}" if isinstance(source, (str, Path)) else ""
        raise ModuleLoadError(f"cannot compile module{named}: {error}") from None


def instantiate(wasi: Any, module: wasmtime.Module | str | Path | bytes, *,
                imports: Imports | None = None, store: wasmtime.Store | None = None,
                cache: bool = True) -> WasmtimeInstance:
    """Compile (if need be) and instantiate `module` with `wasi`'s imports on wasmtime, and
    `imports` of your own beside them (see `host_imports`).

    With no `store`, pywasi's own engine is used: its memories never move, which saves a
    lookup per host call. A store of yours, on any engine, works too, at that small cost; a
    `wasmtime.Module` passed in must come from the store's engine.
    """
    limits: Limits | None = getattr(wasi, "limits", None)
    engine = store.engine if store is not None else engine_for(limits)
    if not isinstance(module, wasmtime.Module):
        module = load_module(module, engine, cache=cache)
    if store is None:
        store = _OwnedStore(engine)
    from .host_imports import bind_memories, check_imports, link_imports

    check_imports(module, wasi, imports or {})
    _apply_limits(store, limits, owned=isinstance(store, _OwnedStore))
    linker = wasmtime.Linker(engine)
    wanted = {(item.module, item.name) for item in module.imports}
    wasi_imports = wasi.get_import_object()
    if getattr(wasi, "reproducible", None):  # determinism, record or replay
        from ..reproducible import wrapped_imports

        wasi_imports = wrapped_imports(wasi_imports, wasi.signatures, wasi.reproducible)
    trace = getattr(wasi, "trace", None)
    if trace is not None:  # chosen here, once: the untraced host calls stay as they are
        from ..trace import traced_imports  # only when tracing

        wasi_imports = traced_imports(wasi_imports, wasi.signatures, trace)
    if limits is not None and limits.fuel is not None:  # host calls pay for their work
        from ..fuel import fueled_imports

        wasi_imports = fueled_imports(wasi_imports, wasi.signatures, store)
    host_calls = define_imports(linker, wasi_imports, wasi.signatures, wanted)
    memories = link_imports(linker, store, module, imports or {}, host_calls)
    watchdog = watchdog_for(wasi, store, host_calls, epochs=epoch_checks(limits))
    timeout = limits.timeout if limits is not None else None
    try:
        # A start function is bounded by the timeout, but not watched for Ctrl-C: that costs
        # ~8 us, and WASI programs start from an export (`_start`), not a start function.
        with watchdog.running(timeout):
            instance = linker.instantiate(store, module)
    except wasmtime.Trap as trap:  # in the start section
        raise host_calls.failure(trap) from None
    except wasmtime.WasmtimeError as error:
        if host_calls.pending is not None:  # a host call in the start section failed
            raise host_calls.failure(error) from None
        if limits is not None and limits.max_memory_size is not None \
                and "memory" in str(error) and "limit" in str(error):
            raise ResourceLimit(
                f"the module's memory is larger than its limit of {limits.max_memory_size} "
                f"bytes (max-memory-size): {error}") from None
        if "exceeds table limits" in str(error):
            table_bound = (limits or Limits()).max_table_elements
            raise ResourceLimit(
                f"the module's table is larger than its limit of {table_bound} elements "
                f"(-W max-table-elements, Limits.max_table_elements): {error}") from None
        raise ModuleLoadError(_instantiation_problem(str(error))) from None
    bound = WasmtimeInstance(store, instance, host_calls, wasi, watchdog=watchdog,
                             timeout=timeout)
    bind_memories(memories, bound)
    return bound


def _instantiation_problem(error: str) -> str:
    if "cross-`Engine`" in error:
        return ("cannot instantiate module: it was compiled for another wasmtime.Engine than "
                "the store's. Pass store=wasmtime.Store(<the module's engine>), or compile it "
                "for the store with pywasi.load_module(..., engine=store.engine) (with no "
                "store=, that is pywasi's engine: pywasi.load_module(...))")
    return f"cannot instantiate module: {error}"


def watchdog_for(wasi: Any, store: wasmtime.Store, host_calls: _HostCalls, *,
                 epochs: bool) -> Watchdog:
    """`store`'s watchdog (Ctrl-C, `interrupt()`, timeouts): it stops the guest at its next
    host call, ends `wasi`'s blocking waits when it has a stop signal, and, with `epochs`, in
    its compute too (through the store's epoch deadline).

    Without `epochs` the store's epoch deadline and callback are left as they are: on a store
    of the embedder's own, whatever deadline it set still ends the guest with wasmtime's trap."""
    stop_signal: StopSignal | None = getattr(wasi, "stop_signal", None)

    def wake() -> None:
        host_calls.stop_flag[0] = 1
        if stop_signal is not None:
            stop_signal.ring()

    watchdog = Watchdog(store, store.engine, host_calls.stop, wake, epochs=epochs)

    def check_stop() -> None:
        host_calls.stop_flag[0] = 0  # before looking: a stop asked meanwhile sets it again
        reason = watchdog.reason_to_stop()
        if reason is not None:
            host_calls.stop_flag[0] = 1  # and at every later call
            raise reason

    host_calls.check_stop = check_stop
    if stop_signal is not None:
        stop_signal.reason = watchdog.reason_to_stop
    return watchdog


def _apply_limits(store: wasmtime.Store, limits: Limits | None, *, owned: bool) -> None:
    """The limits on `store`. A store of the embedder's keeps the resource limits it was given
    (wasmtime sets all of them at once) unless `limits` names a memory or table bound."""
    if limits is None:
        if not owned:
            return
        limits = Limits()
    if limits.fuel is not None:
        try:
            store.set_fuel(limits.fuel)
        except wasmtime.WasmtimeError:
            raise InvalidArgValueError(
                "Limits.fuel needs a store whose engine consumes fuel: leave out store= "
                "(pywasi makes one), or enable consume_fuel on your engine's config"
            ) from None
    memory_size = -1 if limits.max_memory_size is None else limits.max_memory_size
    table_elements = -1 if limits.max_table_elements is None else limits.max_table_elements
    if owned or limits.max_memory_size is not None \
            or limits.max_table_elements != TABLE_ELEMENTS_DEFAULT:
        store.set_limits(memory_size=memory_size, table_elements=table_elements)
