"""Guest memory on a user's store whose memories move when they grow: every system call must
find the memory where it is now, not where it was at the last call.

Each case runs in a child process (this file as a script), so that a host call reaching the
memory where it used to be crashes that child, and fails the test, not the test run.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

import pywasi

GUEST = Path(__file__).parent / "wat" / "moving_memory.wat"
INPUT = b"".join(b"r%d..." % index for index in range(8))  # 8 rounds of 5 bytes


def moving_engine() -> wasmtime.Engine:
    """Memories with no room reserved to grow in place: every growth moves the base."""
    config = wasmtime.Config()
    config.memory_reservation = 0
    config.memory_guard_size = 0
    config.memory_reservation_for_growth = 0
    return wasmtime.Engine(config)


ENGINES = {"moving": moving_engine, "default-config": wasmtime.Engine}


def base_of(instance: pywasi.WasmtimeInstance) -> int:
    memory = instance.exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    return ctypes.addressof(memory.data_ptr(instance.store).contents)


def run_guest_on_own_store(engine: str) -> None:
    """The child: run the guest with this process's stdio on a store of `engine`."""
    wasi = pywasi.WASI(version="preview1")
    instance = pywasi.instantiate(wasi, GUEST, store=wasmtime.Store(ENGINES[engine]()))
    base_before = base_of(instance)
    code = wasi.start(instance)
    moved = base_of(instance) != base_before
    if engine == "moving" and not moved:
        sys.exit("the memory never moved: this case tests nothing")
    sys.exit(code)


def run_reentering_guest() -> None:
    """The child: an intercepted fd_write first calls back into the guest, which grows (and
    so moves) its memory, then makes the real call, which must find the memory's new place."""
    wasi = pywasi.WASI(version="preview1")
    real_read = wasi.wasi_import["fd_read"]
    instance: pywasi.WasmtimeInstance | None = None

    def grow_then_read(fd: int, iovs: int, count: int, nread_out: int) -> int | None:
        assert instance is not None
        instance.call("grow")
        return real_read(fd, iovs, count, nread_out)

    wasi.wasi_import["fd_read"] = grow_then_read
    instance = pywasi.instantiate(wasi, GUEST, store=wasmtime.Store(moving_engine()))
    sys.exit(wasi.start(instance))


def run_child(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, __file__, *args], input=INPUT, capture_output=True,
                          timeout=30, env=os.environ)


@pytest.mark.parametrize("engine", ENGINES)
def test_io_after_the_guest_grew_its_memory(engine: str) -> None:
    child = run_child(engine)
    assert (child.returncode, child.stderr.decode()) == (0, "")
    assert child.stdout == INPUT


def test_io_after_an_intercepting_import_reentered_the_guest() -> None:
    child = run_child("reenter")
    assert (child.returncode, child.stderr.decode()) == (0, "")
    assert child.stdout == INPUT


if __name__ == "__main__":
    if sys.argv[1] == "reenter":
        run_reentering_guest()
    run_guest_on_own_store(sys.argv[1])
