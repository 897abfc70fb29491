"""Types of the C host-call trampoline; see `_trampoline.c`."""

from collections.abc import Callable
from typing import Any

CALLBACK: int
"""Address of the C function to register as wasmtime's unchecked host-call callback."""

FINALIZER: int
"""Address of the C function that releases a `HostCall` wasmtime no longer needs."""

class HostCall:
    """One host function: the environment `CALLBACK` is registered with."""

    def __init__(
        self,
        target: Callable[..., Any],
        context: object | None,
        kinds: str,
        result: str,
        failed: Callable[[BaseException, int], int],
        movable: list[Any],
        trap_new: int,
        bind: Callable[[int], object] | None = None,
        stop_flag: bytearray | None = None,
        check_stop: Callable[[], object] | None = None,
    ) -> None: ...
    def lend(self) -> int:
        """This object's address as the callback's environment, plus a reference that
        wasmtime owns and gives back through `FINALIZER`."""
