"""Nothing a guest or an embedder does can crash, hang or poison the host: engines, stores,
guest memory, host-call exceptions, descriptor lifetimes and the C trampoline's references.

Scenarios that used to abort or segfault the process run in a subprocess
(tests/scripts/engine_safety.py), so that a regression fails its test instead of killing pytest.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import pywasi
from background import JOIN_SECONDS, in_background
from pywasi.abi.errno import WasiErrno
from pywasi.abi.layouts import U32
from pywasi.abi.types import Errno
from pywasi.engine import engines, host_calls
from pywasi.memory import GuestMemory
from pywasi.syscalls import IMPLEMENTATIONS, SystemCall, errno_of
from scripts.engine_safety import SCENARIOS, run_isolated

MEMORY = '(memory (export "memory") 1)'
YIELD = '(import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))'
SEEK = ('(import "wasi_snapshot_preview1" "fd_seek" '
        '(func $seek (param i32 i64 i32 i32) (result i32)))')


def module(*parts: str) -> bytes:
    return ("(module " + " ".join(parts) + ")").encode()


def loop(count: int, call: str) -> str:
    """An export `run` that makes `call` (an expression that may use the counter $i) `count`
    times."""
    return (f'(func (export "run") (local $i i32) (loop $again (drop {call}) '
            "(local.set $i (i32.add (local.get $i) (i32.const 1))) "
            f"(br_if $again (i32.lt_u (local.get $i) (i32.const {count})))))")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_runs_without_a_crash(scenario: str, host_calls: str) -> None:
    done = run_isolated(scenario, trampoline=host_calls == "c", timeout=60)
    assert done.returncode == 0, f"rc {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert done.stdout.startswith(f"{scenario} [{host_calls}]: ")


# -- engines ------------------------------------------------------------------------------------

def test_function_types_are_kept_per_engine_and_go_with_it() -> None:
    signature = ("IIII", "I")  # fd_write's raw-value codes
    first, second = wasmtime.Engine(), wasmtime.Engine()
    of_first = host_calls._func_type(host_calls._func_types(first), *signature)
    of_second = host_calls._func_type(host_calls._func_types(second), *signature)
    assert of_first is not of_second
    assert host_calls._func_type(host_calls._func_types(first), *signature) is of_first
    gc.collect()  # engines earlier tests left in cycles go now, not in the count below
    engines = len(host_calls._FUNC_TYPES)
    del first
    gc.collect()
    assert len(host_calls._FUNC_TYPES) == engines - 1


def test_default_engine_is_made_once_when_threads_race(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[wasmtime.Engine] = []
    make_engine = engines.make_engine

    def slow_make_engine() -> wasmtime.Engine:
        time.sleep(0.05)  # wide open for a second thread, were there no lock
        made.append(make_engine())
        return made[-1]

    monkeypatch.setattr(engines, "_default_engine", None)
    monkeypatch.setattr(engines, "make_engine", slow_make_engine)
    barrier = threading.Barrier(8)
    seen: list[wasmtime.Engine] = []

    def ask() -> None:
        barrier.wait()
        seen.append(engines.default_engine())

    threads = [in_background(ask) for _ in range(8)]
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert len(made) == 1
    assert all(engine is made[0] for engine in seen)


# -- arguments ----------------------------------------------------------------------------------

def spied(name: str) -> tuple[SystemCall, list[tuple[int, ...]]]:
    """The started `wasi_import[name]`, with an implementation that records what it gets."""
    wasi = pywasi.WASI(version="preview1")
    wasi.finalize_bindings(pywasi.instantiate(wasi, module(MEMORY)))
    system_call = wasi.wasi_import[name]
    assert isinstance(system_call, SystemCall)
    seen: list[tuple[int, ...]] = []

    def record(ctx: object, *args: int) -> int:
        seen.append(args)
        return 0

    system_call.implementation = record
    return system_call, seen


@pytest.mark.parametrize(("given", "taken"), [
    ((-1, -1, -1, -1), (2**32 - 1, -1, 2**32 - 1, 2**32 - 1)),  # fd_seek: u32, s64, u32, u32
    ((-(2**31), 2**64 - 5, 2**31, 0), (2**31, -5, 2**31, 0)),
    ((2**32 - 1, -(2**63), 7, 8), (2**32 - 1, -(2**63), 7, 8)),
    ((0, 2**63, 0, 0), (0, -(2**63), 0, 0)),
])
def test_signed_or_unsigned_arguments_are_normalised_to_the_abi(
        given: tuple[int, ...], taken: tuple[int, ...]) -> None:
    system_call, seen = spied("fd_seek")
    assert system_call(*given) == 0
    assert seen == [taken]


def test_an_unsigned_i64_is_normalised_too() -> None:
    system_call, seen = spied("clock_time_get")  # u32, u64, u32
    assert system_call(-1, -1, -8) == 0
    assert seen == [(2**32 - 1, 2**64 - 1, 2**32 - 8)]


@pytest.mark.parametrize("given", [
    (2**32, 0, 0, 0), (-(2**31) - 1, 0, 0, 0), (-4294967200, 0, 0, 0),  # u32
    (0, 2**64, 0, 0), (0, -(2**63) - 1, 0, 0),  # s64
])
def test_arguments_out_of_range_are_einval_never_wrapped(given: tuple[int, ...]) -> None:
    system_call, seen = spied("fd_seek")
    assert system_call(*given) == Errno.INVAL
    assert seen == []


def test_arguments_that_are_no_integers_are_type_errors() -> None:
    system_call, _ = spied("fd_seek")
    with pytest.raises(TypeError, match="integers"):
        system_call(1, 0.5, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="4 integer arguments"):
        system_call(1, 0)


def test_guest_memory_refuses_negative_pointers_and_lengths() -> None:
    # Over a small buffer, so that a negative index, were it let through, reads or writes
    # from the buffer's end (a failed test) rather than before a real memory (a crash).
    buffer = memoryview(bytearray(64))
    memory = GuestMemory(lambda: (buffer, 64))
    for access in (lambda: memory.read(-16, 8), lambda: memory.store_u64(-8, 1),
                   lambda: memory.store_u32(-4, 1), lambda: memory.write(-3, b"abc"),
                   lambda: memory.view(8, -4), lambda: memory.check(-1, 1),
                   lambda: memory.iovecs(-8, 1), lambda: memory.read(4, -1),
                   lambda: memory.transfer(-8, 1, 0, (len, len)),
                   lambda: memory.transfer(0, 1, -4, (len, len))):
        with pytest.raises(WasiErrno) as info:
            access()
        assert info.value.errno == Errno.FAULT


# -- host-call exceptions -----------------------------------------------------------------------

def test_an_exception_left_by_a_host_call_does_not_surface_from_a_later_trap() -> None:
    wasi = pywasi.WASI(version="preview1")

    def broken() -> int:
        raise KeyError("left behind")

    wasi.wasi_import["sched_yield"] = broken
    instance = pywasi.instantiate(wasi, module(
        YIELD, MEMORY, '(func (export "yield") (drop (call $yield)))',
        '(func (export "trap") unreachable)'))
    wasi.finalize_bindings(instance)
    func = instance.exports["yield"]
    assert isinstance(func, wasmtime.Func)
    with pytest.raises(wasmtime.WasmtimeError, match="host call broken raised KeyError"):
        func(instance.store)  # not through instance.call: the exception stays pending
    with pytest.raises(pywasi.GuestTrap, match="unreachable"):
        instance.call("trap")
    with pytest.raises(KeyError, match="left behind"):  # its own trap still brings it back
        instance.call("yield")


def test_a_host_call_failing_in_the_start_section_raises_its_exception() -> None:
    wasi = pywasi.WASI(version="preview1")
    wasi.wasi_import["sched_yield"] = lambda: 1 // 0
    with pytest.raises(ZeroDivisionError):
        pywasi.instantiate(wasi, module(YIELD, '(func $s (drop (call $yield))) (start $s)'))


def test_a_host_bug_is_a_trap_that_names_it_never_an_errno(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(ctx: object) -> int:
        raise ValueError("a bug in the host")

    monkeypatch.setitem(IMPLEMENTATIONS, "sched_yield", buggy)
    wasi = pywasi.WASI(version="preview1")
    instance = pywasi.instantiate(wasi, module(
        YIELD, MEMORY, '(func (export "_start") (drop (call $yield)))'))
    with pytest.raises(ValueError, match="a bug in the host"):
        wasi.start(instance)
    with pytest.raises(ValueError, match="a bug in the host"):
        wasi.wasi_import["sched_yield"]()
    assert errno_of(ValueError()) is None and errno_of(OverflowError()) is None
    assert errno_of(FileNotFoundError(2, "gone")) == Errno.NOENT


def test_huge_offsets_and_sizes_are_einval_not_host_overflows(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"contents")
    wasi = pywasi.WASI(version="preview1", preopens={"/sandbox": str(tmp_path)})
    instance = pywasi.instantiate(wasi, module(MEMORY, '(data (i32.const 200) "file")'))
    wasi.finalize_bindings(instance)
    call = wasi.wasi_import
    assert call["path_open"](3, 0, 200, 4, 0, 2**64 - 1, 2**64 - 1, 0, 100) == 0
    memory = instance.guest_memory()
    assert memory is not None
    fd = memory.unpack(U32, 100)[0]
    memory.write(0, (300).to_bytes(4, "little") + (4).to_bytes(4, "little"))
    for huge in (2**63, 2**64 - 1):
        assert call["fd_pread"](fd, 0, 1, huge, 8) == Errno.INVAL
        assert call["fd_pwrite"](fd, 0, 1, huge, 8) == Errno.INVAL
        assert call["fd_filestat_set_size"](fd, huge) == Errno.INVAL
        assert call["fd_allocate"](fd, huge, 1) == Errno.INVAL
        assert call["fd_allocate"](fd, 0, huge) == Errno.INVAL
        assert call["fd_advise"](fd, huge, 1, 0) == Errno.INVAL
        assert call["fd_advise"](fd, 0, huge, 0) == Errno.INVAL
    assert (tmp_path / "file").read_bytes() == b"contents"


def test_a_clock_timeout_too_long_for_poll_is_waited_in_slices() -> None:
    """An fd that is ready at once must be reported, even beside a 2**64-1 ns timeout (more
    milliseconds than poll(2) takes)."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"x")
    try:
        wasi = pywasi.WASI(version="preview1", stdin=read_end)
        instance = pywasi.instantiate(wasi, module(MEMORY))
        wasi.finalize_bindings(instance)
        memory = instance.guest_memory()
        assert memory is not None
        clock = (b"\1" * 8 + b"\0" * 8 + (1).to_bytes(4, "little") + b"\0" * 4
                 + (2**64 - 1).to_bytes(8, "little") + b"\0" * 16)
        readable = b"\2" * 8 + b"\1" + b"\0" * 39  # fd_read of fd 0
        memory.write(0, clock + readable)
        assert wasi.wasi_import["poll_oneoff"](0, 1024, 2, 2048) == 0
        assert memory.read(2048, 4) == (1).to_bytes(4, "little")
        assert memory.read(1024, 8) == b"\2" * 8  # the fd's event
    finally:
        os.close(read_end)
        os.close(write_end)


# -- descriptors --------------------------------------------------------------------------------

def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """Descriptors must be released by reference counting alone: a cycle would keep them
    until some later collection, which this makes never come."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def preopening(tmp_path: Path) -> pywasi.WASI:
    return pywasi.WASI(version="preview1", preopens={"/a": str(tmp_path), "/b": str(tmp_path)})


def test_unused_wasi_objects_release_their_descriptors(tmp_path: Path) -> None:
    with no_garbage_collection():
        before = open_fds()
        for _ in range(100):
            preopening(tmp_path)
        assert open_fds() == before


REACTOR = module(YIELD, MEMORY, '(func (export "_initialize") (drop (call $yield)))')


def start_a_reactor(wasi: pywasi.WASI) -> None:
    with pytest.raises(pywasi.InvalidArgTypeError):
        wasi.start(pywasi.instantiate(wasi, REACTOR))


def instantiate_a_bad_import(wasi: pywasi.WASI) -> None:
    with pytest.raises(pywasi.ModuleLoadError):
        pywasi.instantiate(wasi, module('(import "wasi_snapshot_preview1" "nope" (func))'))


def trap_in_the_start_section(wasi: pywasi.WASI) -> None:
    with pytest.raises(pywasi.GuestTrap):
        pywasi.instantiate(wasi, module(MEMORY, '(func $s unreachable) (start $s)'))


def drop_a_reactor(wasi: pywasi.WASI) -> None:
    wasi.initialize(pywasi.instantiate(wasi, REACTOR))


def trap_in_initialize(wasi: pywasi.WASI) -> None:
    with pytest.raises(pywasi.GuestTrap):
        wasi.initialize(pywasi.instantiate(wasi, module(
            MEMORY, '(func (export "_initialize") unreachable)')))


def exit_from_a_host_call(wasi: pywasi.WASI) -> None:
    wasi.wasi_import["sched_yield"] = lambda: 1 // 0
    with pytest.raises(ZeroDivisionError):
        wasi.start(pywasi.instantiate(wasi, module(
            YIELD, MEMORY, '(func (export "_start") (drop (call $yield)))')))


@pytest.mark.parametrize("round_", [start_a_reactor, trap_in_initialize,
                                    exit_from_a_host_call])
def test_a_failed_start_or_initialize_closes_at_once(
        round_: Callable[[pywasi.WASI], None], tmp_path: Path) -> None:
    """The WASI object cannot be started again: its descriptors go even while it is kept."""
    round_(preopening(tmp_path))
    before = open_fds()
    kept = [preopening(tmp_path) for _ in range(5)]
    for wasi in kept:
        round_(wasi)
    assert open_fds() == before


@pytest.mark.parametrize("round_", [start_a_reactor, instantiate_a_bad_import,
                                    trap_in_the_start_section, drop_a_reactor,
                                    trap_in_initialize, exit_from_a_host_call])
def test_every_failure_path_releases_the_descriptors(
        round_: Callable[[pywasi.WASI], None], tmp_path: Path) -> None:
    round_(preopening(tmp_path))  # warm-up: the first round may open lasting things
    with no_garbage_collection():
        before = open_fds()
        for _ in range(5):
            round_(preopening(tmp_path))
        assert open_fds() == before


def test_wasi_and_instances_are_context_managers(tmp_path: Path) -> None:
    with no_garbage_collection():
        before = open_fds()
        with preopening(tmp_path) as wasi:
            assert open_fds() == before + 2
        assert open_fds() == before
        wasi = preopening(tmp_path)
        with pywasi.instantiate(wasi, REACTOR) as instance:
            wasi.initialize(instance)
            assert open_fds() == before + 2
        assert open_fds() == before
        with pytest.raises(pywasi.InstanceClosedError):
            instance.call("_initialize")
        with pytest.raises(pywasi.MemoryGoneError):
            wasi.wasi_import["random_get"](0, 8)


def test_a_reactor_kept_by_its_store_keeps_its_descriptors(tmp_path: Path) -> None:
    """Closing at collection must wait until no instance can make a system call any more."""
    with no_garbage_collection():
        before = open_fds()
        wasi = preopening(tmp_path)
        instance = pywasi.instantiate(wasi, REACTOR)
        wasi.initialize(instance)
        store = instance.store
        del wasi, instance
        assert open_fds() == before + 2  # the preopens, still there for the store's host calls
        del store
        assert open_fds() == before


# -- references in the host-call paths ----------------------------------------------------------

def reactor_calling(wasi: pywasi.WASI, *parts: str) -> pywasi.WasmtimeInstance:
    """`parts` (imports first, then a `loop`) in a module with a memory, bound and warmed up."""
    instance = pywasi.instantiate(wasi, module(*parts[:-1], MEMORY, parts[-1]))
    wasi.finalize_bindings(instance)
    instance.call("run")  # warm-up
    return instance


def test_a_replaced_import_result_is_not_leaked() -> None:
    result = int("1000001")  # no cached small int, one object per test
    wasi = pywasi.WASI(version="preview1")
    wasi.wasi_import["fd_seek"] = lambda *args: result
    instance = reactor_calling(wasi, SEEK, loop(
        1000, "(call $seek (i32.const 3) (i64.const 0) (i32.const 0) (i32.const 8))"))
    before = sys.getrefcount(result)
    instance.call("run")
    assert sys.getrefcount(result) == before


def allocated_by(run: Callable[[], Any]) -> int:
    with no_garbage_collection():
        before = sys.getallocatedblocks()
        run()
        return sys.getallocatedblocks() - before


def test_host_call_arguments_are_not_leaked() -> None:
    wasi = pywasi.WASI(version="preview1")
    wasi.wasi_import["fd_seek"] = lambda *args: 0
    instance = reactor_calling(wasi, SEEK, loop(
        5000, "(call $seek (i32.add (i32.const 100000) (local.get $i)) (i64.extend_i32_u "
              "(i32.add (i32.const 100000) (local.get $i))) (i32.const 1000) (i32.const 1000))"))
    assert allocated_by(lambda: instance.call("run")) < 1000  # a leak is 10,000 or more


def test_system_calls_that_fail_leak_nothing() -> None:
    wasi = pywasi.WASI(version="preview1")
    instance = reactor_calling(
        wasi, '(import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) '
        '(result i32)))', loop(5000, "(call $close (i32.add (i32.const 100000) (local.get $i)))"))
    assert allocated_by(lambda: instance.call("run")) < 1000
