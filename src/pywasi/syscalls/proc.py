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
