"""What being stoppable costs: epoch checks in compiled code, and the stop check on host-call entry.

    python bench/interrupt_overhead.py [--repeats N] [--scale X]
    valgrind --tool=callgrind python bench/interrupt_overhead.py --single c|python on|off CALLS

Compute: bench/c/compute.c (integer work, no system calls, timed inside the guest) and
bench/c/clock.c (nothing but clock_time_get calls) on pywasi's engines for three `Limits`,
which differ only in the setting measured: the default (no epoch checks, as `wasmtime run`),
`Limits(interruptible=True)` (epoch checks, as a timeout compiles them), and `Limits(fuel=...)`
(fuel counting, ``-W fuel``).

Host calls: clock.c's cost per call on pywasi's default engine, with the stop check every host
call makes on entry (one byte read: `_HostCalls.stop_flag`, which lets a guest compiled without
epoch checks stop at its next system call) and, for comparison only, with that check taken out
of both host-call paths (the C trampoline and pure Python) in this process.

Every variant takes turns run by run, after one uncounted warm-up each, so a slow spell of the
shared machine falls on all alike; the figure is each one's median (and minimum). `--single`
makes one run of CALLS clock_time_get calls and nothing else, for an instruction count: the
difference between two CALLS, divided, is the count per call.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from types import SimpleNamespace
from typing import Any

import wasmtime

import pywasi
from pywasi import Limits
from pywasi.engine import host_calls
from run import build

_LIMITS: Mapping[str, Limits | None] = {
    "default: no epoch checks": None,
    "interruptible=True: epoch checks": Limits(interruptible=True),
    "fuel=...: fuel, no epoch checks": Limits(fuel=1 << 62),
}
_BASE = "default: no epoch checks"
_STOP_CHECK = "            if stop_flag[0]:\n                check_stop()\n"


def _run_once(module: wasmtime.Module, limits: Limits | None, iterations: int
              ) -> tuple[int, int]:
    """One run: (rounds, ns) as the guest timed its own loop."""
    with tempfile.TemporaryFile() as stderr:
        stdout = os.open(os.devnull, os.O_WRONLY)
        try:
            wasi = pywasi.WASI(version="preview1", args=["bench", str(iterations)],
                               stdout=stdout, stderr=stderr.fileno(), limits=limits)
            if wasi.start(pywasi.instantiate(wasi, module)) != 0:
                raise SystemExit("the guest failed")
        finally:
            os.close(stdout)
        stderr.seek(0)
        count, elapsed_ns, _checksum = stderr.read().split()
    return int(count), int(elapsed_ns)


@contextlib.contextmanager
def _host_calls(path: str, stop_check: bool) -> Iterator[None]:
    """Host calls linked from here on take `path` ("c" or "python"), with or without the stop
    check on entry (removed by patching this process's copy of pywasi: a measurement only)."""
    built = host_calls.trampoline
    source = host_calls._HOST_CALL_SOURCE
    if _STOP_CHECK not in source:
        raise SystemExit("the host-call template changed: update _STOP_CHECK in this bench")
    if path == "python":
        host_calls.trampoline = None
    elif built is None:
        raise SystemExit("the C trampoline is not built")
    elif not stop_check:
        real = built

        def host_call(*args: Any) -> Any:  # stop_flag and check_stop left out: no check
            return real.HostCall(*args[:8])

        host_calls.trampoline = SimpleNamespace(  # type: ignore[assignment]
            HostCall=host_call, CALLBACK=real.CALLBACK, FINALIZER=real.FINALIZER)
    if not stop_check:
        host_calls._HOST_CALL_SOURCE = source.replace(_STOP_CHECK, "")  # type: ignore[misc]
    host_calls._host_call_factory.cache_clear()
    try:
        yield
    finally:
        host_calls.trampoline = built
        host_calls._HOST_CALL_SOURCE = source  # type: ignore[misc]
        host_calls._host_call_factory.cache_clear()


def _interleaved(variants: Mapping[str, Callable[[], float]], repeats: int
                 ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(repeats + 1):
        for name, run in variants.items():
            figure = run()
            if round_:  # the first round warms up
                times[name].append(figure)
    return times


def _print(times: Mapping[str, list[float]], base: str, unit: str) -> None:
    reference = statistics.median(times[base])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:34} {median:8.3f} {unit}  ({min(values):.3f})  "
              f"{(median / reference - 1) * 100:+6.1f}% vs {base}")


def _guest_figure(module: wasmtime.Module, limits: Limits | None, iterations: int,
                  per_call: bool) -> float:
    count, ns = _run_once(module, limits, iterations)
    return ns / count / 1e3 if per_call else ns / 1e6


def _per_call_figure(module: wasmtime.Module, calls: int, path: str, stop_check: bool) -> float:
    with _host_calls(path, stop_check):
        return _guest_figure(module, None, calls, per_call=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the iterations (150M compute, 200k calls)")
    parser.add_argument("--single", nargs=3, metavar=("PATH", "CHECK", "CALLS"),
                        help="one clock run on host-call PATH (c, python), stop CHECK on/off")
    options = parser.parse_args()
    if options.single:
        path, check, count = options.single
        _per_call_figure(pywasi.load_module(build("clock")), int(count), path, check == "on")
        return
    rounds = int(150_000_000 * options.scale)
    calls = int(200_000 * options.scale)

    for guest, iterations, unit in (("compute", rounds, "ms"), ("clock", calls, "us/call")):
        times = _interleaved({
            name: partial(_guest_figure, pywasi.load_module(build(guest), limits=limits),
                          limits, iterations, unit != "ms")
            for name, limits in _LIMITS.items()}, options.repeats)
        print(f"{guest}: {iterations:,} rounds, median (min) of {options.repeats} interleaved "
              f"runs; load average {os.getloadavg()[0]:.2f}")
        _print(times, _BASE, unit)

    clock = pywasi.load_module(build("clock"))
    paths = ["c", "python"] if host_calls.trampoline is not None else ["python"]
    for path in paths:
        times = _interleaved({
            f"{path}: stop check on entry": partial(_per_call_figure, clock, calls, path, True),
            f"{path}: no stop check (patched)": partial(_per_call_figure, clock, calls, path,
                                                        False),
        }, options.repeats)
        print(f"clock_time_get per call, {path} host calls, default engine: median (min) of "
              f"{options.repeats}; load average {os.getloadavg()[0]:.2f}")
        _print(times, f"{path}: no stop check (patched)", "us")


if __name__ == "__main__":
    main()
