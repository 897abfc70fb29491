"""Where pywasi's fd_write time goes: the fd_write guest run with the host function built up
one layer at a time, from a bare Python callback to the real system call.

    python bench/fd_write_layers.py [--iterations N] [--repeats N]

Each row replaces the `fd_write` import for fd 1 (stdout, /dev/null) with a plain callable that
does a little more than the row above, so the difference between two rows is what that layer
costs on the real wasm -> wasmtime -> ctypes -> Python path. Times are thread CPU time per call
(minimum and median over the repeats), which the other processes on a shared machine disturb
less than wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import cast

import pywasi
from pywasi.engine import host_calls
from pywasi.syscalls import WasiContext
from run import build

HostFunction = Callable[[int, int, int, int], int]
# Given the context, the real fd_write and the host fd of stdout, the stand-in for fd 1.
Layer = Callable[[WasiContext, HostFunction, int], HostFunction]


def only_stdout(real: HostFunction, on_stdout: HostFunction) -> HostFunction:
    """The guest reports its result on stderr: leave every fd but stdout to the real call."""

    def fd_write(fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
        if fd != 1:
            return real(fd, iovs, iovs_len, nwritten_out)
        return on_stdout(fd, iovs, iovs_len, nwritten_out)

    return fd_write


def bare_callback(ctx: WasiContext, real: HostFunction, stdout: int) -> HostFunction:
    return only_stdout(real, lambda fd, iovs, iovs_len, nwritten_out: 0)


def store_result(ctx: WasiContext, real: HostFunction, stdout: int) -> HostFunction:
    def write(fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
        ctx.memory.store_u32(nwritten_out, 4)
        return 0

    return only_stdout(real, write)


def read_iovecs(ctx: WasiContext, real: HostFunction, stdout: int) -> HostFunction:
    def write(fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
        memory = ctx.memory
        memory.store_u32(nwritten_out, len(memory.iovecs(iovs, iovs_len)[0]))
        return 0

    return only_stdout(real, write)


def host_write(ctx: WasiContext, real: HostFunction, stdout: int) -> HostFunction:
    def write(fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
        memory = ctx.memory
        memory.store_u32(nwritten_out, os.write(stdout, memory.iovecs(iovs, iovs_len)[0]))
        return 0

    return only_stdout(real, write)


def fd_table_and_file(ctx: WasiContext, real: HostFunction, stdout: int) -> HostFunction:
    def write(fd: int, iovs: int, iovs_len: int, nwritten_out: int) -> int:
        ctx.memory.transfer(iovs, iovs_len, nwritten_out, ctx.fds.descriptors[fd].write)
        return 0

    return only_stdout(real, write)


LAYERS: Sequence[tuple[str, Layer | None]] = [
    ("host callback + a Python function returning 0", bare_callback),
    ("+ store the u32 result in guest memory", store_result),
    ("+ read the iovec (bounds, unpack, memoryview slice)", read_iovecs),
    ("+ os.write to /dev/null", host_write),
    ("+ fd table lookup, the descriptor's writer, transfer()", fd_table_and_file),
    ("pywasi's fd_write (SystemCall entry, errno handling)", None),
]


def cpu_per_call(layer: Layer | None, iterations: int, repeats: int) -> list[float]:
    module = pywasi.load_module(build("fd_write"))
    samples = []
    for _ in range(repeats):
        stdout = os.open(os.devnull, os.O_WRONLY)
        try:
            wasi = pywasi.WASI(version="preview1", args=["bench", str(iterations)], env={},
                               stdout=stdout, stderr=stdout)
            if layer is not None:
                real = wasi.wasi_import["fd_write"]
                wasi.wasi_import["fd_write"] = layer(wasi._context, cast(HostFunction, real),
                                                     stdout)
            instance = pywasi.instantiate(wasi, module)
            started = time.thread_time_ns()
            wasi.start(instance)
            samples.append((time.thread_time_ns() - started) / iterations / 1e3)
        finally:
            os.close(stdout)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    path = "pure Python" if host_calls.trampoline is None else "the C trampoline"
    print(f"host calls through {path} (PYWASI_TRAMPOLINE=0 for pure Python)")
    print(f"{'layer':54s} {'min':>7s} {'median':>7s}  us/call (thread CPU time)")
    for label, layer in LAYERS:
        samples = cpu_per_call(layer, options.iterations, options.repeats)
        print(f"{label:54s} {min(samples):7.3f} {statistics.median(samples):7.3f}")


if __name__ == "__main__":
    main()
