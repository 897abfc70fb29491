"""The state every system call works on: the ABI, guest memory, fd table, args and env."""

from __future__ import annotations

from ..abi.layouts import Abi
from ..memory import UNBOUND_MEMORY, GuestMemory
from ..sandbox.fdtable import FdTable
from ..sandbox.stop import StopSignal


class WasiContext:
    """What the system calls of one WASI instance share."""

    # weakly referenced: WASI closes its fds when it is collected
    __slots__ = ("abi", "args", "env", "fds", "memory", "movable", "stop", "max_random_size",
                 "__weakref__")

    def __init__(self, abi: Abi, args: list[bytes], env: list[bytes],
                 fds: FdTable | None = None) -> None:
        self.abi = abi
        self.args = args
        self.env = env  # "NAME=value" entries
        self.fds = fds if fds is not None else FdTable()
        # Set by `WASI.finalize_bindings`; system calls made before then fail as "not started".
        self.memory: GuestMemory = UNBOUND_MEMORY
        # `memory` again if the engine may move it: engines look up where it is at the start
        # of every host call, from any store's guest (see `engine.base`).
        self.movable: list[GuestMemory] = []
        # Rung by the engine to end a blocking wait (an interrupt or a timeout).
        self.stop = StopSignal()
        # The most random_get may ask for at once (`Limits.max_random_size`); None: no limit.
        self.max_random_size: int | None = None
