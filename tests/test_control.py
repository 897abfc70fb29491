"""In control of a running guest from Python: Ctrl-C, `interrupt()`, limits, and tracing."""

from __future__ import annotations

import gc
import io
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import wasmtime

import pywasi
from background import JOIN_SECONDS, in_background, later
from guest import build_c
from pywasi import (
    WASI,
    GuestInterrupted,
    GuestTimeout,
    GuestTrap,
    Limits,
    OutOfFuel,
    ResourceLimit,
    StackExhausted,
    TraceEvent,
    instantiate,
    trace,
)
from pywasi.engine.engines import default_engine
from pywasi.engine.wasmtime_engine import load_module

# How soon a stopped guest is back in Python is load-dependent: bench/stop_latency.py measures
# it. These tests assert what stops it: each guest here would otherwise run for ever (or for
# 1000 s), so ending at all, with the right exception, is the stop's doing.


def control() -> Path:
    return build_c("control")


@contextmanager
def guest_stdio() -> Iterator[tuple[int, int, int]]:
    """(stdin, stdout, stderr) for a guest: a pipe nobody writes to, and two temp files."""
    read_end, write_end = os.pipe()
    out, err = os.open(os.devnull, os.O_WRONLY), os.open(os.devnull, os.O_WRONLY)
    try:
        yield read_end, out, err
    finally:
        for fd in (read_end, write_end, out, err):
            os.close(fd)


_QUIET_STDIN = os.pipe()  # a stdin nobody ever writes to: a guest reading it blocks


def make(mode: str, *args: str, **options: object) -> tuple[WASI, pywasi.WasmtimeInstance]:
    wasi = WASI(version="preview1", args=["control", mode, *args], stdin=_QUIET_STDIN[0],
                stdout=os.open(os.devnull, os.O_WRONLY), **options)  # type: ignore[arg-type]
    return wasi, instantiate(wasi, control())


@contextmanager
def running_in_a_thread(wasi: WASI, instance: pywasi.WasmtimeInstance
                        ) -> Iterator[tuple[threading.Thread, list[GuestTrap]]]:
    """Within: the thread running the guest, and the list that gets the trap it ends with.
    A guest still running at the end (its test failed) is interrupted, so it ends too."""
    outcome: list[GuestTrap] = []

    def run() -> None:
        try:
            wasi.start(instance)
        except GuestTrap as error:
            outcome.append(error)

    thread = in_background(run)
    try:
        yield thread, outcome
    finally:
        if thread.is_alive():
            instance.interrupt()
        thread.join(JOIN_SECONDS)


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("mode", ["compute", "stdin", "sleep"])
def test_ctrl_c_raises_keyboard_interrupt(mode: str) -> None:
    with guest_stdio() as (stdin, stdout, stderr):
        wasi = WASI(version="preview1", args=["control", mode], stdin=stdin, stdout=stdout,
                    stderr=stderr, limits=Limits(interruptible=True))
        instance = instantiate(wasi, control())
        later(0.3, ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            wasi.start(instance)
    del instance  # the store is safe to drop, and the engine runs the next guest as usual
    gc.collect()
    wasi, instance = make("random", "4")
    assert wasi.start(instance) == 0


def test_ctrl_c_handler_that_does_not_raise_lets_the_guest_go_on() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        wasi, instance = make("compute", limits=Limits(timeout=0.6))
        later(0.2, ctrl_c)
        with pytest.raises(GuestTimeout):
            wasi.start(instance)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.SIGINT]


@pytest.mark.parametrize("mode", ["compute", "sleep", "stdin"])
def test_interrupt_from_another_thread(mode: str) -> None:
    wasi, instance = make(mode, limits=Limits(interruptible=True))
    later(0.2, instance.interrupt)
    with pytest.raises(GuestInterrupted) as caught:
        wasi.start(instance)
    assert caught.value.trap_code == "INTERRUPT"


def test_interrupt_stops_only_its_own_guest() -> None:
    """Both guests share one engine (and its epoch); the other one carries on."""
    wasi, instance = make("compute", limits=Limits(interruptible=True))
    with running_in_a_thread(*make("compute", limits=Limits(timeout=0.8))) as (thread, outcome):
        later(0.2, instance.interrupt)
        with pytest.raises(GuestInterrupted):
            wasi.start(instance)
        thread.join(JOIN_SECONDS)
    assert [type(error) for error in outcome] == [GuestTimeout]


@pytest.mark.parametrize("mode", ["compute", "sleep", "stdin"])
def test_timeout(mode: str) -> None:
    wasi, instance = make(mode, limits=Limits(timeout=0.3))
    started = time.monotonic()
    with pytest.raises(GuestTimeout) as caught:
        wasi.start(instance)
    assert time.monotonic() - started >= 0.3  # never before its time
    assert caught.value.trap_code == "INTERRUPT"
    assert caught.value.exit_status == 124


def test_fuel() -> None:
    wasi, instance = make("compute", limits=Limits(fuel=1_000_000))
    with pytest.raises(OutOfFuel) as caught:
        wasi.start(instance)
    assert caught.value.trap_code == "OUT_OF_FUEL"
    assert "fuel" in str(caught.value) and caught.value.exit_status == 125


def test_enough_fuel_runs_to_the_end() -> None:
    wasi, instance = make("random", "8", limits=Limits(fuel=10_000_000))
    assert wasi.start(instance) == 0


def test_max_wasm_stack() -> None:
    wasi, instance = make("recurse", limits=Limits(max_wasm_stack=64 * 1024))
    with pytest.raises(StackExhausted) as caught:
        wasi.start(instance)
    assert caught.value.trap_code == "STACK_OVERFLOW"
    assert "max-wasm-stack" in str(caught.value) and caught.value.exit_status == 123


def test_max_memory_size_makes_memory_grow_fail(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with out.open("wb") as stream:
        wasi = WASI(version="preview1", args=["control", "grow"], stdout=stream.fileno(),
                    limits=Limits(max_memory_size=40 << 20))
        assert wasi.start(instantiate(wasi, control())) == 3
    assert out.read_text() == "memory.grow failed at 40 MiB\n"


def test_memory_larger_than_max_memory_size_at_start() -> None:
    wasi = WASI(version="preview1", limits=Limits(max_memory_size=1 << 20))
    with pytest.raises(ResourceLimit) as caught:
        instantiate(wasi, b'(module (memory (export "memory") 17) (func (export "_start")))')
    assert caught.value.exit_status == 122


def test_max_resources_is_emfile_for_the_guest(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    out = tmp_path / "out"
    with out.open("wb") as stream:
        wasi = WASI(version="preview1", args=["control", "open", "/d/f"],
                    stdout=stream.fileno(), preopens={"/d": str(tmp_path)},
                    limits=Limits(max_resources=10))
        assert wasi.start(instantiate(wasi, control())) == 0
    # stdin, stdout, stderr and the preopen leave 6 of the 10.
    assert out.read_text() == "opened 6, then EMFILE\n"
    with open(tmp_path / "f") as again:  # the host itself is not short of descriptors
        assert again.read() == "x"


def test_max_open_files_keyword_caps_descriptors(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    out = tmp_path / "out"
    with out.open("wb") as stream:
        wasi = WASI(version="preview1", args=["control", "open", "/d/f"],
                    stdout=stream.fileno(), preopens={"/d": str(tmp_path)}, max_open_files=5)
        assert wasi.start(instantiate(wasi, control())) == 0
    assert out.read_text() == "opened 1, then EMFILE\n"


def test_max_random_size() -> None:
    wasi, instance = make("random", "1025", limits=Limits(max_random_size=1024))
    with pytest.raises(ResourceLimit) as caught:
        wasi.start(instance)
    assert "max-random-size" in str(caught.value)
    wasi, instance = make("random", "1024", limits=Limits(max_random_size=1024))
    assert wasi.start(instance) == 0


def test_every_trap_keeps_its_trap_code() -> None:
    wasi = WASI(version="preview1")
    instance = instantiate(wasi, b'(module (memory (export "memory") 1) '
                                 b'(func (export "_start") unreachable))')
    with pytest.raises(GuestTrap) as caught:
        wasi.start(instance)
    assert type(caught.value) is GuestTrap and caught.value.trap_code == "UNREACHABLE"


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="fuel"):
        Limits(fuel=-1)


def test_fuel_engine_modules_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYWASI_CACHE_DIR", str(tmp_path))
    load_module(control(), limits=Limits(fuel=1))
    load_module(control())
    assert len(list(tmp_path.glob("*.cwasm"))) == 2  # one per engine variant
    wasi = WASI(version="preview1", args=["control", "random", "4"], limits=Limits(fuel=10**7))
    assert wasi.start(instantiate(wasi, load_module(control(), limits=Limits(fuel=1)))) == 0


def test_a_store_of_our_own_on_pywasis_engine_runs() -> None:
    """The engine interrupts by epoch: a store pywasi did not make needs its deadline set."""
    wasi = WASI(version="preview1", args=["control", "random", "4"])
    store = wasmtime.Store(default_engine())
    assert wasi.start(instantiate(wasi, control(), store=store)) == 0


def run_traced(trace: object, *args: str, preopens: dict[str, str] | None = None) -> None:
    wasi = WASI(version="preview1", args=["control", *args], preopens=preopens or {},
                stdout=os.open(os.devnull, os.O_WRONLY), trace=trace)  # type: ignore[arg-type]
    wasi.start(instantiate(wasi, control()))


def test_trace_events_decode_paths_flags_and_errnos(tmp_path: Path) -> None:
    events: list[TraceEvent] = []
    run_traced(events.append, "open", "/d/missing", preopens={"/d": str(tmp_path)})
    opened = [event for event in events if event.name == "path_open"]
    assert len(opened) == 1
    args = dict(opened[0].args)
    assert (args["fd"], args["path"], args["dirflags"], args["oflags"]) == \
        (3, "missing", "SYMLINK_FOLLOW", "0")
    assert opened[0].errno == 44 and "= ENOENT" in opened[0].text()
    written = [event for event in events if event.name == "fd_write"]
    assert dict(written[0].args)["data"] == "opened 0, then No such file or directory\n"
    assert dict(written[0].results)["nwritten"] == 41


def test_trace_to_a_stream_is_one_line_per_call() -> None:
    stream = io.StringIO()
    run_traced(stream, "exit")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("fd_prestat_get(3, 0x")  # libc looks for preopens: none
    assert lines[0].split(" <")[0].endswith(") = EBADF (Bad file descriptor)")
    assert lines[1].startswith("args_sizes_get() = 0 argc=2 argv_buf_size=")
    assert lines[-1].startswith("proc_exit(2) = ? (ProcExit) <")
    assert all(line.endswith(" ms>") for line in lines)


def test_trace_json() -> None:
    lines: list[str] = []
    run_traced(lambda event: lines.append(event.json()), "random", "4")
    record = json.loads(lines[-1])
    assert (record["call"], record["args"], record["errno"], record["raised"]) == \
        ("random_get", {"buf": "<4 bytes>"}, 0, None)  # the number; its name beside it
    assert record["errno_name"] is None  # for 0
    assert record["seconds"] > 0


# A guest file name that ends its trace line, forges one of its own, then sets the terminal's
# title, clears it, rings the bell, starts a C1 escape and reverses the text after it.
FORGING_NAME = ('x", 0) = 0 <0.001 ms>\nproc_exit(0) = ? (ProcExit) <0.001 ms>\r'
                '\x1b]0;owned\x07\x1b[2J\x7f\u009b31m\u202eevil\\x1b')


def test_a_guest_path_cannot_forge_or_restyle_a_trace_line(tmp_path: Path) -> None:
    """Text and JSON: one line per call, nothing a terminal acts on, and the path there in
    full (JSON gives it back exactly)."""
    events: list[TraceEvent] = []
    run_traced(events.append, "open", f"/d/{FORGING_NAME}", preopens={"/d": str(tmp_path)})
    (opened,) = [event for event in events if event.name == "path_open"]
    assert dict(opened.args)["path"] == FORGING_NAME
    for format in ("text", "json"):
        stream = io.StringIO()
        run_traced(trace.trace_writer(stream, format), "open", f"/d/{FORGING_NAME}",
                   preopens={"/d": str(tmp_path)})
        lines = stream.getvalue().split("\n")
        assert lines.pop() == ""
        assert [line.partition("(")[0] if format == "text" else json.loads(line)["call"]
                for line in lines] == [event.name for event in events]
        assert all(line.isprintable() for line in lines), format
        (shown,) = [line for line in lines if "path_open" in line]
        if format == "json":
            assert json.loads(shown)["args"]["path"] == FORGING_NAME
        else:
            # One string literal, from the quote before the name to the one after it.
            literal = re.search(r'SYMLINK_FOLLOW, ("(?:[^"\\]|\\.)*"), 0, ', shown)
            assert literal is not None and literal.group(1).endswith(r'evil\\x1b"'), shown
            assert "\\\\x1b" in shown and "\\u001b]0;owned" in shown and "\\x9b31m" in shown


def test_no_trace_links_the_system_calls_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("tracing code ran with tracing off")

    monkeypatch.setattr(trace, "traced_imports", refuse)
    wasi, instance = make("random", "4")
    assert wasi.start(instance) == 0


@pytest.mark.parametrize("mode", ["sleep", "stdin"])
def test_interrupt_ends_a_blocking_wait_on_a_worker_thread(mode: str) -> None:
    """poll_oneoff, and a blocking read of stdin, where no signal can reach: the stop signal."""
    wasi, instance = make(mode)
    with running_in_a_thread(wasi, instance) as (thread, outcome):
        time.sleep(0.2)
        instance.interrupt()
        thread.join(JOIN_SECONDS)
    assert [type(error) for error in outcome] == [GuestInterrupted]


@pytest.mark.parametrize("mode", ["stdin", "accept", "recv"])
def test_a_timeout_ends_a_blocking_call_on_a_worker_thread(mode: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        wasi, instance = make(mode, sockets=[listener], limits=Limits(timeout=0.3))
        client = socket.create_connection(listener.getsockname()) if mode == "recv" else None
        started = time.monotonic()
        with running_in_a_thread(wasi, instance) as (thread, outcome):
            thread.join(JOIN_SECONDS)
        assert time.monotonic() - started >= 0.3  # never before its time
        assert [type(error) for error in outcome] == [GuestTimeout]
        if client is not None:
            client.close()


@pytest.mark.parametrize("mode", ["accept", "recv"])
def test_ctrl_c_and_interrupt_end_blocking_socket_calls(mode: str) -> None:
    for stop, expected in ((ctrl_c, KeyboardInterrupt), (None, GuestInterrupted)):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            wasi, instance = make(mode, sockets=[listener])
            client = socket.create_connection(listener.getsockname()) if mode == "recv" \
                else None
            later(0.3, stop or instance.interrupt)
            with pytest.raises(expected):
                wasi.start(instance)
            if client is not None:
                client.close()


def test_an_uninterruptible_guest_is_compiled_without_epoch_checks() -> None:
    """`Limits(interruptible=False)`: no epoch checks (the default engine's, and the CLI's
    without a timeout); the guest still runs, and a timeout is refused."""
    from pywasi.engine.engines import engine_for

    assert engine_for(Limits(interruptible=False)) is default_engine()
    wasi, instance = make("random", "4", limits=Limits(interruptible=False))
    assert wasi.start(instance) == 0
    with pytest.raises(pywasi.InvalidArgValueError, match="needs interruptible=True"):
        Limits(timeout=1.0, interruptible=False)
