"""Benchmark pywasi against Node's node:wasi and wasmtime's built-in WASI on the same guests.

    python bench/run.py [--repeats N] [--scale X]

The guests (bench/c/*.c) are built with zig from PyPI and cached in bench/.build. System-call and
compute workloads time themselves inside the guest with the monotonic clock, so host process
start-up and module compilation are left out; the start-up workload is timed by each host around
"make a WASI object, instantiate the precompiled module, run _start". Every figure is the median
of the repeats; the hosts take turns, one run each per round, each after an uncounted warm-up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import wasmtime

import pywasi
from pywasi.engine import host_calls
from wasmtime_wasi import run_command

BENCH = Path(__file__).resolve().parent
C_SOURCES = BENCH / "c"
BUILD = BENCH / ".build"
SHARED_HEADER = C_SOURCES / "report.h"
CFLAGS = ("-target", "wasm32-wasi", "-O2", "-Wall", "-Werror")
NODE_HOST = BENCH / "node_host.mjs"


def build(name: str) -> Path:
    """bench/c/<name>.c as a .wasm, compiled once per (source, header, flags, zig version)."""
    source = C_SOURCES / f"{name}.c"
    key = hashlib.sha256(f"{version('ziglang')}|{CFLAGS}|".encode())
    key.update(source.read_bytes() + SHARED_HEADER.read_bytes())
    output = BUILD / f"{name}-{key.hexdigest()[:16]}.wasm"
    if not output.exists():
        BUILD.mkdir(exist_ok=True)
        partial = output.with_suffix(".partial")
        subprocess.run([sys.executable, "-m", "ziglang", "cc", *CFLAGS, str(source), "-o",
                        str(partial)], check=True)
        os.replace(partial, output)
    return output


@dataclass(frozen=True)
class Sample:
    """One run of a guest: its exit code, the host-side wall time, and its stderr report."""

    exit_code: int
    host_ns: int
    report: str


class Host(Protocol):
    name: str

    def run(self, module: Path, args: Sequence[str], repeats: int) -> list[Sample]: ...


def _timed_runs(repeats: int, run_once: Callable[[str], int]) -> list[Sample]:
    """Call `run_once(stderr_path) -> exit code` `repeats` times, timing each call."""
    samples = []
    with tempfile.TemporaryDirectory(prefix="pywasi-bench-") as scratch:
        stderr_path = os.path.join(scratch, "stderr")
        for _ in range(repeats):
            started = time.perf_counter_ns()
            exit_code = run_once(stderr_path)
            elapsed = time.perf_counter_ns() - started
            samples.append(Sample(exit_code, elapsed, Path(stderr_path).read_text()))
    return samples


class PywasiHost:
    """pywasi in this process: with its C host-call trampoline, or (`pure_python`) without."""

    def __init__(self, pure_python: bool = False) -> None:
        self.name = "pywasi-py" if pure_python else "pywasi"
        self._pure_python = pure_python

    def run(self, module: Path, args: Sequence[str], repeats: int) -> list[Sample]:
        built = host_calls.trampoline
        if self._pure_python:
            host_calls.trampoline = None
        try:
            return self._run(module, args, repeats)
        finally:
            host_calls.trampoline = built

    def _run(self, module: Path, args: Sequence[str], repeats: int) -> list[Sample]:
        compiled = pywasi.load_module(module)

        def run_once(stderr_path: str) -> int:
            stdout = os.open(os.devnull, os.O_WRONLY)
            stderr = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                wasi = pywasi.WASI(version="preview1", args=["bench", *args], env={},
                                   stdout=stdout, stderr=stderr)
                return wasi.start(pywasi.instantiate(wasi, compiled))
            finally:
                os.close(stdout)
                os.close(stderr)

        return _timed_runs(repeats, run_once)


class WasmtimeBuiltinHost:
    """wasmtime-py's own WASI (the Rust implementation inside wasmtime), default engine config."""

    name = "wasmtime"

    def __init__(self) -> None:
        self.engine = wasmtime.Engine()

    def run(self, module: Path, args: Sequence[str], repeats: int) -> list[Sample]:
        compiled = wasmtime.Module.from_file(self.engine, str(module))

        def run_once(stderr_path: str) -> int:
            config = wasmtime.WasiConfig()
            config.argv = ["bench", *args]
            config.stdout_file = os.devnull
            config.stderr_file = stderr_path
            return run_command(self.engine, compiled, config)

        return _timed_runs(repeats, run_once)


class NodeHost:
    """Node's node:wasi, driven by bench/node_host.mjs, which times each run itself."""

    name = "node"
    attempts = 3

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, module: Path, args: Sequence[str], repeats: int) -> list[Sample]:
        command = [self.node, "--no-warnings", str(NODE_HOST), str(module), str(repeats), *args]
        for _ in range(self.attempts):
            completed = subprocess.run(command, capture_output=True, text=True)
            if completed.returncode == 0:
                break
            # Seen here: Node 20 now and then dies with SIGSEGV (-11) in a run that passes again.
            print(f"warning: node exited with {completed.returncode} on {module.name}: "
                  f"{completed.stderr.strip()[-300:]!r}; trying again")
        else:
            raise SystemExit(f"node failed {self.attempts} times on {module.name}")
        runs = [json.loads(line) for line in completed.stdout.splitlines()]
        return [Sample(run["exit"], run["host_ns"], run["report"]) for run in runs]


@dataclass(frozen=True)
class Workload:
    name: str
    source: str
    iterations: int  # passed as argv[1]; 0 for a guest that takes none
    unit: str  # "us" per call, or "ms" per run

    def figure(self, sample: Sample) -> float:
        """The number this workload reports for one run, in its unit."""
        if self.iterations == 0:
            return sample.host_ns / 1e6
        count, elapsed_ns, _ = (int(field) for field in sample.report.split())
        return elapsed_ns / count / 1e3 if self.unit == "us" else elapsed_ns / 1e6

    def checksum(self, sample: Sample) -> str:
        return sample.report.split()[2] if self.iterations else ""


def workloads(scale: float) -> list[Workload]:
    return [
        Workload("fd_write (4 bytes to /dev/null)", "fd_write", int(200_000 * scale), "us"),
        Workload("clock_time_get (monotonic)", "clock", int(200_000 * scale), "us"),
        Workload("compute (xorshift, no syscalls)", "compute", int(150_000_000 * scale), "ms"),
        Workload("start-up (empty main)", "empty", 0, "ms"),
    ]


@dataclass
class Result:
    workload: Workload
    medians: dict[str, float]
    minima: dict[str, float]  # the least disturbed run: another view on a shared machine


def measure(workload: Workload, hosts: Sequence[Host], repeats: int) -> Result:
    """Run every host `repeats` times, taking turns round by round, so that a slow spell on
    the shared machine falls on all hosts alike rather than on whichever ran then. Each turn
    starts with a warm-up run that is not counted (V8 tiers the code up, caches fill)."""
    module = build(workload.source)
    args = [str(workload.iterations)] if workload.iterations else []
    samples: dict[str, list[Sample]] = {host.name: [] for host in hosts}
    for _ in range(repeats):
        for host in hosts:
            samples[host.name] += host.run(module, args, 2)[1:]
    medians: dict[str, float] = {}
    minima: dict[str, float] = {}
    checksums: dict[str, set[str]] = {}
    for name, runs in samples.items():
        failed = [sample for sample in runs if sample.exit_code != 0]
        if failed:
            raise SystemExit(f"{workload.source} failed on {name}: {failed[0]}")
        figures = [workload.figure(sample) for sample in runs]
        medians[name] = statistics.median(figures)
        minima[name] = min(figures)
        checksums[name] = {workload.checksum(s) for s in runs}
    if len({frozenset(values) for values in checksums.values()}) > 1:
        print(f"warning: {workload.source}: guest results differ between hosts: {checksums}")
    return Result(workload, medians, minima)


def ratio(results: dict[str, float], host: str, baseline: str) -> str:
    if host not in results or baseline not in results:
        return "-"
    return f"{results[host] / results[baseline]:.2f}x"


def print_table(results: Sequence[Result], host_names: Sequence[str]) -> None:
    header = ["workload", "unit", *host_names, "pywasi/node", "pywasi/wasmtime"]
    rows = [header]
    for result in results:
        unit = "us/call" if result.workload.unit == "us" else "ms"
        figures = [f"{result.medians[name]:.3f} ({result.minima[name]:.3f})"
                   for name in host_names]
        rows.append([result.workload.name, unit, *figures,
                     ratio(result.medians, "pywasi", "node"),
                     ratio(result.medians, "pywasi", "wasmtime")])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def print_targets(results: Sequence[Result]) -> None:
    """The goals pywasi is held to on this machine, judged on medians (minima in brackets)."""
    by_source = {result.workload.source: result for result in results}
    for source in ("fd_write", "clock"):
        cost, least = by_source[source].medians["pywasi"], by_source[source].minima["pywasi"]
        print(f"target: pywasi {source} < 2 us/call: {cost:.3f} us ({least:.3f}) -> "
              f"{'met' if cost < 2 else 'MISSED'}")
    compute = by_source["compute"]
    slowdown = compute.medians["pywasi"] / compute.medians["wasmtime"] - 1
    least = compute.minima["pywasi"] / compute.minima["wasmtime"] - 1
    print(f"target: pywasi compute within 5% of wasmtime built-in: {slowdown:+.1%} ({least:+.1%})"
          f" -> {'met' if slowdown <= 0.05 else 'MISSED'}")


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per host and workload")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts")
    options = parser.parse_args(argv)

    hosts: list[Host] = [PywasiHost()]
    if host_calls.trampoline is None:
        print("pywasi's C trampoline is not built: the pywasi column is its pure-Python path")
    else:
        hosts.append(PywasiHost(pure_python=True))
    node = shutil.which("node")
    if node is None:
        print("node not found on PATH: the node:wasi column is skipped")
    else:
        hosts.append(NodeHost(node))
    hosts.append(WasmtimeBuiltinHost())

    node_version = (subprocess.run([node, "--version"], capture_output=True, text=True)
                    .stdout.strip() if node else "-")
    print(f"python {sys.version.split()[0]}, wasmtime-py {version('wasmtime')}, "
          f"zig {version('ziglang')}, node {node_version}")
    print(f"{os.cpu_count()} CPUs; load average before: {load_average()}; "
          f"runs per figure: {options.repeats}, hosts taking turns, each after a warm-up run")
    results = [measure(workload, hosts, options.repeats) for workload in workloads(options.scale)]
    print()
    print_table(results, [host.name for host in hosts])
    print()
    print("Each cell: median (minimum) of the runs; ratios are of medians.")
    print("us/call = in-guest elapsed time / iterations (monotonic clock around the loop).")
    print("compute ms = in-guest loop time. start-up ms = host wall time for WASI object +")
    print("instantiate (module precompiled) + _start + exit of an empty main, in the host process.")
    if host_calls.trampoline is not None:
        print("pywasi-py = pywasi with PYWASI_TRAMPOLINE=0: host calls in pure Python, no C.")
    print(f"load average after: {load_average()}")
    print_targets(results)


if __name__ == "__main__":
    main()
