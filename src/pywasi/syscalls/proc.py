"""proc_exit, proc_raise and sched_yield: ending the guest, never the host."""

from __future__ import annotations

import os
from typing import Final

from ..abi.types import Errno, Signal
from ..errors import ProcExit
from .context import WasiContext
from .registry import syscall

# Signals whose default action is to do nothing (or to stop/continue, which a guest cannot).
_NO_EFFECT: Final = frozenset({
    Signal.NONE, Signal.CHLD, Signal.CONT, Signal.URG, Signal.WINCH,
    Signal.STOP, Signal.TSTP, Signal.TTIN, Signal.TTOU,
})
_SIGNAL_EXIT_BASE: Final = 128  # as a shell reports a process killed by a signal
_HOST_STATUS_MAX: Final = 255  # what a POSIX parent sees of exit(): the low 8 bits
EXIT_STATUS_UNREPRESENTABLE: Final = 1


def host_exit_status(exit_code: int) -> int:
    """The status a host process exits with for the guest's `exit_code`: the code itself if
    the host can report it (0..255), else 1. The host would keep only the low 8 bits, making
    256 read as 0, success; wasmtime, too, exits with 1 for codes it cannot pass on."""
    if 0 <= exit_code <= _HOST_STATUS_MAX:
        return exit_code
    return EXIT_STATUS_UNREPRESENTABLE


@syscall
def proc_exit(ctx: WasiContext, exit_code: int) -> int:
    raise ProcExit(exit_code)


@syscall
def proc_raise(ctx: WasiContext, signal: int) -> int:
    """Deliver the signal's default action to the guest alone: end it, or ignore it."""
    if signal not in Signal._value2member_map_:
        return Errno.INVAL
    if signal in _NO_EFFECT:
        return 0
    raise ProcExit(_SIGNAL_EXIT_BASE + signal)


@syscall
def sched_yield(ctx: WasiContext) -> int:
    os.sched_yield()
    return 0
