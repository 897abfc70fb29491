"""Many guests from one compiled module: throughput of compute-bound guests on 1 and 2 threads
(wasmtime releases the GIL while guest code runs), and instantiation cost per guest.

    python bench/threads.py [--guests N] [--iterations N]

The guest is bench/c/compute.c (a loop with no system calls); each guest has its own `WASI`
object (stderr captured in Python) and its own store, as the README's pattern says.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import time
from concurrent.futures import ThreadPoolExecutor

import wasmtime

import pywasi
from run import build


def run_guest(module: wasmtime.Module, iterations: int) -> int:
    report = io.BytesIO()
    wasi = pywasi.WASI(version="preview1", args=["compute", str(iterations)], stderr=report)
    exit_code = wasi.start(pywasi.instantiate(wasi, module))
    assert exit_code == 0 and report.getvalue(), report.getvalue()
    return exit_code


def throughput(module: wasmtime.Module, threads: int, guests: int,
               iterations: int) -> tuple[float, float]:
    """Guests per second with `threads` threads, and the process's CPU time over the wall
    time (how many cores it kept busy: below `threads` when other processes shared them)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: run_guest(module, iterations), range(guests)))
    wall = time.perf_counter() - start
    return guests / wall, (time.process_time() - cpu_start) / wall


def hashing_cores(threads: int) -> float:
    """Cores kept busy by `threads` threads hashing (hashlib releases the GIL): what the
    machine grants right now, the ceiling for the guests' figure."""
    data = b"x" * (64 << 20)
    start, cpu_start = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda _: hashlib.sha256(data).digest(), range(2 * threads)))
    return (time.process_time() - cpu_start) / (time.perf_counter() - start)


def instantiation_cost(module: wasmtime.Module, count: int) -> float:
    """Microseconds to make a WASI object and instantiate the shared module (no run)."""
    start = time.perf_counter()
    for _ in range(count):
        wasi = pywasi.WASI(version="preview1")
        pywasi.instantiate(wasi, module).close()
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guests", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=100_000_000)
    options = parser.parse_args()
    module = pywasi.load_module(build("compute"))
    run_guest(module, 1000)  # warm-up: the module's memory image, the first store
    rates = {threads: throughput(module, threads, options.guests, options.iterations)
             for threads in (1, 2)}
    for threads, (rate, cores) in rates.items():
        print(f"{threads} thread{'s' if threads > 1 else ' '}: {rate:6.2f} guests/s "
              f"({options.iterations} iterations each), {cores:.2f} cores busy")
    print(f"speed-up on 2 threads: {rates[2][0] / rates[1][0]:.2f}x (the machine's ceiling now: "
          f"hashing in 2 threads keeps {hashing_cores(2):.2f} cores busy)")
    print(f"instantiation with a shared module: {instantiation_cost(module, 200):.0f} µs/guest")


if __name__ == "__main__":
    main()
