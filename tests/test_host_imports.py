"""An embedder's own imports beside WASI: every core type in and out on both host-call paths,
host functions reaching the caller's memory, their exceptions coming out as themselves, and
pywasi's WASI in a user's own wasmtime Linker."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import pywasi
from pywasi import HostFunc, ModuleLoadError

TYPED = b"""(module
  (import "env" "mix" (func $mix (param i32 i64 f32 f64) (result f64)))
  (import "env" "i32" (func $i32 (param i32) (result i32)))
  (import "env" "i64" (func $i64 (param i64) (result i64)))
  (import "env" "f32" (func $f32 (param f32) (result f32)))
  (import "env" "none" (func $none (param i32)))
  (memory (export "memory") 1)
  (func (export "mix") (param i32 i64 f32 f64) (result f64)
    (call $mix (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "i32") (param i32) (result i32) (call $i32 (local.get 0)))
  (func (export "i64") (param i64) (result i64) (call $i64 (local.get 0)))
  (func (export "f32") (param f32) (result f32) (call $f32 (local.get 0)))
  (func (export "none") (param i32) (call $none (local.get 0))))"""

MEMORY_USER = b"""(module
  (import "env" "shout" (func $shout (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "quiet")
  (func (export "run") (result i32) (call $shout (i32.const 32) (i32.const 5))))"""

RAISER = b"""(module
  (import "env" "fail" (func $fail))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $fail))
  (func (export "again") (drop (call $yield))))"""


class PluginError(Exception):
    pass


def wasi() -> pywasi.WASI:
    return pywasi.WASI(version="preview1")


def test_every_core_type_goes_in_and_out() -> None:
    seen: list[Any] = []

    def mix(a: int, b: int, c: float, d: float) -> float:
        seen.append((a, b, c, d))
        return a + b + c + d

    def i32(value: int) -> int:
        seen.append(value)
        return value & 0xFFFFFFFF  # the unsigned reading of a negative result

    imports: pywasi.Imports = {"env": {
        "mix": mix,
        "i32": i32,
        "i64": lambda value: value * 2,
        "f32": lambda value: value / 2,
        "none": seen.append,
    }}
    instance = pywasi.instantiate(wasi(), TYPED, imports=imports)
    assert instance.call("mix", -1, -(2**40), 1.5, 0.25) == -1 - 2**40 + 1.75
    assert seen == [(-1, -(2**40), 1.5, 0.25)]  # i32 and i64 signed, floats as floats
    # The host sees an i32 signed, and may answer with either reading (2**32 - 5 is -5).
    assert instance.call("i32", 2**32 - 5) == -5 and seen[-1] == -5
    assert instance.call("i64", -(2**40)) == -(2**41)
    assert instance.call("f32", 3.0) == 1.5
    assert instance.call("none", 7) is None and seen[-1] == 7


def test_a_result_that_fits_no_reading_of_its_type_traps() -> None:
    instance = pywasi.instantiate(wasi(), TYPED, imports={"env": {
        "mix": lambda *args: 0.0, "i32": lambda value: 2**32, "i64": lambda value: 0,
        "f32": lambda value: "x", "none": lambda value: None}})
    with pytest.raises(OverflowError, match="i32"):
        instance.call("i32", 1)
    with pytest.raises((TypeError, ValueError)):
        instance.call("f32", 1.0)


def test_a_host_function_reads_and_writes_the_callers_memory() -> None:
    def shout(memory: pywasi.Memory, ptr: int, length: int) -> int:
        memory.write_str(ptr, memory.read_str(ptr, length).upper())
        return memory.size

    instance = pywasi.instantiate(wasi(), MEMORY_USER,
                                  imports={"env": {"shout": HostFunc(shout, memory=True)}})
    assert instance.call("run") == 65536
    assert instance.memory.read(32, 5) == b"QUIET"
    with pytest.raises(IndexError, match="out of bounds"):
        instance.memory.read(65530, 10)


def test_a_host_function_exception_comes_out_of_start_and_call_as_itself() -> None:
    error = PluginError("from the host")

    def fail() -> None:
        raise error

    guest = wasi()
    instance = pywasi.instantiate(guest, RAISER, imports={"env": {"fail": fail}})
    with pytest.raises(PluginError) as info:
        guest.start(instance)
    assert info.value is error
    assert any(frame.name == "fail" for frame in info.traceback)  # its own traceback kept


def test_declared_types_are_checked_against_the_module() -> None:
    with pytest.raises(ModuleLoadError, match=r"env.shout: the module imports it as "
                                              r"\(i32, i32\) -> i32, but it is declared \(f64\)"):
        pywasi.instantiate(wasi(), MEMORY_USER, imports={"env": {
            "shout": HostFunc(abs, params=("f64",), results=("i32",))}})


def test_an_unknown_import_is_named_with_what_to_pass() -> None:
    with pytest.raises(ModuleLoadError) as info:
        pywasi.instantiate(wasi(), MEMORY_USER)
    message = str(info.value)
    assert "env.shout (a function (i32, i32) -> i32): not defined" in message
    assert "imports={'env': {'shout': your_function}}" in message
    assert "pywasi provides 'wasi_snapshot_preview1' (WASI preview1" in message


def test_an_import_of_another_wasi_version_points_at_wasi_version() -> None:
    module = b"""(module (import "wasi_unstable" "sched_yield" (func (result i32)))
                 (memory (export "memory") 1))"""
    with pytest.raises(ModuleLoadError, match=r"another version than 'preview1'.*wasi_version"):
        pywasi.instantiate(wasi(), module)
    assert pywasi.wasi_version(pywasi.load_module(module)) == "unstable"
    assert pywasi.wasi_version(pywasi.load_module(TYPED)) == "preview1"


HELLO = b"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 3))))"""


def on_user_linker(out: io.BytesIO) -> tuple[pywasi.WASI, wasmtime.Store, pywasi.WasiLink,
                                             wasmtime.Instance]:
    """HELLO as a wasmtime-py user runs it, but with pywasi's WASI."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    guest = pywasi.WASI(version="preview1", stdout=out)
    link = guest.define(linker, store)  # the one line, for define_wasi() and set_wasi()
    return guest, store, link, linker.instantiate(store, wasmtime.Module(engine, HELLO))


def test_a_user_on_wasmtime_linker_switches_with_one_call() -> None:
    out = io.BytesIO()
    _, store, link, instance = on_user_linker(out)
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    with pytest.raises((wasmtime.Trap, wasmtime.WasmtimeError)) as info:
        start(store)
    assert out.getvalue() == b"hi\n"
    assert isinstance(info.value, (wasmtime.Trap, wasmtime.WasmtimeError))
    failure = link.failure(info.value)
    assert isinstance(failure, pywasi.ProcExit) and failure.exit_code == 3


def test_a_user_linker_instance_runs_under_wasi_start() -> None:
    out = io.BytesIO()
    guest, _, link, instance = on_user_linker(out)
    assert guest.start(link.instance(instance)) == 3
    assert out.getvalue() == b"hi\n"

REENTRANT = b"""(module
  (import "env" "back" (func $back (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "down") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 100))
      (else (i32.add (call $back (i32.sub (local.get 0) (i32.const 1))) (i32.const 1)))))
  (func (export "trap") unreachable))"""


def test_exports_are_called_on_the_raw_path_reentrantly(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("wasmtime.Func.__call__ used: 15 us a call")

    holder: list[pywasi.WasmtimeInstance] = []
    instance = pywasi.instantiate(wasi(), REENTRANT, imports={"env": {
        "back": lambda depth: holder[0].call("down", depth)}})
    holder.append(instance)
    monkeypatch.setattr(wasmtime.Func, "__call__", refuse)
    assert instance.call("down", 5) == 105  # guest -> host -> guest, five deep
    with pytest.raises(pywasi.GuestTrap, match="unreachable"):
        instance.call("trap")
    assert instance.call("down", 0) == 100  # a trap leaves nothing behind
    holder.clear()  # the cycle through the host function, broken now rather than at exit


def test_a_host_function_with_more_parameters_than_the_trampoline_takes() -> None:
    params = " ".join(["i32"] * 17)
    gets = " ".join(f"(local.get {index})" for index in range(17))
    module = f"""(module (import "env" "sum" (func $sum (param {params}) (result i32)))
      (memory (export "memory") 1)
      (func (export "sum") (param {params}) (result i32) (call $sum {gets})))""".encode()
    instance = pywasi.instantiate(wasi(), module, imports={"env": {"sum": lambda *v: sum(v)}})
    assert instance.call("sum", *range(17)) == sum(range(17))


def test_several_calls_inside_one_calling_block() -> None:
    instance = pywasi.instantiate(wasi(), REENTRANT, imports={"env": {"back": lambda d: d}})
    with instance.calling():
        assert [instance.call_within("down", depth) for depth in (0, 1, 2)] == [100, 1, 2]
    with pytest.raises(pywasi.GuestTrap, match="unreachable"), instance.calling():
        instance.call_within("trap")
    instance.close()
    with pytest.raises(pywasi.InstanceClosedError), instance.calling():
        pass


def test_a_user_linker_gets_the_trace_and_the_recording(tmp_path: Path) -> None:
    """`wasi.define` links the system calls with the layers `instantiate` would: a run on
    the embedder's own engine and linker is traced and recorded, and replays."""
    log, trace = tmp_path / "run.wasmrec", io.StringIO()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    out = io.BytesIO()
    guest = pywasi.WASI(version="preview1", stdout=out, record=log, trace=trace)
    link = guest.define(linker, store)
    instance = linker.instantiate(store, wasmtime.Module(engine, HELLO))
    assert guest.start(link.instance(instance)) == 3
    assert out.getvalue() == b"hi\n"
    assert "fd_write" in trace.getvalue() and "proc_exit" in trace.getvalue()
    assert "fd_write" in log.read_text()
    replayed = io.BytesIO()
    again = pywasi.WASI(version="preview1", stdout=replayed, replay=log)
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    link = again.define(linker, store)
    instance = linker.instantiate(store, wasmtime.Module(engine, HELLO))
    assert again.start(link.instance(instance)) == 3
    assert replayed.getvalue() == b"hi\n"
