"""What a failed call into the guest or a failed instantiation raises, by wasmtime's trap code
and error type: `GuestTrap` and its limit subclasses, `ResourceLimit`, `ModuleLoadError`."""

from __future__ import annotations

from typing import Final

import wasmtime

from ..errors import GuestTrap, ModuleLoadError, OutOfFuel, ResourceLimit, StackExhausted
from ..limits import Limits
from . import ffi

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


def instantiation_failure(error: wasmtime.WasmtimeError, limits: Limits | None) -> Exception:
    """What to raise for `error` out of instantiating a module under `limits`: a
    `ResourceLimit` naming the option to raise when a memory or table is larger than the
    store allows, else `ModuleLoadError`."""
    exceeded = ffi.limit_exceeded(error)
    if exceeded == "memory" and limits is not None and limits.max_memory_size is not None:
        return ResourceLimit(
            f"the module's memory is larger than its limit of {limits.max_memory_size} "
            f"bytes (max-memory-size): {error}")
    if exceeded == "table":
        table_bound = (limits or Limits()).max_table_elements
        return ResourceLimit(
            f"the module's table is larger than its limit of {table_bound} elements "
            f"(-W max-table-elements, Limits.max_table_elements): {error}")
    if ffi.cross_engine(error):
        return ModuleLoadError(
            "cannot instantiate module: it was compiled for another wasmtime.Engine than "
            "the store's. Pass store=wasmtime.Store(<the module's engine>), or compile it "
            "for the store with pywasi.load_module(..., engine=store.engine) (with no "
            "store=, that is pywasi's engine: pywasi.load_module(...))")
    return ModuleLoadError(f"cannot instantiate module: {error}")
