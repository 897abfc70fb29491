"""Host calls on wasmtime's raw path: how a system call (or an embedder's function) is linked.

Host calls are registered with ``wasmtime_linker_define_func_unchecked``: wasmtime hands the
callback a pointer to an array of raw 16-byte values. The callback is the C trampoline of
`_trampoline.c` where it was built at install, else a Python function generated per signature
(`_host_call_factory`) behind a C callback made by `ffi`, which reads the values with one
precompiled `struct` through a memoryview spanning the process address space. Either way the
system call's implementation is called with plain ints, and its exceptions come back to
`HostCalls.callback` to become an errno or a trap. Every host call looks at the stop flag on
entry, so that a guest compiled without epoch checks still stops at its next system call
(`watchdog_for`).
"""

from __future__ import annotations

import importlib
import itertools
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Set
from functools import cache
from struct import Struct
from types import ModuleType
from typing import Any, Final

import wasmtime

from ..abi.signatures import Signature
from ..errors import ModuleLoadError
from ..memory import GuestMemory
from . import ffi
from .base import RawSystemCall, WasiHost
from .interrupt import Watchdog, signal_watcher
from .traps import guest_trap


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


class HostCalls:
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
        if pending is not None and _trap_tag(pending[0]) in str(trap):  # our own text, salted
            return pending[1]
        return guest_trap(trap)

    def callback(self, function: Callable[..., Any], params: str, result: str,
                 bind: Callable[[int], object] | None = None
                 ) -> tuple[int, int | None, int | None]:
        """Addresses of a C callback for `function`, its environment and the environment's
        finalizer; `params` and `result` are raw-value codes (see `_VALUE_TYPES`). A
        `RawSystemCall` (pywasi's `SystemCall`) has its implementation called directly, with
        its exceptions turned into errno values by its `errno_of`; any other callable is
        called as it is. An exception that is no errno becomes a trap, re-raised by `call`.
        `bind`, if given, is called with the caller's address before the first call.

        The callback is the C trampoline when it was compiled (for up to 16 parameters), else
        a generated Python function behind a C callback (`ffi.host_callback`); both take the
        same steps."""
        system_call = function if isinstance(function, RawSystemCall) else None
        context = system_call.context if system_call is not None else None
        is_system_call = system_call is not None
        errno_of = system_call.errno_of if system_call is not None else None
        returns = result == "I"
        movable = context.movable if context is not None else self.movable

        def failed(error: BaseException, raw: int) -> int:
            errno = errno_of(error) if errno_of is not None else None
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
        signal_watcher.entries.add(host_call.__code__)  # a Ctrl-C on its entry is not lost
        return ffi.host_callback(host_call)


def define_imports(
    linker: wasmtime.Linker,
    import_object: Mapping[str, Mapping[str, Callable[..., int | None]]],
    signatures: Mapping[str, Signature],
    wanted: Set[tuple[str, str | None]],
) -> HostCalls:
    """Define the functions of `import_object` named in `wanted` (the module's imports) in
    `linker` on the fast path. Defining only those halves an empty program's start-up."""
    calls = HostCalls()
    for module, functions in import_object.items():
        for name, function in functions.items():
            if (module, name) in wanted:
                signature = signatures[name]
                define_function(linker, calls, module, name, function, signature.params,
                                "I" if signature.returns_errno else "")
    return calls


def define_function(linker: wasmtime.Linker, calls: HostCalls, module: str, name: str,
                    function: Callable[..., Any], params: str, result: str,
                    bind: Callable[[int], object] | None = None) -> None:
    """Define `module`.`name` in `linker` as `function` on the fast path, with the raw-value
    codes `params` and `result` (see `HostCalls.callback`)."""
    func_type = _func_type(_func_types(linker.engine), params, result)
    callback, env, finalizer = calls.callback(function, params, result, bind)
    try:
        ffi.define_unchecked(linker, module, name, func_type, callback, env, finalizer)
    except wasmtime.WasmtimeError as error:
        raise ModuleLoadError(f"cannot define {module}.{name}: {error}") from None


def watchdog_for(wasi: WasiHost | None, store: wasmtime.Store, host_calls: HostCalls, *,
                 epochs: bool) -> Watchdog:
    """`store`'s watchdog (Ctrl-C, `interrupt()`, timeouts): it stops the guest at its next
    host call, ends `wasi`'s blocking waits when it has a stop signal, and, with `epochs`, in
    its compute too (through the store's epoch deadline).

    Without `epochs` the store's epoch deadline and callback are left as they are: on a store
    of the embedder's own, whatever deadline it set still ends the guest with wasmtime's trap."""
    stop_signal = wasi.stop_signal if wasi is not None else None

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
