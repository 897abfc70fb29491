"""random_get from the host's cryptographic random source."""

from __future__ import annotations

import os

from ..errors import ResourceLimit
from ..limits import RANDOM_CHUNK
from .context import WasiContext
from .registry import syscall


@syscall
def random_get(ctx: WasiContext, buf: int, buf_len: int) -> int:
    """Any length is filled, written into guest memory one `RANDOM_CHUNK` at a time, so a
    4 GiB request holds 1 MiB of host memory, never gigabytes."""
    if ctx.max_random_size is not None and buf_len > ctx.max_random_size:
        raise ResourceLimit(f"the guest asked random_get for {buf_len} bytes, more than its "
                            f"limit of {ctx.max_random_size} (max-random-size)")
    target = ctx.memory.view(buf, buf_len)
    for start in range(0, buf_len, RANDOM_CHUNK):
        end = min(start + RANDOM_CHUNK, buf_len)
        target[start:end] = os.urandom(end - start)
    return 0
