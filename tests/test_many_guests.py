"""One compiled module, many guests in many threads at once (the README's supported pattern):
each guest's stdio and preopens are its own, outputs never mix, and no descriptor leaks."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import wasmtime

import pywasi
from background import JOIN_SECONDS, in_background
from guest import build_c


def test_sixteen_guests_in_four_threads(tmp_path: Path) -> None:
    module = pywasi.load_module(build_c("many_guests"))
    for number in range(16):
        (tmp_path / str(number)).mkdir()
        (tmp_path / str(number) / "name.txt").write_text(f"dir{number}")

    def run_one(number: int) -> tuple[int, bytes]:
        out = io.BytesIO()
        wasi = pywasi.WASI(version="preview1", args=["guest", f"g{number}"], stdout=out,
                           preopens={"/sandbox": str(tmp_path / str(number))})
        return wasi.start(pywasi.instantiate(wasi, module)), out.getvalue()

    run_one(0)  # wasmtime makes the module's memory image (a memfd) at its first instance
    before = len(os.listdir("/proc/self/fd"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_one, range(16)))
    for number, (exit_code, output) in enumerate(results):
        assert exit_code == 0
        assert output.decode().splitlines() == [f"g{number} dir{number} {line}"
                                                for line in range(200)]
    assert len(os.listdir("/proc/self/fd")) == before


# Spins until memory[0] is set (1) or `count` runs out (0), having set memory[4] on entry.
SPIN = b"""(module
  (memory (export "memory") 1)
  (func (export "spin") (param $count i64) (result i32)
    (i32.store (i32.const 4) (i32.const 1))
    (loop $again
      (if (i32.load (i32.const 0)) (then (return (i32.const 1))))
      (local.set $count (i64.sub (local.get $count) (i64.const 1)))
      (br_if $again (i64.gt_s (local.get $count) (i64.const 0))))
    (i32.const 0)))"""


def test_guest_code_runs_without_the_gil() -> None:
    """While one thread's guest computes, Python code runs in another (so guests on many
    cores run in parallel): this thread sees the guest spinning, and stops it by writing its
    memory, which it could not do before the call ended if the call held the GIL. However
    loaded the machine is: the guest would spin for some seconds before giving up."""
    instance = pywasi.instantiate(pywasi.WASI(version="preview1"), SPIN)
    memory = instance.exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    data = memory.data_ptr(instance.store)  # memory never moves: no store needed from here
    result: list[int] = []
    worker = in_background(lambda: result.append(instance.call("spin", 10**10)))
    while not data[4] and worker.is_alive():
        pass
    data[0] = 1
    worker.join(JOIN_SECONDS)
    assert result == [1], "the guest was not stopped while it ran: the call held the GIL"
