"""Reproducible runs of real programs: what the slow tests assert, printed as figures.

    python bench/reproducible_programs.py [--only NAME]

For CPython, QuickJS and yosys (tests/reproducible_real.py says which packages, pinned, and
what each runs): two deterministic recorded runs, compared byte for byte (exit code, stdout,
stderr, the files left in /work, the recordings), then a run recorded on the host's own clocks
and its replay with the directories removed, compared (exit code, stdout, stderr). In this
process, compiled code cached; times are one run's wall time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reproducible_real import real_programs, run  # noqa: E402


def _same(first: object, second: object) -> str:
    return "same" if first == second else "DIFFERENT"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only this program (cpython, quickjs, yosys)")
    options = parser.parse_args(argv)
    print("| program | deterministic x2: exit, stdout, stderr, files, log | log | "
          "recorded -> replayed: exit, stdout, stderr | recorded s | replayed s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for program in real_programs():
        if options.only and program.name != options.only:
            continue
        run(program)  # compiles once: the runs below are warm
        first, second = run(program, deterministic=True), run(program, deterministic=True)
        recorded = run(program)
        replayed = run(program, replay=recorded.log)
        twice = ", ".join(_same(getattr(first, part), getattr(second, part))
                          for part in ("exit_code", "stdout", "stderr", "files", "log"))
        again = ", ".join(_same(getattr(recorded, part), getattr(replayed, part))
                          for part in ("exit_code", "stdout", "stderr"))
        calls = first.log.count(b"\n") - 1
        print(f"| {program.name} | {twice} (exit {first.exit_code}) | "
              f"{len(first.log) / 1e3:.0f} kB, {calls} calls | {again} | "
              f"{recorded.seconds:.2f} | {replayed.seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
