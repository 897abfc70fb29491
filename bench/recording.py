"""Reproducible runs on the real programs: what recording costs, how big a log is, how fast a
replay runs, and what the deterministic mode costs.

    python bench/recording.py [--rounds N]

The programs and their inputs are `real_programs.py`'s (CPython running a short script, yosys
synthesising a counter). Each is run as a ``pywasi run`` process, warm cache: plain, with
``-S deterministic,deterministic-random-seed=1``, with ``-S record=LOG``, and as
``pywasi replay LOG`` (no preopens: every call from the log). Figures are the median wall
time of `--rounds` interleaved rounds (and the median CPU time's ratio, steadier on a busy
machine); the goal for recording is at most 1.2x plain.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from real_programs import PYWASI, Hosts, Program, Timing, programs, timed


def binary_log(log: Path) -> Path:
    """Where the binary-framed recording of the run that writes `log` goes."""
    return log.with_suffix(".wasmrecb")


def commands(hosts: Hosts, program: Program, log: Path) -> dict[str, list[str]]:
    plain = hosts.command("pywasi", program)
    return {
        "plain": plain,
        "deterministic": [*plain[:2], "-S", "deterministic,deterministic-random-seed=1",
                          *plain[2:]],
        "record": [*plain[:2], f"-S=record={log}", *plain[2:]],
        "record binary": [*plain[:2], f"-S=record={binary_log(log)}",
                          "-S", "record-format=binary", *plain[2:]],
        "replay": [*PYWASI, "replay", str(log), str(program.module)],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pywasi-recording-") as scratch_dir:
        scratch = Path(scratch_dir)
        hosts = Hosts(scratch)
        for program in programs(scratch):
            log = scratch / f"{program.name}.wasmrec"
            runs = commands(hosts, program, log)
            timed(runs["plain"], hosts.env)  # compile once: every figure is a warm run
            timed(runs["record"], hosts.env)
            samples: dict[str, list[Timing]] = {mode: [] for mode in runs}
            for _ in range(options.rounds):
                for mode, command in runs.items():
                    samples[mode].append(timed(command, hosts.env))
            walls = {mode: statistics.median(t.wall for t in got) for mode, got in samples.items()}
            cpus = {mode: statistics.median(t.cpu for t in got) for mode, got in samples.items()}
            calls = sum(1 for _ in log.open()) - 1
            print(f"{program.name}: " + ", ".join(
                f"{mode} {wall:.2f} s ({wall / walls['plain']:.2f}x; CPU "
                f"{cpus[mode] / cpus['plain']:.2f}x)" for mode, wall in walls.items())
                + f"; log {log.stat().st_size / 1e6:.2f} MB (binary "
                f"{binary_log(log).stat().st_size / 1e6:.2f} MB), {calls} calls", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
