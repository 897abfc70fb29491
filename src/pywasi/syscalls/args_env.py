"""args_* and environ_*: the guest's command line and environment, as NUL-terminated strings."""

from __future__ import annotations

from ..memory import GuestMemory
from .context import WasiContext
from .registry import syscall


def _store_sizes(memory: GuestMemory, strings: list[bytes], count_out: int, size_out: int) -> int:
    memory.store_u32(count_out, len(strings))
    memory.store_u32(size_out, sum(len(s) + 1 for s in strings))
    return 0


def _store_strings(memory: GuestMemory, strings: list[bytes], pointers: int, buf: int) -> int:
    # Check both whole ranges first so nothing is half-written when one is out of bounds.
    memory.view(pointers, 4 * len(strings))
    memory.view(buf, sum(len(s) + 1 for s in strings))
    for index, string in enumerate(strings):
        memory.store_u32(pointers + 4 * index, buf)
        memory.write(buf, string + b"\0")
        buf += len(string) + 1
    return 0


@syscall
def args_sizes_get(ctx: WasiContext, argc_out: int, buf_size_out: int) -> int:
    return _store_sizes(ctx.memory, ctx.args, argc_out, buf_size_out)


@syscall
def args_get(ctx: WasiContext, argv: int, argv_buf: int) -> int:
    return _store_strings(ctx.memory, ctx.args, argv, argv_buf)


@syscall
def environ_sizes_get(ctx: WasiContext, count_out: int, buf_size_out: int) -> int:
    return _store_sizes(ctx.memory, ctx.env, count_out, buf_size_out)


@syscall
def environ_get(ctx: WasiContext, environ: int, environ_buf: int) -> int:
    return _store_strings(ctx.memory, ctx.env, environ, environ_buf)
