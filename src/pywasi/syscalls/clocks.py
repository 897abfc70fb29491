"""clock_res_get and clock_time_get over the host's clocks, in nanoseconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from ..abi.errno import WasiErrno
from ..abi.types import Clockid, Errno
from .context import WasiContext
from .registry import syscall

# Each WASI clock: how to read it, and the host clock whose resolution it has.
CLOCKS: Final[dict[int, tuple[Callable[[], int], int]]] = {
    Clockid.REALTIME: (time.time_ns, time.CLOCK_REALTIME),
    Clockid.MONOTONIC: (time.monotonic_ns, time.CLOCK_MONOTONIC),
    Clockid.PROCESS_CPUTIME_ID: (time.process_time_ns, time.CLOCK_PROCESS_CPUTIME_ID),
    Clockid.THREAD_CPUTIME_ID: (time.thread_time_ns, time.CLOCK_THREAD_CPUTIME_ID),
}
_READERS: Final = {clock: reader for clock, (reader, _) in CLOCKS.items()}


def now(clock_id: int) -> int:
    """The clock's current time in ns; EINVAL for a clock WASI does not have."""
    reader = _READERS.get(clock_id)
    if reader is None:
        raise WasiErrno(Errno.INVAL)
    return reader()


@syscall
def clock_res_get(ctx: WasiContext, clock_id: int, resolution_out: int) -> int:
    if clock_id not in CLOCKS:
        return Errno.INVAL
    resolution = max(1, round(time.clock_getres(CLOCKS[clock_id][1]) * 1e9))
    ctx.memory.store_u64(resolution_out, resolution)
    return 0


@syscall
def clock_time_get(ctx: WasiContext, clock_id: int, precision: int, time_out: int) -> int:
    ctx.memory.store_u64(time_out, now(clock_id))
    return 0
