"""What epoch interruption (Ctrl-C, interrupt(), timeouts) and fuel cost compiled guest code.

    python bench/interrupt_overhead.py [--repeats N] [--scale X]

Runs bench/c/compute.c (integer work, no system calls, timed inside the guest) on three
engines that differ only in the setting measured: pywasi's own (epoch interruption on), the
same with it off, and the fuel engine (what ``-W fuel`` and `Limits.fuel` use). The engines
take turns run by run, after one uncounted warm-up each, so a slow spell of the shared machine
falls on all of them alike; the figure is each one's median (and minimum) in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Mapping
from pathlib import Path

import wasmtime

import pywasi
from pywasi.engine.engines import ENGINE_SETTINGS, FUEL_SETTINGS, make_engine
from run import build

_SETTINGS: Mapping[str, Mapping[str, bool]] = {
    "epoch on (pywasi)": ENGINE_SETTINGS,
    "epoch off": {**ENGINE_SETTINGS, "epoch_interruption": False},
    "epoch + fuel (-W fuel)": FUEL_SETTINGS,
}
_FUEL = 1 << 62


def _run_once(module: wasmtime.Module, engine: wasmtime.Engine, iterations: int,
              fuel: bool) -> float:
    """One run's own timing of its loop, in ms."""
    with tempfile.TemporaryFile() as stderr:
        stdout = os.open(os.devnull, os.O_WRONLY)
        try:
            limits = pywasi.Limits(fuel=_FUEL) if fuel else None
            wasi = pywasi.WASI(version="preview1", args=["bench", str(iterations)],
                               stdout=stdout, stderr=stderr.fileno(), limits=limits)
            store = wasmtime.Store(engine)
            if wasi.start(pywasi.instantiate(wasi, module, store=store)) != 0:
                raise SystemExit("the compute guest failed")
        finally:
            os.close(stdout)
        stderr.seek(0)
        count, elapsed_ns, _checksum = stderr.read().split()
    return int(elapsed_ns) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the 150M iterations (lower on a slow machine)")
    options = parser.parse_args()
    iterations = int(150_000_000 * options.scale)
    wasm = Path(build("compute")).read_bytes()
    engines = {name: make_engine(settings) for name, settings in _SETTINGS.items()}
    modules = {name: wasmtime.Module(engine, wasm) for name, engine in engines.items()}
    times: dict[str, list[float]] = {name: [] for name in engines}
    for round_ in range(options.repeats + 1):
        for name, engine in engines.items():
            elapsed = _run_once(modules[name], engine, iterations, "fuel" in name)
            if round_:  # the first round warms up
                times[name].append(elapsed)
    print(f"compute: {iterations:,} rounds of xorshift, median (min) of {options.repeats} "
          f"interleaved runs; load average {os.getloadavg()[0]:.2f}")
    base = statistics.median(times["epoch off"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:24} {median:8.1f} ms  ({min(values):.1f})  "
              f"{(median / base - 1) * 100:+6.1f}% vs epoch off")


if __name__ == "__main__":
    main()
