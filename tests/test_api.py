"""The WASI class: Node's option checks and lifecycle errors, in Node's order."""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import pywasi
from pywasi import (
    WASI,
    AlreadyStartedError,
    InvalidArgTypeError,
    InvalidArgValueError,
    NotStartedError,
    OutOfRangeError,
    PreopenError,
    ProcExit,
)
from pywasi.engine import ffi

MEMORY = '(memory (export "memory") 1)'
PROC_EXIT = '(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))'
EXIT_7 = '(func (export "_start") (call $exit (i32.const 7)))'


def module(*parts: str) -> bytes:
    return ("(module " + " ".join(parts) + ")").encode()


def instance_of(wasi: WASI, *parts: str) -> pywasi.WasmtimeInstance:
    return pywasi.instantiate(wasi, module(*parts))


def preview1(**options: Any) -> WASI:
    return WASI(version="preview1", **options)


# -- constructor options ------------------------------------------------------------------------

@pytest.mark.one_path
def test_version_is_required_and_a_string() -> None:
    with pytest.raises(TypeError, match="'version'"):  # the signature says it is required
        WASI()  # type: ignore[call-arg]
    with pytest.raises(InvalidArgTypeError, match='"version"') as info:
        WASI(version=None)  # type: ignore[arg-type]
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    assert isinstance(info.value, TypeError)
    with pytest.raises(InvalidArgTypeError):
        WASI(version=1)  # type: ignore[arg-type]


@pytest.mark.one_path
def test_unknown_version_is_a_value_error() -> None:
    with pytest.raises(InvalidArgValueError, match="unsupported WASI version") as info:
        WASI(version="preview2")
    assert info.value.code == "ERR_INVALID_ARG_VALUE"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name, value", [
    ("args", "not a list"), ("args", {"a": 1}), ("env", ["K=V"]), ("env", "K=V"),
    ("preopens", ["/a"]), ("return_on_exit", 1), ("return_on_exit", None),
    ("stdin", 0.5), ("stdout", 1.0), ("stderr", True),  # stdin="0" is input now
])
@pytest.mark.one_path
def test_wrong_option_types(name: str, value: object) -> None:
    with pytest.raises(InvalidArgTypeError, match=f'"{name}"') as info:
        preview1(**{name: value})
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


@pytest.mark.parametrize("name", ["stdin", "stdout", "stderr"])
@pytest.mark.parametrize("value", [-1, 2**31])
@pytest.mark.one_path
def test_stdio_fd_out_of_range(name: str, value: int) -> None:
    with pytest.raises(OutOfRangeError, match=f'"{name}" is out of range') as info:
        preview1(**{name: value})
    assert info.value.code == "ERR_OUT_OF_RANGE"
    assert isinstance(info.value, ValueError)


@pytest.mark.one_path
def test_checks_run_in_nodes_order() -> None:
    # version first, then args, env, preopens, stdio, return_on_exit; preopen dirs last.
    with pytest.raises(InvalidArgTypeError, match='"version"'):
        WASI(version=None, args="x", stdin=-1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgTypeError, match='"args"'):
        preview1(args="x", env="y", stdin=-1)
    with pytest.raises(InvalidArgTypeError, match='"env"'):
        preview1(env="y", preopens="z", stdin=-1)
    with pytest.raises(InvalidArgTypeError, match='"preopens"'):
        preview1(preopens="z", stdin=-1)
    with pytest.raises(OutOfRangeError, match='"stdin"'):
        preview1(stdin=-1, return_on_exit="no", preopens={"/a": "/nonexistent/dir"})
    with pytest.raises(InvalidArgTypeError, match='"return_on_exit"'):
        preview1(return_on_exit="no", preopens={"/a": "/nonexistent/dir"})


@pytest.mark.one_path
def test_missing_preopen_dir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PreopenError, match=str(missing)) as info:
        preview1(preopens={"/sandbox": str(missing)})
    assert info.value.code == "UVWASI_ENOENT"


@pytest.mark.one_path
def test_preopen_that_is_a_file_names_the_path(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(PreopenError, match="is not a directory") as info:
        preview1(preopens={"/sandbox": file})
    assert info.value.code == "UVWASI_ENOTDIR"


@pytest.mark.one_path
def test_failed_preopen_leaks_no_descriptor(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(PreopenError):
        preview1(preopens={"/ok": str(tmp_path), "/bad": str(tmp_path / "nope")})
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.one_path
def test_args_and_env_take_strings_and_paths_and_none_values_are_dropped() -> None:
    wasi = preview1(args=["a", b"b", Path("p")], env={"A": "1", "B": None, "C": "x"})
    assert wasi._context.args == [b"a", b"b", b"p"]
    assert wasi._context.env == [b"A=1", b"C=x"]


# -- imports --------------------------------------------------------------------------------------

@pytest.mark.one_path
def test_import_object_has_every_function_of_the_version() -> None:
    from pywasi.abi.signatures import PREVIEW1_SIGNATURES

    wasi = preview1()
    imports = wasi.get_import_object()
    assert list(imports) == ["wasi_snapshot_preview1"]
    assert set(imports["wasi_snapshot_preview1"]) == set(PREVIEW1_SIGNATURES)
    assert len(PREVIEW1_SIGNATURES) == 46
    assert imports["wasi_snapshot_preview1"] is wasi.wasi_import

    unstable = WASI(version="unstable").get_import_object()
    assert list(unstable) == ["wasi_unstable"]
    assert "sock_accept" not in unstable["wasi_unstable"]
    assert "fd_write" in unstable["wasi_unstable"]


@pytest.mark.one_path
def test_system_call_before_start_is_not_started() -> None:
    wasi = preview1()
    for name in ("sched_yield", "fd_write", "clock_time_get"):
        function = wasi.wasi_import[name]
        with pytest.raises(NotStartedError, match="has not been called") as info:
            function(*[0] * len(wasi.signatures[name].params))
        assert info.value.code == "ERR_WASI_NOT_STARTED"


@pytest.mark.one_path
def test_system_calls_are_callable_from_python_after_finalize() -> None:
    wasi = preview1()
    instance = instance_of(wasi, MEMORY)
    wasi.finalize_bindings(instance)
    assert wasi.wasi_import["clock_time_get"](1, 0, 8) == 0
    assert wasi.wasi_import["clock_time_get"](99, 0, 8) == 28  # EINVAL
    assert wasi.wasi_import["clock_time_get"](1, 0, 65536 - 7) == 21  # EFAULT
    memory = instance.guest_memory()
    assert memory is not None
    assert int.from_bytes(memory.read(8, 8), "little") > 0


# -- start / initialize / finalize_bindings -------------------------------------------------------

def test_start_returns_exit_code_of_proc_exit() -> None:
    wasi = preview1()
    assert wasi.start(instance_of(wasi, PROC_EXIT, MEMORY, EXIT_7)) == 7


def test_start_returns_zero_when_start_returns() -> None:
    wasi = preview1()
    assert wasi.start(instance_of(wasi, MEMORY, '(func (export "_start"))')) == 0


def test_return_on_exit_false_exits_the_python_process() -> None:
    wasi = preview1(return_on_exit=False)
    with pytest.raises(SystemExit) as info:
        wasi.start(instance_of(wasi, PROC_EXIT, MEMORY, EXIT_7))
    assert info.value.code == 7


def test_start_needs_start_function() -> None:
    wasi = preview1()
    with pytest.raises(InvalidArgTypeError, match='"instance.exports._start"'):
        wasi.start(instance_of(wasi, MEMORY))


def test_start_refuses_a_reactor() -> None:
    wasi = preview1()
    with pytest.raises(InvalidArgTypeError, match='"instance.exports._initialize"'):
        wasi.start(instance_of(wasi, MEMORY, '(func (export "_start"))',
                               '(func (export "_initialize"))'))


def test_initialize_refuses_a_command() -> None:
    wasi = preview1()
    with pytest.raises(InvalidArgTypeError, match='"instance.exports._start"'):
        wasi.initialize(instance_of(wasi, MEMORY, '(func (export "_start"))'))


def test_initialize_runs_initialize_once() -> None:
    wasi = preview1()
    instance = instance_of(
        wasi, MEMORY, '(global $g (export "g") (mut i32) (i32.const 0))',
        '(func (export "_initialize") (global.set $g (i32.add (global.get $g) (i32.const 1))))',
    )
    wasi.initialize(instance)
    counter = instance.exports["g"]
    assert isinstance(counter, wasmtime.Global)
    assert counter.value(instance.store) == 1


def test_initialize_without_initialize_export_is_fine() -> None:
    wasi = preview1()
    wasi.initialize(instance_of(wasi, MEMORY))


def test_proc_exit_in_initialize_raises_proc_exit() -> None:
    wasi = preview1()
    with pytest.raises(ProcExit) as info:
        wasi.initialize(instance_of(
            wasi, PROC_EXIT, MEMORY, '(func (export "_initialize") (call $exit (i32.const 3)))'))
    assert info.value.exit_code == 3


def test_no_exported_memory() -> None:
    wasi = preview1()
    with pytest.raises(InvalidArgTypeError, match='"instance.exports.memory"'):
        wasi.start(instance_of(wasi, '(func (export "_start"))'))


@pytest.mark.one_path
def test_memory_that_is_not_a_memory() -> None:
    wasi = preview1()
    with pytest.raises(InvalidArgTypeError, match="memory"):
        wasi.finalize_bindings(instance_of(wasi, MEMORY), memory="not a memory")


@pytest.mark.one_path
def test_finalize_bindings_with_explicit_memory() -> None:
    wasi = preview1()
    instance = instance_of(wasi, '(memory (export "mem") 1)')
    wasi.finalize_bindings(instance, memory=instance.exports["mem"])
    assert wasi.wasi_import["random_get"](0, 16) == 0


@pytest.mark.one_path
def test_instance_must_be_a_bound_instance() -> None:
    with pytest.raises(InvalidArgTypeError, match='"instance"'):
        preview1().start(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("first", ["start", "initialize", "finalize_bindings"])
@pytest.mark.parametrize("second", ["start", "initialize", "finalize_bindings"])
def test_second_start_initialize_or_finalize_is_already_started(first: str, second: str) -> None:
    wasi = preview1()
    body = '(func (export "_start"))' if first == "start" else ""
    getattr(wasi, first)(instance_of(wasi, MEMORY, body))
    with pytest.raises(AlreadyStartedError, match="already started") as info:
        getattr(wasi, second)(instance_of(wasi, MEMORY, body))
    assert info.value.code == "ERR_WASI_ALREADY_STARTED"
    assert isinstance(info.value, RuntimeError)


def test_already_started_is_checked_before_the_instance() -> None:
    wasi = preview1()
    wasi.finalize_bindings(instance_of(wasi, MEMORY))
    with pytest.raises(AlreadyStartedError):
        wasi.start(object())  # type: ignore[arg-type]


def test_trap_is_a_guest_trap_and_python_keeps_running() -> None:
    wasi = preview1()
    with pytest.raises(pywasi.GuestTrap, match="unreachable"):
        wasi.start(instance_of(wasi, MEMORY, '(func (export "_start") unreachable)'))


@pytest.mark.one_path
def test_unknown_import_is_a_clear_load_error() -> None:
    wasi = preview1()
    with pytest.raises(pywasi.ModuleLoadError, match="nope"):
        instance_of(wasi, '(import "wasi_snapshot_preview1" "nope" (func))', MEMORY)


def test_wrong_import_signature_is_a_clear_load_error() -> None:
    wasi = preview1()
    with pytest.raises(pywasi.ModuleLoadError, match="fd_write"):
        instance_of(wasi, '(import "wasi_snapshot_preview1" "fd_write" (func (param i32)))')


def test_a_replaced_import_that_returns_nonsense_traps_cleanly() -> None:
    wasi = preview1()
    wasi.wasi_import["sched_yield"] = lambda: None
    instance = instance_of(wasi, '(import "wasi_snapshot_preview1" "sched_yield" '
                           '(func $y (result i32)))', MEMORY,
                           '(func (export "_start") (drop (call $y)))')
    with pytest.raises(TypeError):  # reaches the caller; no crash, no hang
        wasi.start(instance)


def recorder(seen: list[tuple[int, ...]]) -> Callable[..., int]:
    """An import that notes its arguments and returns success."""

    def record(*args: int) -> int:
        seen.append(args)
        return 0

    return record


def test_replaced_imports_are_called_with_raw_arguments() -> None:
    wasi = preview1()
    seen: list[tuple[int, ...]] = []
    wasi.wasi_import["clock_time_get"] = recorder(seen)
    wasi.start(instance_of(
        wasi, '(import "wasi_snapshot_preview1" "clock_time_get" '
        '(func $c (param i32 i64 i32) (result i32)))', MEMORY,
        '(func (export "_start") (drop (call $c (i32.const 3) (i64.const -1) (i32.const 8))))'))
    assert seen == [(3, 2**64 - 1, 8)]


SEEK = ('(import "wasi_snapshot_preview1" "fd_seek" '
        '(func $seek (param i32 i64 i32 i32) (result i32)))')


def test_signed_and_unsigned_arguments_arrive_as_the_abi_says() -> None:
    """fd_seek's offset is a signed i64 (filedelta); other i64s, like precision, unsigned."""
    wasi = preview1()
    seen: list[tuple[int, ...]] = []
    wasi.wasi_import["fd_seek"] = recorder(seen)
    wasi.start(instance_of(
        wasi, SEEK, MEMORY,
        '(func (export "_start") (drop (call $seek (i32.const -1) (i64.const -5)'
        ' (i32.const 2) (i32.const 8))))'))
    assert seen == [(2**32 - 1, -5, 2, 8)]


@pytest.mark.parametrize(("returned", "stored"),
                         [(0, 0), (8, 8), (True, 1), (2**32 - 1, 2**32 - 1)])
def test_a_replaced_import_result_reaches_the_guest(returned: int, stored: int) -> None:
    wasi = preview1()
    wasi.wasi_import["fd_seek"] = lambda *args: returned
    instance = instance_of(
        wasi, SEEK, MEMORY,
        '(global $result (export "result") (mut i32) (i32.const 12345))'
        '(func (export "_start") (global.set $result (call $seek (i32.const 3) (i64.const 0)'
        ' (i32.const 0) (i32.const 8))))')
    wasi.start(instance)
    result = instance.exports["result"]
    assert isinstance(result, wasmtime.Global)
    assert result.value(instance.store) & 0xFFFFFFFF == stored


@pytest.mark.parametrize("returned", [2**32, -1])
def test_a_replaced_import_result_that_is_no_u32_traps(returned: int) -> None:
    wasi = preview1()
    wasi.wasi_import["fd_seek"] = lambda *args: returned
    instance = instance_of(
        wasi, SEEK, MEMORY,
        '(func (export "_start") (drop (call $seek (i32.const 3) (i64.const 0)'
        ' (i32.const 0) (i32.const 8))))')
    with pytest.raises((OverflowError, ValueError)):  # the C and Python paths word it apart
        wasi.start(instance)


def test_exports_work_after_the_instance_wrapper_is_gone() -> None:
    """wasmtime keeps host functions as long as a store uses them: calling an export kept
    past its WasmtimeInstance must not crash the host, and dropping the store frees them."""
    def held() -> tuple[int, int]:
        gc.collect()
        host_calls = [o for o in gc.get_objects() if type(o).__name__ == "HostCall"]
        return len(ffi.LENT), len(host_calls)

    before = held()
    wasi = preview1()
    instance = instance_of(wasi, '(import "wasi_snapshot_preview1" "sched_yield" '
                           '(func $y (result i32)))', MEMORY,
                           '(func (export "_start") (drop (call $y)))')
    wasi.start(instance)
    assert held() != before  # one callback or one HostCall, held for wasmtime
    store, start = instance.store, instance.exports["_start"]
    assert isinstance(start, wasmtime.Func)
    del wasi, instance
    gc.collect()
    for _ in range(3):
        start(store)
    del store, start
    assert held() == before


@pytest.mark.one_path
def test_the_c_trampoline_is_built() -> None:
    """The suite runs on both host-call paths only if the C one was built at install."""
    try:
        importlib.import_module("pywasi.engine._trampoline")
    except ImportError as error:
        pytest.fail(f"pywasi was installed without its C trampoline ({error}): install a C "
                    "compiler and Python's headers (gcc, python3-dev), then reinstall")


@pytest.mark.parametrize("options", [{"args": ["a\0b"]}, {"env": {"K": "v\0"}},
                                     {"env": {"K\0": "v"}}])
@pytest.mark.one_path
def test_strings_with_nul_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgValueError, match="NUL"):
        preview1(**options)


def test_memory_grown_by_the_guest_is_usable_at_once() -> None:
    """A pointer into pages grown after the bindings were made must work, not fault."""
    wasi = preview1()
    instance = instance_of(
        wasi, '(import "wasi_snapshot_preview1" "clock_time_get" '
        '(func $c (param i32 i64 i32) (result i32)))', MEMORY,
        '(func (export "_start") (drop (memory.grow (i32.const 3)))'
        ' (if (call $c (i32.const 0) (i64.const 0) (i32.const 196600)) (then unreachable))'
        ' (if (i32.ne (call $c (i32.const 0) (i64.const 0) (i32.const 262140)) (i32.const 21))'
        '   (then unreachable)))')
    assert wasi.start(instance) == 0
