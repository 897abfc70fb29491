"""A host call keeps no reference to what passed through it: not to the Python ints it made
of the guest's arguments, not to the result the import returned. A leak of either grows the
host by an object per call, forever."""

from __future__ import annotations

import gc
import sys

import pywasi

CALLS = 5000
# One int object, not a small cached one nor a constant shared with other code.
RESULT = int("70001")


def spinning(import_line: str, call: str) -> bytes:
    """A module whose export `spin(n)` makes a host call n times."""
    return f"""(module {import_line} (memory (export "memory") 1)
      (func (export "spin") (param $n i32)
        (loop $again
          (drop {call})
          (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))""".encode()


def test_the_result_of_a_replaced_import_is_released() -> None:
    wasi = pywasi.WASI(version="preview1")
    wasi.wasi_import["sched_yield"] = lambda: RESULT
    instance = pywasi.instantiate(wasi, spinning(
        '(import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))', "(call $y)"))
    wasi.finalize_bindings(instance)
    instance.call("spin", 10)
    before = sys.getrefcount(RESULT)
    instance.call("spin", CALLS)
    assert sys.getrefcount(RESULT) - before < 10


def test_the_arguments_of_a_host_call_are_released() -> None:
    """Arguments too large for cached ints: each call makes new int objects."""
    wasi = pywasi.WASI(version="preview1")
    wasi.wasi_import["clock_time_get"] = lambda clock, precision, out: 0
    instance = pywasi.instantiate(wasi, spinning(
        '(import "wasi_snapshot_preview1" "clock_time_get" '
        '(func $c (param i32 i64 i32) (result i32)))',
        "(call $c (i32.const -2) (i64.const -3) (i32.const 0x7ffffff0))"))
    wasi.finalize_bindings(instance)
    instance.call("spin", 10)
    gc.collect()
    before = sys.getallocatedblocks()
    instance.call("spin", CALLS)
    gc.collect()
    assert sys.getallocatedblocks() - before < CALLS // 10
