"""Fuel for host work: under a fuel limit, each system call costs the guest fuel in proportion
to the work it makes the host do, so a fuel limit bounds wall time as well as wasm code.

Wasmtime counts roughly one unit per wasm instruction; a host call is a few instructions to
the guest but microseconds (a poll with hundreds of subscriptions, milliseconds) to Python.
Engine-neutral in shape, as `trace`: `fueled_imports` wraps the `SystemCall`s of an import
object before an engine links them, and only when `Limits.fuel` is set, so the default
host-call path is unchanged. The costs are the README's "Fuel" table. A call that cannot pay
takes no fuel and does no work: it ends the guest with `OutOfFuel` (trap code OUT_OF_FUEL),
what wasmtime raises when wasm code runs out, and the fuel left is set to 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .abi.layouts import U32
from .abi.signatures import Signature
from .engine.base import FuelTank
from .errors import OutOfFuel
from .syscalls import HostFunction, ImportObject, SystemCall, wrap_system_calls

BASE: Final = 1000
"""Every system call."""
PER_SUBSCRIPTION: Final = 2000
"""Each poll_oneoff subscription."""
PER_IOVEC: Final = 100
"""Each (c)iovec of a read or write."""
BYTES_PER_UNIT: Final = 16
"""Bytes moved (read, written, filled with random data, listed) per unit."""
PER_PATH_BYTE: Final = 10
"""Each byte of a path (its components are walked one by one)."""


# Per call, the argument positions (after the context) whose values are counts: poll
# subscriptions, iovecs, bytes of a buffer filled, path lengths. Reads and writes also pay
# for the bytes they moved, read back from their result pointer (`_MOVED`).
_SUBSCRIPTIONS: Final = {"poll_oneoff": 2}
_IOVECS: Final = {"fd_read": 2, "fd_write": 2, "fd_pread": 2, "fd_pwrite": 2,
                  "sock_recv": 2, "sock_send": 2}
_MOVED: Final = {"fd_read": 3, "fd_write": 3, "fd_pread": 4, "fd_pwrite": 4,
                 "sock_recv": 4, "sock_send": 4}
_BUFFERS: Final = {"random_get": 1, "fd_readdir": 2, "path_readlink": 4}
_PATHS: Final[Mapping[str, tuple[int, ...]]] = {
    "path_create_directory": (2,), "path_filestat_get": (3,), "path_filestat_set_times": (3,),
    "path_link": (3, 6), "path_open": (3,), "path_readlink": (2,),
    "path_remove_directory": (2,), "path_rename": (2, 5), "path_symlink": (1, 4),
    "path_unlink_file": (2,),
}
_OUT_OF_FUEL: Final = ("wasm trap: all fuel consumed by WebAssembly (in host call {name}): "
                       "the guest used up its fuel (raise -W fuel or Limits.fuel)")


def cost_before(name: str) -> Callable[[tuple[int, ...]], int]:
    """What call `name` costs, from its (normalised) arguments, before it runs."""
    subscriptions = _SUBSCRIPTIONS.get(name)
    iovecs = _IOVECS.get(name)
    buffer = _BUFFERS.get(name)
    paths = _PATHS.get(name, ())

    def cost(args: tuple[int, ...]) -> int:
        total = BASE + sum(args[at] for at in paths) * PER_PATH_BYTE
        if subscriptions is not None:
            total += args[subscriptions] * PER_SUBSCRIPTION
        if iovecs is not None:
            total += args[iovecs] * PER_IOVEC
        if buffer is not None:
            total += args[buffer] // BYTES_PER_UNIT
        return total

    return cost


def _charge(store: FuelTank, amount: int, name: str) -> None:
    left = store.get_fuel()
    if amount > left:
        store.set_fuel(0)
        raise OutOfFuel(_OUT_OF_FUEL.format(name=name), "OUT_OF_FUEL")
    store.set_fuel(left - amount)


def _fueled(system_call: SystemCall, signature: Signature, store: FuelTank) -> SystemCall:
    """A `SystemCall` that pays for `system_call`'s work from `store`'s fuel."""
    name = system_call.__name__
    context = system_call.context
    cost = cost_before(name)
    moved = _MOVED.get(name)

    def implementation(ctx: Any, *args: int) -> int:
        _charge(store, cost(args), name)
        errno = system_call.implementation(ctx, *args)
        if moved is not None and errno == 0:
            # The bytes were moved already: what they cost is taken as far as fuel is left.
            _charge(store, min(context.memory.unpack(U32, args[moved])[0] // BYTES_PER_UNIT,
                               store.get_fuel()), name)
        return errno

    fueled = SystemCall(context, name, implementation, signature)
    fueled.enable()  # `system_call` itself still decides whether the WASI object started
    return fueled


def fueled_imports(import_object: ImportObject, signatures: Mapping[str, Signature],
                   store: FuelTank) -> dict[str, dict[str, HostFunction]]:
    """`import_object` with every pywasi system call paying `store` fuel for its work."""
    return wrap_system_calls(import_object, signatures,
                             lambda call, signature: _fueled(call, signature, store))
