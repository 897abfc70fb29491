"""Types of the C host-call trampoline; see `_trampoline.c`."""

from collections.abc import Callable
from typing import Any

CALLBACK: int
"""Address of the C function to register as wasmtime's unchecked host-call callback."""

class HostCall:
    """One host function: the environment `CALLBACK` is registered with."""

    def __init__(
        self,
        target: Callable[..., Any],
        context: object | None,
        kinds: str,
        returns: bool,
        failed: Callable[[BaseException, int], int],
        movable: list[Any],
        trap_new: int,
    ) -> None: ...
    @property
    def env(self) -> int: ...
