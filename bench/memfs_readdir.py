"""fd_readdir of a large memory directory, one entry per call, as a guest with a small buffer.

    python bench/memfs_readdir.py [--entries N] [--repeats N] [--host]

A `MemoryDir` of N empty files (20,000 by default, named f00000...) is listed by a guest that
calls fd_readdir with a buffer that holds exactly one entry and resumes from that entry's
cookie, until the listing ends; it checks it saw every entry. Printed: the guest's whole run
and the cost per call (median and minimum of the repeats). With --host, the same listing of a
host directory (in /dev/shm if there is one) is timed beside it. Issue 16's goal: 20,000
entries one at a time in under 1 s (a rescan from the start on every call once took 11.1 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pywasi

NAME_LENGTH = 6  # f00000
DIRENT = 24 + NAME_LENGTH  # header (next, ino, namlen, type) and the name: one entry exactly


def guest(calls: int) -> bytes:
    """A module that lists its preopen (fd 3) one entry per fd_readdir and exits 0 if it made
    `calls` full calls ("." and ".." fill one each too, with part of the next entry)."""
    return f"""(module
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $cookie i64) (local $count i32) (local $errno i32)
    (block $done
      (loop $next
        (local.set $errno (call $readdir (i32.const 3) (i32.const 1024) (i32.const {DIRENT})
          (local.get $cookie) (i32.const 16)))
        (if (local.get $errno) (then (call $exit (local.get $errno))))
        (br_if $done (i32.ne (i32.load (i32.const 16)) (i32.const {DIRENT})))
        (local.set $cookie (i64.load (i32.const 1024)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $next)))
    (if (i32.ne (local.get $count) (i32.const {calls})) (then (call $exit (i32.const 100))))))
""".encode()


def names(count: int) -> list[str]:
    return [f"f{index:0{NAME_LENGTH - 1}d}" for index in range(count)]


def listing_seconds(preopen: str | pywasi.MemoryDir, module: bytes) -> float:
    """One guest run's wall time (the module is compiled, and cached, beforehand)."""
    wasi = pywasi.WASI(version="preview1", preopens={"/d": preopen})
    instance = pywasi.instantiate(wasi, module)
    started = time.perf_counter()
    code = wasi.start(instance)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the listing guest exited with {code}")
    return seconds


def report(label: str, samples: list[float], calls: int) -> None:
    median, best = statistics.median(samples), min(samples)
    print(f"  {label:26} median {median * 1e3:8.1f} ms  min {best * 1e3:8.1f} ms  "
          f"{median / calls * 1e6:6.2f} µs a call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--host", action="store_true", help="time a host directory too")
    options = parser.parse_args()
    calls = options.entries + 2  # ".", "..", then every entry
    module = guest(calls)
    tree = pywasi.MemoryDir({name: b"" for name in names(options.entries)})
    print(f"{options.entries} entries, one fd_readdir call each ({calls} calls), "
          f"{options.repeats} runs:")
    report("MemoryDir", [listing_seconds(tree, module) for _ in range(options.repeats)], calls)
    if options.host:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(dir=shm) as host:
            for name in names(options.entries):
                Path(host, name).touch()
            report(f"host directory ({shm or 'tmp'})",
                   [listing_seconds(host, module) for _ in range(options.repeats)], calls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
