"""Per-call cost of path_open and path_filestat_get on pywasi, on both lookup routes.

    python bench/path_calls.py [--iterations N] [--rounds N]

`bench/c/path_calls.c` opens (or stats) one existing file in its preopen over and over through
the raw WASI calls, timing itself; a flat name (``file``) and a nested one (``a/b/c/file``,
whose directories the walk opens one by one) are measured on the openat2 route and on the walk
(``PYWASI_OPENAT2=0``), in this process with the C trampoline, the routes taking turns round
by round. Run it on an older tree with ``PYTHONPATH=<that tree>/src`` for "before" figures
(a tree without openat2 has only the walk).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pywasi
from pywasi.sandbox import resolver
from run import build, load_average

PATHS = ("file", "a/b/c/file")
CALLS = ("open", "stat")


def run_once(module: Path, root: Path, iterations: int, call: str, path: str) -> float:
    """µs per call, as the guest timed it."""
    report = root / "report"
    with open(report, "wb") as err:
        wasi = pywasi.WASI(version="preview1", args=["path_calls", str(iterations), call, path],
                           preopens={"/sandbox": str(root / "tree")}, stderr=err.fileno())
        assert wasi.start(pywasi.instantiate(wasi, str(module))) == 0
    done, elapsed_ns, _ = (int(field) for field in report.read_text().split())
    return elapsed_ns / done / 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    module = build("path_calls")
    # The route switch: `openat2` now, `open_directory` in trees before it (a tree without
    # either has only the walk).
    switch = next((name for name in ("openat2", "open_directory") if hasattr(resolver, name)),
                  None)
    kernel = getattr(resolver, switch) if switch is not None else None
    routes = {"openat2": kernel, "walk": None} if kernel is not None else {"walk": None}
    print(f"pywasi from {Path(pywasi.__file__).parent}, python {sys.version.split()[0]}, "
          f"load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="pywasi-paths-") as scratch:
        root = Path(scratch)
        (root / "tree" / "a" / "b" / "c").mkdir(parents=True)
        for path in PATHS:
            (root / "tree" / path).write_bytes(b"x" * 100)
        samples: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(options.rounds):
            for route, opener in routes.items():
                if switch is not None:
                    setattr(resolver, switch, opener)
                for call in CALLS:
                    for path in PATHS:
                        samples.setdefault((route, call, path), []).append(
                            run_once(module, root, options.iterations, call, path))
    print("\n| call | path | route | median µs/call | min |")
    print("| --- | --- | --- | --- | --- |")
    for (route, call, path), values in sorted(samples.items(), key=lambda item: item[0][1:]):
        name = "path_open" if call == "open" else "path_filestat_get"
        print(f"| {name} | {path} | {route} | {statistics.median(values):.2f} | "
              f"{min(values):.2f} |")
    print(f"\nload average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
