"""How soon a stopped guest is back in Python, and how far past its deadline a wait ends.

    python bench/stop_latency.py [--repeats N]

The tests (tests/test_stopping.py, tests/test_control.py, tests/test_poll.py) assert that
each way of stopping a guest stops it, and that no wait ends early; how late is a matter of
the machine's load, so it is measured here instead. For a guest spinning in compiled code
(with `Limits(interruptible=True)`: without epoch checks nothing stops it), one
blocked in poll_oneoff on a 1000 s clock, and one blocked reading a pipe nobody writes to:
the time from `interrupt()` (from another thread), from SIGINT (Ctrl-C, to this process), and
from the deadline of `Limits(timeout=0.3)`, to the call raising. And the time a 50 ms sleep
(poll_oneoff on a clock) takes past its 50 ms. Medians (and maxima) of N runs, in ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable
from functools import partial

import pywasi
from pywasi import Limits

GUESTS = b"""(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "compute") (loop $spin (br $spin)))
  (func $sleep (export "sleep") (param $ns i64)
    (i32.store (i32.const 16) (i32.const 1))  ;; a MONOTONIC clock subscription at 0
    (i64.store (i32.const 24) (local.get $ns))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))))
  (func (export "poll") (call $sleep (i64.const 1000000000000)))
  (func (export "read")  ;; 16 bytes of stdin into 300
    (i32.store (i32.const 200) (i32.const 300))
    (i32.store (i32.const 204) (i32.const 16))
    (drop (call $read (i32.const 0) (i32.const 200) (i32.const 1) (i32.const 208)))))"""
TIMEOUT = 0.3
SLEEP = 0.05
QUIET_STDIN = os.pipe()  # nobody ever writes to it


def guest(limits: Limits | None = None) -> pywasi.WasmtimeInstance:
    wasi = pywasi.WASI(version="preview1", stdin=QUIET_STDIN[0], limits=limits)
    instance = pywasi.instantiate(wasi, GUESTS)
    wasi.finalize_bindings(instance)
    return instance


def interrupt(instance: pywasi.WasmtimeInstance) -> None:
    instance.interrupt()


def ctrl_c(instance: pywasi.WasmtimeInstance) -> None:
    os.kill(os.getpid(), signal.SIGINT)


def stopped_after(stop: Callable[[pywasi.WasmtimeInstance], None], export: str) -> float:
    """Seconds from `stop` (0.1 s into the call, from a timer thread) to the call raising."""
    instance = guest(Limits(interruptible=True) if export == "compute" else None)
    sent: list[float] = []

    def fire() -> None:
        sent.append(time.perf_counter())
        stop(instance)

    timer = threading.Timer(0.1, fire)
    timer.daemon = True
    timer.start()
    with contextlib.suppress(pywasi.GuestTrap, KeyboardInterrupt):
        instance.call(export)
    ended = time.perf_counter()
    timer.join()
    return ended - sent[0]


def timed_out_after(export: str) -> float:
    """Seconds past the timeout's deadline to the call raising."""
    instance = guest(Limits(timeout=TIMEOUT))
    started = time.perf_counter()
    with contextlib.suppress(pywasi.GuestTimeout):
        instance.call(export)
    return time.perf_counter() - started - TIMEOUT


def slept_past() -> float:
    instance = guest()
    started = time.perf_counter()
    instance.call("sleep", int(SLEEP * 1e9))
    return time.perf_counter() - started - SLEEP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    options = parser.parse_args()
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # started in the background
        signal.signal(signal.SIGINT, signal.default_int_handler)
    measures: dict[str, Callable[[], float]] = {"50 ms sleep, past its time": slept_past}
    for export in ("compute", "poll", "read"):
        measures[f"{export}: interrupt()"] = partial(stopped_after, interrupt, export)
        measures[f"{export}: SIGINT"] = partial(stopped_after, ctrl_c, export)
        measures[f"{export}: timeout, past it"] = partial(timed_out_after, export)
    print(f"ms, median (max) of {options.repeats} runs")
    for name, measure in measures.items():
        times = [measure() * 1e3 for _ in range(options.repeats)]
        print(f"{name:40} {statistics.median(times):7.2f} ({max(times):.2f})", flush=True)


if __name__ == "__main__":
    main()
