"""Host memory of sparse memory-tree files: a guest's huge sizes and far offsets, per case.

    python bench/memfs_sparse.py

Each case runs in a fresh Python process (so one case's peak cannot hide another's): a guest
opens `f` in a `MemoryDir` and makes it huge with raw system calls (a 1-byte pwrite at
1 GiB-2, fd_allocate of 1 GiB, a size of 1 GiB and one write at 512 MiB, a write at 4 GiB-1
under a 4 GiB size), then reads a hole back. Printed per case: the process's peak resident
memory (VmHWM) before the guest ran and after, the file's size and the bytes the tree stores.
Issue 16's goal: each case's peak under 100 MB (they once grew RSS by 1.5 GB, and 6.1 GB).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Final

GIB: Final = 1 << 30
# What each case's guest does to file f, as (system call, arguments) pairs.
CASES: Final = {
    "pwrite 1 byte at 1 GiB-2": [("pwrite", GIB - 2)],
    "fd_allocate 1 GiB": [("allocate", GIB)],
    "set_size 1 GiB + write at 512 MiB": [("set_size", GIB), ("pwrite", GIB // 2)],
    "set_size 4 GiB + write at 4 GiB-1": [("set_size", 4 * GIB), ("pwrite", 4 * GIB - 1)],
}
# fd_read, fd_seek, fd_write, fd_allocate, fd_filestat_set_size
RIGHTS: Final = (1 << 1) | (1 << 2) | (1 << 6) | (1 << 8) | (1 << 22)
_FILE: Final = "(i32.load (i32.const 16))"  # the fd path_open gave
_CALLS: Final = {
    "pwrite": f"(call $check (call $pwrite {_FILE} (i32.const 32) (i32.const 1) "
              "(i64.const {0}) (i32.const 48)))",
    "allocate": f"(call $check (call $allocate {_FILE} (i64.const 0) (i64.const {{0}})))",
    "set_size": f"(call $check (call $set_size {_FILE} (i64.const {{0}})))",
}


def guest(steps: list[tuple[str, int]]) -> bytes:
    """A module that opens f in its preopen (fd 3), does `steps` to it and reads 8 bytes of a
    hole at 256 MiB, exiting with the first errno a call gives."""
    calls = "\n    ".join(_CALLS[name].format(value) for name, value in steps)
    return f"""(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite"
    (func $pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread"
    (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate"
    (func $allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "f") (data (i32.const 8) "z")
  (func $check (param i32) (if (local.get 0) (then (call $exit (local.get 0)))))
  (func (export "_start")
    (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
      (i32.const 1) (i64.const {RIGHTS}) (i64.const 0) (i32.const 0) (i32.const 16)))
    (i32.store (i32.const 32) (i32.const 8)) (i32.store (i32.const 36) (i32.const 1))
    {calls}
    (i32.store (i32.const 40) (i32.const 64)) (i32.store (i32.const 44) (i32.const 8))
    (call $check (call $pread {_FILE} (i32.const 40) (i32.const 1)
      (i64.const {GIB // 4}) (i32.const 48)))))
""".encode()


def peak_kib() -> int:
    """This process's peak resident memory so far (VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_case(name: str) -> dict[str, object]:
    """The case, in this process: what `main` prints for it."""
    import pywasi

    tree = pywasi.MemoryDir()
    wasi = pywasi.WASI(version="preview1", preopens={"/d": tree})
    instance = pywasi.instantiate(wasi, guest(CASES[name]))
    before = peak_kib()
    started = time.perf_counter()
    code = wasi.start(instance)
    seconds = time.perf_counter() - started
    node = tree.file("f")
    return {"exit": code, "before_kib": before, "after_kib": peak_kib(), "seconds": seconds,
            "size": node.size, "stored": node.stored_bytes}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2])))
        return 0
    print(f"{'case':36} {'peak before':>12} {'peak after':>11} {'size':>14} {'stored':>8} "
          f"{'time':>8}")
    worst, failures = 0.0, 0
    for name in CASES:
        child = subprocess.run([sys.executable, __file__, "--case", name], check=True,
                               capture_output=True, text=True)
        result = json.loads(child.stdout)
        after = result["after_kib"] / 1024
        worst = max(worst, after)
        failed = f"  the guest exited with {result['exit']}" if result["exit"] else ""
        print(f"{name:36} {result['before_kib'] / 1024:9.1f} MB {after:8.1f} MB "
              f"{result['size']:14,} {result['stored']:8,} {result['seconds'] * 1e3:6.1f} ms"
              f"{failed}")
        failures += bool(failed)
    print(f"largest peak: {worst:.1f} MB (goal: under 100 MB each)")
    return 0 if worst < 100 and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
