"""64 MiB written in 4 KiB pieces into a `MemoryDir` file and into a host file on tmpfs.

    python bench/memfs_write.py [--mib N] [--repeats N] [--host-dir DIR]

The guest (bench/c/memfs_write.c) times its own loop of raw fd_write calls. Memory file
contents grow geometrically, so the memory run should cost about what the host file does (an
in-memory file that copied its contents on every write would be quadratic: hundreds of times
slower at this size). The backings take turns round by round; medians and minima are printed,
with the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pywasi
from run import build

PIECE = 4096


def run_once(module: Path, pieces: int, preopen: str | pywasi.MemoryDir) -> float:
    """One run's guest-timed seconds; the result file is checked to be whole."""
    with tempfile.TemporaryFile() as err:
        wasi = pywasi.WASI(version="preview1", args=["memfs_write", str(pieces)],
                           preopens={"/out": preopen}, stderr=err.fileno())
        if wasi.start(pywasi.instantiate(wasi, module)) != 0:
            raise RuntimeError("the guest failed")
        err.seek(0)
        _, elapsed_ns, written = (int(field) for field in err.read().split())
    size = (preopen["out"].size if isinstance(preopen, pywasi.MemoryDir)
            else (Path(preopen) / "out").stat().st_size)
    if written != size or size != pieces * PIECE:
        raise RuntimeError(f"wrote {written} bytes, file has {size}")
    return elapsed_ns / 1e9


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--host-dir", default="/dev/shm",
                        help="where the host file goes (default /dev/shm, a tmpfs)")
    options = parser.parse_args(argv)
    module = build("memfs_write")
    pieces = options.mib * 2**20 // PIECE
    with tempfile.TemporaryDirectory(dir=options.host_dir) as host_dir:
        backings: dict[str, Callable[[], str | pywasi.MemoryDir]] = {
            f"host file ({options.host_dir})": lambda: host_dir,
            "MemoryDir file": pywasi.MemoryDir,
        }
        times: dict[str, list[float]] = {name: [] for name in backings}
        for make in backings.values():  # warm-up: compile, page in
            run_once(module, pieces // 16, make())
        for _ in range(options.repeats):
            for name, make in backings.items():
                times[name].append(run_once(module, pieces, make()))
    print(f"{options.mib} MiB in {PIECE}-byte fd_write calls, {options.repeats} rounds:")
    for name, runs in times.items():
        print(f"  {name:28} median {statistics.median(runs) * 1e3:8.1f} ms   "
              f"min {min(runs) * 1e3:8.1f} ms   "
              f"{options.mib / statistics.median(runs):7.0f} MiB/s")
    host, memory = (statistics.median(runs) for runs in times.values())
    print(f"  memory / host: {memory / host:.2f}")


if __name__ == "__main__":
    main()
