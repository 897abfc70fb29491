"""The state every system call works on: the ABI, guest memory, fd table, args and env."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..abi.layouts import Abi
from ..memory import UNBOUND_MEMORY, GuestMemory
from ..sandbox.fdtable import FdTable
from ..sandbox.stop import StopSignal


@dataclass(slots=True, weakref_slot=True)  # weakly: WASI closes its fds when it is collected
class WasiContext:
    abi: Abi
    args: list[bytes]
    env: list[bytes]  # "NAME=value" entries
    fds: FdTable = field(default_factory=FdTable)
    # Set by `WASI.finalize_bindings`; system calls made before then fail as "not started".
    memory: GuestMemory = UNBOUND_MEMORY
    # `memory` again if the engine may move it: engines look up where it is at the start of
    # every host call, from any store's guest (see `engine.base`).
    movable: list[GuestMemory] = field(default_factory=list)
    # Rung by the engine to end a blocking wait (an interrupt or a timeout).
    stop: StopSignal = field(default_factory=StopSignal)
    # The most random_get may ask for at once (`Limits.max_random_size`); None: no limit.
    max_random_size: int | None = None
