"""What stops a guest in each mode, as the README says: compiled without epoch checks (the
default, and ``interruptible=False``) a stop ends blocking waits and the guest's next system
call, but not compute between them; with them (``interruptible=True``, a timeout) compute too.
And an embedder's own epoch deadline on its own store is left to work as wasmtime's."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import wasmtime

import pywasi
from background import JOIN_SECONDS, in_background, later, wait_until_in
from guest import build_c
from pywasi import WASI, GuestInterrupted, GuestTimeout, GuestTrap, Limits, instantiate

SPINS = 20_000_000

# `run` tells the host it has started (the host stops it then), spins `count` rounds of
# pure compute counting them at address 0, then calls clock_time_get for ever.
SPIN_THEN_CALL = b"""(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (import "env" "started" (func $started))
  (memory (export "memory") 1)
  (func (export "run") (param $count i64)
    (call $started)
    (block $done
      (loop $spin
        (br_if $done (i64.ge_u (i64.load (i32.const 0)) (local.get $count)))
        (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
        (br $spin)))
    (loop $calls
      (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 8)))
      (br $calls))))"""

MODES = {"default": None, "interruptible": Limits(interruptible=True),
         "uninterruptible": Limits(interruptible=False),
         "timeout": Limits(timeout=3600.0)}  # a timeout compiles epoch checks in
EPOCH_MODES = {"interruptible", "timeout"}


@pytest.mark.parametrize("mode", MODES)
def test_a_stop_ends_compute_only_where_epoch_checks_were_compiled(mode: str) -> None:
    """Stopped before its spin: with epoch checks the spin is cut short; without, it runs to
    its end and the guest stops at its next system call. Neither hangs."""
    wasi = WASI(version="preview1", limits=MODES[mode])
    box: list[pywasi.WasmtimeInstance] = []
    instance = instantiate(wasi, SPIN_THEN_CALL,
                           imports={"env": {"started": lambda: box[0].interrupt()}})
    box.append(instance)
    outcome: list[BaseException] = []

    def run() -> None:  # off the main thread: no SIGINT cuts `started` short
        try:
            instance.call("run", SPINS)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert [type(error) for error in outcome] == [GuestInterrupted]
    spun = instance.memory.read_int(0, 8)
    if mode in EPOCH_MODES:
        assert spun < SPINS
    else:
        assert spun == SPINS


# The README's table ("Stopping, bounding and tracing a guest"), as data: what a stop
# (`interrupt()`, Ctrl-C, a timeout) ends in each mode. Each control guest runs for ever (or
# 1000 s) unless stopped, so ending at all, with the right exception, is the stop's doing.
# Each guest is stopped where it runs once it has said so: in the function named here
# (`wait_until_in`), so that a stop cannot land in the system call that said it.
GUESTS = {
    "clock": None,  # a compute loop with a system call (clock_time_get) per round: anywhere
    "stdin": "wait_for",  # blocked in fd_read on a pipe nobody writes to
    "sleep": "_wait",  # blocked in poll_oneoff on a 1000 s clock
    "compute": "call_unchecked",  # a pure spin loop: in wasm (engine/ffi.py), no system call
}


def stops(mode: str, guest: str) -> bool:
    """Whether the README says a stop ends `guest` in `mode`."""
    return guest != "compute" or mode in EPOCH_MODES


STOPPED = [pytest.param(mode, guest, id=f"{mode}-{guest}")
           for mode in MODES for guest in GUESTS if stops(mode, guest)]
# Ctrl-C of pure compute is tested in a process of its own (as is what runs on): one that
# did not stop on pytest's main thread would hang the run.
STOPPED_WITH_CALLS = [param for param in STOPPED if param.values[1] != "compute"]
NOT_STOPPED = [(mode, guest) for mode in MODES for guest in GUESTS
               if not stops(mode, guest)]
_QUIET_STDIN = os.pipe()  # a stdin nobody ever writes to: a guest reading it blocks


def control(guest: str, limits: Limits | None) -> tuple[WASI, pywasi.WasmtimeInstance,
                                                         threading.Event]:
    """The control guest running `guest`, and an event set once it runs (its first line)."""
    said = threading.Event()
    wasi = WASI(version="preview1", args=["control", guest], stdin=_QUIET_STDIN[0],
                stdout=lambda data: said.set(), limits=limits)
    return wasi, instantiate(wasi, build_c("control")), said


def wait_until_running(thread: threading.Thread, guest: str, said: threading.Event) -> None:
    """Until `guest`, on `thread`, runs where a stop is to find it."""
    assert said.wait(JOIN_SECONDS), "the guest never started"
    where = GUESTS[guest]
    if where is not None:
        wait_until_in(thread, where)


def in_the_background(wasi: WASI, instance: pywasi.WasmtimeInstance
                      ) -> tuple[threading.Thread, list[BaseException]]:
    """The guest started on a daemon thread, and the list that gets what its call raises."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            wasi.start(instance)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            outcome.append(error)

    return in_background(run), outcome


def test_the_readme_table_is_what_these_tests_check() -> None:
    """Each mode and guest here is tested one way or the other, and only pure compute in a
    mode without epoch checks runs on."""
    assert NOT_STOPPED == [("default", "compute"), ("uninterruptible", "compute")]
    assert len(STOPPED) + len(NOT_STOPPED) == len(MODES) * len(GUESTS)


@pytest.mark.parametrize(("mode", "guest"), STOPPED)
def test_interrupt_stops_what_the_readme_says(mode: str, guest: str) -> None:
    wasi, instance, said = control(guest, MODES[mode])
    thread, outcome = in_the_background(wasi, instance)
    wait_until_running(thread, guest, said)
    instance.interrupt()
    thread.join(JOIN_SECONDS)  # a guest that did not stop fails the test, spinning on
    assert [type(error) for error in outcome] == [GuestInterrupted]


def ctrl_c_stops(wasi: WASI, instance: pywasi.WasmtimeInstance,
                 first: Callable[[], None]) -> None:
    """Run the guest on the main thread, send SIGINT from another once `first()` returns, and
    check that the call raises KeyboardInterrupt. A guest that does not stop is ended by
    `interrupt()` (the wrong exception) after `JOIN_SECONDS` more, instead of hanging."""

    def ctrl_c_after_first() -> None:
        first()
        os.kill(os.getpid(), signal.SIGINT)

    sender = in_background(ctrl_c_after_first)
    backstop = later(2 * JOIN_SECONDS, instance.interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            wasi.start(instance)
    finally:
        backstop.cancel()
        sender.join()


@pytest.mark.parametrize(("mode", "guest"), STOPPED_WITH_CALLS)
def test_ctrl_c_stops_what_the_readme_says(mode: str, guest: str) -> None:
    wasi, instance, said = control(guest, MODES[mode])
    ctrl_c_stops(wasi, instance, partial(wait_until_running, threading.main_thread(), guest, said))


@pytest.mark.parametrize("guest", ["stdin", "sleep"])
def test_a_ctrl_c_that_another_thread_takes_still_ends_a_blocking_wait(guest: str) -> None:
    """The kernel hands a process's SIGINT to any thread that does not block it; the main
    thread, blocked in poll(2), then sees no EINTR (as when the signal comes just before it
    blocks). The signal watcher's bell ends the wait, and the handler runs on the main
    thread. SIGINT is blocked on the main thread here, so that another thread takes it."""
    wasi, instance, said = control(guest, None)

    def ctrl_c_from_here() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        wait_until_running(threading.main_thread(), guest, said)
        os.kill(os.getpid(), signal.SIGINT)

    sender = in_background(ctrl_c_from_here)
    backstop = later(JOIN_SECONDS, instance.interrupt)  # which rings the bell too
    raised: list[type[BaseException]] = []
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        wasi.start(instance)
    except BaseException as error:  # noqa: BLE001 - the test looks at it
        raised.append(type(error))
    finally:
        backstop.cancel()
        try:  # a SIGINT still pending (the backstop's) is raised here, not in pytest's code
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            sender.join()
        except KeyboardInterrupt:
            raised.append(KeyboardInterrupt)
    assert raised == [KeyboardInterrupt]


def test_a_guest_ending_on_another_thread_leaves_the_main_threads_ctrl_c_alone() -> None:
    """The signal watcher knows which guest runs on the main thread (for a Ctrl-C that lands
    where it cannot be raised); a guest on another thread, started before it and ending
    while it runs, must not make it forget."""
    other_wasi, other, other_said = control("sleep", None)
    other_thread, other_outcome = in_the_background(other_wasi, other)
    wait_until_running(other_thread, "sleep", other_said)
    wasi, instance, said = control("clock", None)

    def end_the_other() -> None:
        wait_until_running(threading.main_thread(), "clock", said)
        other.interrupt()
        other_thread.join(JOIN_SECONDS)

    ctrl_c_stops(wasi, instance, end_the_other)
    assert [type(error) for error in other_outcome] == [GuestInterrupted]


@pytest.mark.parametrize("guest", GUESTS)
def test_a_timeout_stops_every_guest(guest: str) -> None:
    """Its own expiry, pure spin included: a timeout is what asks for epoch checks."""
    from pywasi.engine.engines import default_engine

    wasi, instance, _said = control(guest, Limits(timeout=0.2))
    assert instance.store.engine is not default_engine()
    thread, outcome = in_the_background(wasi, instance)
    thread.join(JOIN_SECONDS)
    assert [type(error) for error in outcome] == [GuestTimeout]


SPIN_AND_STOP = Path(__file__).parent / "scripts" / "spin_and_stop.py"
STOP_WAIT = 2.0  # seconds a stopped guest has to end; one that does stops within milliseconds


@pytest.mark.parametrize("stop", ["interrupt", "ctrl-c"])
@pytest.mark.parametrize("mode", MODES)
def test_a_pure_spin_runs_on_after_a_stop_only_without_epoch_checks(mode: str,
                                                                    stop: str) -> None:
    """In a process of its own, killed at the end: a guest that runs on must not spin in
    pytest's. With epoch checks the same stop ends the same guest within the same wait."""
    process = subprocess.Popen(
        [sys.executable, str(SPIN_AND_STOP), mode, stop, str(build_c("control"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        assert select.select([process.stdout], [], [], 30)[0], "the guest never started"
        assert process.stdout.readline() == "spinning\n"
        if stop == "ctrl-c":
            process.send_signal(signal.SIGINT)
        else:
            process.stdin.write("stop\n")
            process.stdin.flush()
        try:
            said, _ = process.communicate(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            said = None  # still running
    finally:
        process.kill()
        process.wait()
    if mode in EPOCH_MODES:
        expected = "KeyboardInterrupt" if stop == "ctrl-c" else "GuestInterrupted"
        assert said == f"stopped: {expected}\n"
    else:
        assert said is None, "the guest stopped, though the README says it runs on"


CLI_MODES = {"default": [], "interruptible": ["-W", "epoch-interruption"],
             "timeout": ["-W", "timeout=1h"]}
WATCHED_CLI = Path(__file__).parent / "scripts" / "watched_cli.py"


@pytest.mark.parametrize("guest", GUESTS)
@pytest.mark.parametrize("mode", CLI_MODES)
def test_ctrl_c_ends_pywasi_run_in_every_mode(mode: str, guest: str, tmp_path: Path) -> None:
    """Without epoch checks the process ends from the signal watcher's thread (pure spin
    too); with them the guest is stopped from within. Exit status 130, one line. The pure
    spin is one with no system call at all, so that once in ``call_unchecked`` it is in wasm."""
    module = build_c("control")
    if guest == "compute":
        module = tmp_path / "spin.wat"
        module.write_bytes(SPIN_FOR_EVER)
    there_read, there_write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, str(WATCHED_CLI), str(there_write), GUESTS[guest] or "call_unchecked",
         "run", *CLI_MODES[mode], str(module), guest],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        pass_fds=[there_write])
    os.close(there_write)
    assert process.stderr is not None and process.stdin is not None
    try:
        assert select.select([there_read], [], [], 30)[0], "the guest never got there"
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=JOIN_SECONDS)
    finally:
        os.close(there_read)
        process.kill()  # a guest that did not stop must not spin on after the test
        process.wait()
    stderr = process.stderr.read().decode()
    process.stdin.close()
    assert status == 130, stderr
    assert stderr.count("\n") == 1 and "interrupted" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("guest", GUESTS)
def test_a_timeout_ends_pywasi_run(guest: str) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "pywasi", "run", "-W", "timeout=200ms", str(build_c("control")),
         guest], stdin=_QUIET_STDIN[0], capture_output=True, text=True, timeout=60)
    assert process.returncode == 124, process.stderr
    assert "timeout" in process.stderr and process.stderr.count("\n") == 1


def test_the_default_compiles_no_epoch_checks() -> None:
    from pywasi.engine.cache import settings_of
    from pywasi.engine.engines import default_engine, engine_for

    assert (settings_of(default_engine()) or {})["epoch_interruption"] is False
    assert engine_for(Limits(interruptible=False)) is default_engine()
    assert (settings_of(engine_for(Limits(interruptible=True))) or {})["epoch_interruption"]
    with pytest.raises(pywasi.InvalidArgValueError, match="True, False or None"):
        Limits(interruptible=1)


SPIN_FOR_EVER = b"""(module (memory (export "memory") 1)
  (func (export "_start") (loop $again (br $again))))"""


def test_an_embedders_own_epoch_deadline_still_ends_the_guest() -> None:
    """Issue 16.3: pywasi leaves the deadline of a store of the embedder's alone."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    store.set_epoch_deadline(10)
    done = threading.Event()

    def tick() -> None:
        while not done.wait(0.01):
            engine.increment_epoch()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        wasi = WASI(version="preview1")
        instance = instantiate(wasi, wasmtime.Module(engine, SPIN_FOR_EVER), store=store)
        with pytest.raises(GuestTrap) as caught:
            wasi.start(instance)
    finally:
        done.set()
        ticker.join()
    assert caught.value.trap_code == "INTERRUPT"
