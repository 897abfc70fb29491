"""The state every system call works on: the ABI, guest memory, fd table, args and env."""

from __future__ import annotations

from ..abi.layouts import Abi
from ..memory import UNBOUND_MEMORY, GuestMemory
from ..sandbox.fdtable import FdTable


class WasiContext:
    """What the system calls of one WASI instance share."""

    # weakly referenced: WASI closes its fds when it is collected
    __slots__ = ("abi", "args", "env", "fds", "memory", "__weakref__")

    def __init__(self, abi: Abi, args: list[bytes], env: list[bytes],
                 fds: FdTable | None = None) -> None:
        self.abi = abi
        self.args = args
        self.env = env  # "NAME=value" entries
        self.fds = fds if fds is not None else FdTable()
        # Set by `WASI.finalize_bindings`; system calls made before then fail as "not started".
        self.memory: GuestMemory = UNBOUND_MEMORY
