"""The engine room's seams (issue 17 item 4): guest-call hooks entered once per call, the one
import-wrapping point of the call path's layers, and instantiation failures told apart by what
wasmtime reports rather than by loose words of its messages."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import wasmtime

import pywasi
from pywasi import WASI, Limits, ModuleLoadError, ResourceLimit
from pywasi.engine import ffi
from pywasi.engine.traps import instantiation_failure

MEMORY = '(memory (export "memory") 1)'
YIELD = '(import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))'


def module(*parts: str) -> bytes:
    return ("(module " + " ".join(parts) + ")").encode()


class CountingWASI(WASI):
    """A WASI object that counts its hook calls."""

    def __init__(self, **options: Any) -> None:
        super().__init__(version="preview1", **options)
        self.hooks: list[str] = []

    def before_guest_call(self) -> None:
        self.hooks.append("before")
        super().before_guest_call()

    def after_guest_call(self) -> None:
        self.hooks.append("after")
        super().after_guest_call()


def test_start_enters_the_hooks_once() -> None:
    """`WASI.start` and the instance's call both enter them: the outer entry alone runs them."""
    wasi = CountingWASI()
    instance = pywasi.instantiate(wasi, module(YIELD, MEMORY,
                                               '(func (export "_start") (drop (call $y)))'))
    assert wasi.start(instance) == 0
    assert wasi.hooks == ["before", "after"]


def test_each_export_call_enters_the_hooks_once() -> None:
    wasi = CountingWASI()
    instance = pywasi.instantiate(wasi, module(YIELD, MEMORY,
                                               '(func (export "f") (drop (call $y)))'))
    wasi.initialize(instance)
    wasi.hooks.clear()
    instance.call("f")
    instance.call("f")
    assert wasi.hooks == ["before", "after", "before", "after"]


def test_a_reactor_initialize_enters_the_hooks_once() -> None:
    wasi = CountingWASI()
    instance = pywasi.instantiate(wasi, module(YIELD, MEMORY,
                                               '(func (export "_initialize") (drop (call $y)))'))
    wasi.initialize(instance)
    assert wasi.hooks == ["before", "after"]


def test_the_layers_wrap_through_the_one_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trace, fuel and a reproducible run all wrap the system calls through
    `syscalls.wrap_system_calls`, chosen in `call_path.layered_imports`, in that order."""
    from pywasi import syscalls
    from pywasi.syscalls import registry

    seen: list[str] = []
    original = registry.wrap_system_calls

    def counted(import_object: Any, signatures: Any, wrap: Callable[..., Any]) -> Any:
        seen.append(getattr(wrap, "__qualname__", repr(wrap)))
        return original(import_object, signatures, wrap)

    for owner in ("pywasi.trace", "pywasi.fuel", "pywasi.reproducible"):
        monkeypatch.setattr(f"{owner}.wrap_system_calls", counted)
    assert syscalls.wrap_system_calls is original
    trace = io.StringIO()
    wasi = WASI(version="preview1", trace=trace, limits=Limits(fuel=10**9),
                deterministic=pywasi.Determinism())
    instance = pywasi.instantiate(wasi, module(YIELD, MEMORY,
                                               '(func (export "_start") (drop (call $y)))'))
    assert wasi.start(instance) == 0
    assert len(seen) == 3, seen
    assert "Deterministic.wrap" in seen[0] and "traced_imports" in seen[1] \
        and "fueled_imports" in seen[2]
    assert "sched_yield" in trace.getvalue()


def test_the_default_call_path_is_unwrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    wasi = WASI(version="preview1")
    layered = wasi.layered_imports(None)
    assert layered["wasi_snapshot_preview1"]["fd_write"] is wasi.wasi_import["fd_write"]


def _instantiation_error(wat: str, **limits: int) -> wasmtime.WasmtimeError:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_limits(**limits)
    try:
        wasmtime.Linker(engine).instantiate(store, wasmtime.Module(engine, wat))
    except wasmtime.WasmtimeError as error:
        return error
    raise AssertionError("instantiated")


@pytest.mark.one_path
def test_a_limit_refusal_is_told_by_wasmtime_s_own_report() -> None:
    memory = _instantiation_error("(module (memory 2))", memory_size=65536)
    table = _instantiation_error("(module (table 100 funcref))", table_elements=10)
    assert ffi.limit_exceeded(memory) == "memory"
    assert ffi.limit_exceeded(table) == "table"
    assert isinstance(instantiation_failure(memory, Limits(max_memory_size=65536)),
                      ResourceLimit)
    assert isinstance(instantiation_failure(table, Limits()), ResourceLimit)


@pytest.mark.one_path
def test_other_failures_that_speak_of_memory_and_limits_are_no_limit() -> None:
    """The old test (``"memory" in message and "limit" in message``) took any such failure,
    e.g. an import's: it is the module's mistake, `ModuleLoadError`."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define(store, "env", "memory",
                  wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, 1))))
    module = wasmtime.Module(engine, '(module (import "env" "memory" (memory 2)))')
    with pytest.raises(wasmtime.WasmtimeError) as raised:
        linker.instantiate(store, module)
    error = raised.value
    assert "memory" in str(error) and "limit" in str(error)  # what the old test matched
    assert ffi.limit_exceeded(error) is None
    failure = instantiation_failure(error, Limits(max_memory_size=1 << 20))
    assert isinstance(failure, ModuleLoadError) and not isinstance(failure, ResourceLimit)


def test_a_host_function_s_call_back_into_the_guest_is_a_call_of_its_own() -> None:
    """It enters the hooks again (the host's Python output it wrote before calling is flushed
    first), unlike `start()`'s hand-over to the instance's call."""
    wasi = CountingWASI()
    bound: list[pywasi.WasmtimeInstance] = []

    def call_back() -> None:
        bound[0].call("g")

    instance = pywasi.instantiate(
        wasi, module('(import "env" "back" (func $back))', YIELD, MEMORY,
                     '(func (export "f") (call $back))',
                     '(func (export "g") (drop (call $y)))'),
        imports={"env": {"back": call_back}})
    bound.append(instance)
    wasi.initialize(instance)
    wasi.hooks.clear()
    instance.call("f")
    assert wasi.hooks == ["before", "before", "after", "after"]
