"""Embedder and guest moves that used to crash or abort the host process, each in a subprocess.

    python tests/scripts/engine_safety.py              # every scenario, on both host-call paths
    python tests/scripts/engine_safety.py SCENARIO     # one, in this process (PYWASI_TRAMPOLINE=0
                                                       # for the pure-Python host calls)

Each scenario prints one line and exits 0 when the host survived and answered as it should; a
crash (rc 134 abort, rc 139 segfault) or a wrong answer is a failure. tests/test_engine_safety.py
runs every scenario this way, so a regression fails a test instead of killing pytest.
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import wasmtime

import pywasi
from pywasi.abi.signatures import PREVIEW1_SIGNATURES
from pywasi.abi.types import Errno
from pywasi.engine import engines, host_calls
from pywasi.syscalls import SystemCall

FD_WRITE = ('(import "wasi_snapshot_preview1" "fd_write" '
            '(func $write (param i32 i32 i32 i32) (result i32)))')

# Writes "ok\n" to stdout with one fd_write; traps if the call fails.
SAYS_OK = f"""(module {FD_WRITE}
  (memory (export "memory") 1)
  (data (i32.const 16) "ok\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 3))
    (if (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable))))"""

# Grows its memory by 50 pages and has clock_time_get store the time in the new pages (the host
# call must find the memory where it is now), then writes "one\n" from there; then calls
# fd_write with an empty iovec at 0, which the host intercepts: it grows the memory again
# through `grow` and fills the iovec, then calls the real fd_write, which must see the memory
# as it is after that re-entry: "two\n".
GROWS = f"""(module {FD_WRITE}
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $time (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "_start") (local $p i32)
    (drop (memory.grow (i32.const 50)))
    (local.set $p (i32.const 3276800))
    (if (call $time (i32.const 1) (i64.const 0) (i32.add (local.get $p) (i32.const 128)))
      (then unreachable))
    (if (i64.eqz (i64.load offset=128 (local.get $p))) (then unreachable))
    (i32.store (local.get $p) (i32.add (local.get $p) (i32.const 64)))
    (i32.store offset=4 (local.get $p) (i32.const 4))
    (i32.store offset=64 (local.get $p) (i32.const 0x0a656e6f))
    (if (call $write (i32.const 1) (local.get $p) (i32.const 1) (i32.add (local.get $p)
        (i32.const 8))) (then unreachable))
    (drop (memory.grow (i32.const 10)))
    (if (call $time (i32.const 1) (i64.const 0) (i32.add (local.get $p) (i32.const 256)))
      (then unreachable))
    (if (i64.eqz (i64.load offset=256 (local.get $p))) (then unreachable))
    (if (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable))))"""

HOSTILE_I32 = [-1, -16, -(2**31), 2**31 - 16, 65536 - 4]
HOSTILE_I64 = [-1, -(2**63), 2**63 - 1, 0, 2**32]
ENDING = {"proc_exit", "proc_raise"}
ERRNOS = {int(errno) for errno in Errno}


@contextmanager
def captured_stdout() -> Iterator[tuple[int, Callable[[], bytes]]]:
    """A host fd to hand a guest as stdout, and a function that reads what it got."""
    with tempfile.TemporaryFile() as file:
        def contents() -> bytes:
            file.seek(0)
            return file.read()
        yield file.fileno(), contents


def run_says_ok(store: wasmtime.Store | None) -> None:
    with captured_stdout() as (stdout, contents):
        wasi = pywasi.WASI(version="preview1", stdout=stdout)
        code = wasi.start(pywasi.instantiate(wasi, SAYS_OK.encode(), store=store, cache=False))
        assert (code, contents()) == (0, b"ok\n"), (code, contents())


def two_engines() -> str:
    """pywasi's engine and users' engines, interleaved, each with its own stores."""
    first, second = wasmtime.Engine(), wasmtime.Engine()
    for engine in (None, first, None, second, first, second, None):
        run_says_ok(None if engine is None else wasmtime.Store(engine))
    module = pywasi.load_module(SAYS_OK.encode(), first, cache=False)
    with captured_stdout() as (stdout, contents):
        wasi = pywasi.WASI(version="preview1", stdout=stdout)
        assert wasi.start(pywasi.instantiate(wasi, module, store=wasmtime.Store(first))) == 0
    return "7 runs on 3 engines, interleaved"


def moving_memory(config: wasmtime.Config | None) -> str:
    """A user engine's memory may move when it grows, also during an intercepted import."""
    engine = wasmtime.Engine(config) if config is not None else wasmtime.Engine()
    with captured_stdout() as (stdout, contents):
        wasi = pywasi.WASI(version="preview1", stdout=stdout)
        real_write = wasi.wasi_import["fd_write"]
        assert isinstance(real_write, SystemCall)
        instance: pywasi.WasmtimeInstance | None = None
        bases: list[int] = []

        def base() -> int:
            assert instance is not None
            memory = instance.exports["memory"]
            assert isinstance(memory, wasmtime.Memory)
            bases.append(ctypes.addressof(memory.data_ptr(instance.store).contents))
            return bases[-1]

        def intercept(fd: int, iovs: int, count: int, written_out: int) -> int:
            assert instance is not None
            memory = instance.exports["memory"]
            assert isinstance(memory, wasmtime.Memory)
            if iovs != 0:
                base()
                return real_write(fd, iovs, count, written_out)
            instance.call("grow", 100)  # the guest runs again, and its memory moves
            base()
            data = 150 * 65536
            memory.write(instance.store, b"two\n", data)
            memory.write(instance.store, data.to_bytes(4, "little") + b"\4\0\0\0", 0)
            return real_write(fd, iovs, count, written_out)

        wasi.wasi_import["fd_write"] = intercept
        instance = pywasi.instantiate(wasi, GROWS.encode(), store=wasmtime.Store(engine),
                                      cache=False)
        base()
        assert wasi.start(instance) == 0
        assert contents() == b"one\ntwo\n", contents()
    moves = len(set(bases)) - 1
    if config is not None:
        assert moves >= 1, "the memory never moved: the scenario proves nothing"
    return f"output right; the memory moved {moves} times"


def moving_memory_default_engine() -> str:
    return moving_memory(None)


def moving_memory_forced() -> str:
    config = wasmtime.Config()
    config.memory_reservation = 0  # no room to grow in place: every growth moves the memory
    config.memory_reservation_for_growth = 0
    config.memory_guard_size = 0
    return moving_memory(config)


def threads_start_at_once() -> str:
    """8 threads start guests at the same moment, half on pywasi's engine (which must be made
    once), half on engines of their own."""
    made: list[wasmtime.Engine] = []
    make_engine = engines.make_engine

    def counted(*args: Any, **kwargs: Any) -> wasmtime.Engine:
        made.append(make_engine(*args, **kwargs))
        return made[-1]

    engines.make_engine = counted
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            run_says_ok(None if index % 2 else wasmtime.Store(wasmtime.Engine()))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)  # a stuck run fails the scenario (alive below), not hangs it
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads), "a run never ended"
    assert len(made) == 1, f"pywasi's engine was made {len(made)} times"
    return "8 runs, pywasi's engine made once"


def refused_as_gone(wasi: pywasi.WASI, what: str) -> str:
    """A system call after the memory's store is `what` must raise MemoryGoneError."""
    try:
        wasi.wasi_import["random_get"](0, 8)
    except pywasi.MemoryGoneError:
        return "MemoryGoneError"
    raise AssertionError(f"a system call on a {what} store's memory did not fail")


def dropped_store() -> str:
    wasi = pywasi.WASI(version="preview1")
    instance = pywasi.instantiate(wasi, SAYS_OK.encode(), cache=False)
    wasi.finalize_bindings(instance)
    del instance
    gc.collect()
    return refused_as_gone(wasi, "freed")


def closed_user_store() -> str:
    wasi = pywasi.WASI(version="preview1")
    store = wasmtime.Store(wasmtime.Engine())
    wasi.finalize_bindings(pywasi.instantiate(wasi, SAYS_OK.encode(), store=store, cache=False))
    store.close()
    return refused_as_gone(wasi, "closed")


def another_store_calls_after(end: Callable[[list[wasmtime.Store]], None], what: str) -> str:
    """The system calls bound to a user store's memory, called by a guest in another store
    after `end` has done with the first store (it is given the only reference, in a list):
    MemoryGoneError, never freed memory, since a system call looks its memory up whichever
    store's guest makes it."""
    wasi = pywasi.WASI(version="preview1")
    stores = [wasmtime.Store(wasmtime.Engine())]
    wasi.finalize_bindings(pywasi.instantiate(wasi, SAYS_OK.encode(), store=stores[0],
                                              cache=False))
    caller = pywasi.instantiate(wasi, b"""(module (import "wasi_snapshot_preview1" "random_get"
        (func $random (param i32 i32) (result i32))) (memory (export "memory") 1)
        (func (export "run") (drop (call $random (i32.const 0) (i32.const 8)))))""", cache=False)
    end(stores)
    try:
        caller.call("run")
    except pywasi.MemoryGoneError:
        return "MemoryGoneError"
    raise AssertionError(f"a host call on a {what} store's memory did not fail")


def user_store_gone_while_another_calls() -> str:
    def collect(stores: list[wasmtime.Store]) -> None:
        stores.clear()
        gc.collect()

    return another_store_calls_after(collect, "freed")


def user_store_closed_while_another_calls() -> str:
    return another_store_calls_after(lambda stores: stores[0].close(), "closed")


def memory_of_another_store() -> str:
    wasi = pywasi.WASI(version="preview1")
    instance = pywasi.instantiate(wasi, SAYS_OK.encode(), cache=False)
    other = pywasi.instantiate(pywasi.WASI(version="preview1"), SAYS_OK.encode(), cache=False)
    try:
        wasi.finalize_bindings(instance, memory=other.exports["memory"])
    except pywasi.InvalidArgValueError as error:
        assert "store" in str(error)
        return "InvalidArgValueError"
    raise AssertionError("a memory of another store was accepted")


def module_of_another_engine() -> str:
    module = wasmtime.Module(wasmtime.Engine(), SAYS_OK)
    wasi = pywasi.WASI(version="preview1")
    try:
        pywasi.instantiate(wasi, module)
    except pywasi.ModuleLoadError as error:
        assert "store=" in str(error) and "engine=" in str(error), error
        return "ModuleLoadError that says what to pass"
    raise AssertionError("a module of another engine was instantiated")


def hostile_wasi_import() -> str:
    """Signed, negative and out-of-range values through `wasi_import`, as wasmtime-py's Func
    or Node would pass them: an errno each, and no write anywhere in the memory."""
    i32 = [-1, -16, -(2**31), 2**31, 2**32 - 1, 2**32, -4294967200, 2**40]
    i64 = [-1, -(2**63), 2**63, 2**64 - 1, 2**64, -(2**63) - 1]
    values = {"I": i32, "Q": i64, "q": i64}
    with tempfile.TemporaryDirectory() as root, captured_stdout() as (stdout, _):
        wasi = pywasi.WASI(version="preview1", preopens={"/sandbox": root}, stdout=stdout)
        instance = pywasi.instantiate(wasi, SAYS_OK.encode(), cache=False)
        wasi.finalize_bindings(instance)
        memory = instance.exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        before = memory.read(instance.store, 0, 65536)
        calls = 0
        for name, signature in PREVIEW1_SIGNATURES.items():
            if name in ENDING:
                continue
            for index in range(len(i32)):
                args = [values[kind][index % len(values[kind])] for kind in signature.params]
                for first in ([args[0], 1, 3] if args else [None]):
                    call = args if first is None else [first, *args[1:]]
                    errno = wasi.wasi_import[name](*call)
                    assert errno in ERRNOS, (name, call, errno)
                    calls += 1
        assert memory.read(instance.store, 0, 65536) == before, "guest memory was written"
    return f"{calls} calls, each an errno, memory untouched"


def hostile_raw_values() -> str:
    """Raw i32/i64 values like -1, -16, 0x80000000 from a guest, through wasmtime: every call
    (but the two that end the guest) answers with an errno. The guest checks each answer and
    counts the bad ones in a global (the calls may write anywhere in its memory)."""
    calls: list[str] = []
    for name, signature in PREVIEW1_SIGNATURES.items():
        if name in ENDING:
            continue
        for index in range(len(HOSTILE_I32)):
            args = [f"(i32.const {HOSTILE_I32[index]})" if kind == "I"
                    else f"(i64.const {HOSTILE_I64[index]})" for kind in signature.params]
            for first in ([args[0], "(i32.const 1)", "(i32.const 3)"] if args else [None]):
                call = args if first is None else [first, *args[1:]]
                calls.append(f"(if (i32.ge_u (call ${name} {' '.join(call)}) (i32.const "
                             f"{max(ERRNOS) + 1})) (then (global.set $bad (i32.add (global.get "
                             f"$bad) (i32.const 1))) (global.set $last (i32.const {len(calls)}))))")
    imports = "".join(
        f'(import "wasi_snapshot_preview1" "{name}" (func ${name} (param '
        + " ".join("i32" if kind == "I" else "i64" for kind in signature.params)
        + ") (result i32)))"
        for name, signature in PREVIEW1_SIGNATURES.items() if name not in ENDING)
    source = (f'(module {imports} (memory (export "memory") 1) '
              '(global $bad (export "bad") (mut i32) (i32.const 0)) '
              '(global $last (export "last") (mut i32) (i32.const -1)) '
              f'(func (export "_start") {" ".join(calls)}))')
    with tempfile.TemporaryDirectory() as root, captured_stdout() as (stdout, _):
        wasi = pywasi.WASI(version="preview1", preopens={"/sandbox": root}, stdout=stdout)
        instance = pywasi.instantiate(wasi, source.encode(), cache=False)
        assert wasi.start(instance) == 0
        bad, last = (instance.exports[name] for name in ("bad", "last"))
        assert isinstance(bad, wasmtime.Global) and isinstance(last, wasmtime.Global)
        assert bad.value(instance.store) == 0, (bad.value(instance.store),
                                                calls[last.value(instance.store)])
    return f"{len(calls)} calls, each an errno"


SCENARIOS: dict[str, Callable[[], str]] = {
    scenario.__name__: scenario for scenario in (
        two_engines, moving_memory_default_engine, moving_memory_forced, threads_start_at_once,
        dropped_store, closed_user_store, user_store_gone_while_another_calls,
        user_store_closed_while_another_calls,
        memory_of_another_store, module_of_another_engine,
        hostile_wasi_import, hostile_raw_values,
    )
}


def run_isolated(scenario: str, trampoline: bool,
                 **options: Any) -> subprocess.CompletedProcess[str]:
    """Run one scenario in a fresh interpreter, on the C (`trampoline`) or the Python path."""
    env = {**os.environ, "PYWASI_TRAMPOLINE": "1" if trampoline else "0"}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), scenario], env=env,
                          capture_output=True, text=True, **options)


def main(argv: list[str]) -> int:
    if argv:
        (scenario,) = argv
        path = "python" if host_calls.trampoline is None else "c"
        print(f"{scenario} [{path}]: {SCENARIOS[scenario]()}")
        return 0
    failed = 0
    for scenario in SCENARIOS:
        for trampoline in (True, False):
            done = run_isolated(scenario, trampoline, timeout=120)
            if done.returncode == 0:
                print(done.stdout.strip())
            else:
                failed += 1
                path = "c" if trampoline else "python"
                print(f"{scenario} [{path}]: FAILED, rc {done.returncode}: "
                      f"{done.stderr.strip().splitlines()[-1:] or ''}")
    print("all passed, no abort" if not failed else f"{failed} FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
