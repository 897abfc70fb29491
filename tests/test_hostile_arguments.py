"""Every system call, fed arbitrary arguments by a hostile guest, answers with an errno.

Hypothesis draws raw argument values (pointers at and past the end of memory, huge lengths,
unknown flags and enum values) and random guest memory contents; whatever it draws, a call
must return a WASI errno, never raise into the host, and never touch anything outside the
preopened directory. The calls are made twice over: from Python through `wasi.wasi_import`
(as another engine would make them, signed values included), and by a guest through wasmtime,
on each host-call path, with i32 and i64 values signed and unsigned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pywasi
from pywasi.abi.signatures import PREVIEW1_SIGNATURES
from pywasi.abi.types import Errno
from pywasi.engine import host_calls

PAGE = 65536
# Calls that may block on their arguments (a clock wait, a read from a pipe): run separately.
BLOCKING = {"poll_oneoff"}
ENDING = {"proc_exit", "proc_raise"}

U32_EDGES = [0, 1, 2, 3, 4, 8, 16, 255, 4096, PAGE - 8, PAGE - 1, PAGE, PAGE + 1,
             2**31 - 1, 2**31, 2**32 - 8, 2**32 - 1]
U64_EDGES = [0, 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1]


def u32() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(U32_EDGES), st.integers(0, 2 * PAGE),
                     st.integers(0, 2**32 - 1))


def u64() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(U64_EDGES), st.integers(0, 2**64 - 1))


def arguments(params: str) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(u32() if code == "I" else u64() for code in params))


def signed(bits: int) -> st.SearchStrategy[int]:
    """An i32 or i64 as an engine may hand it over: signed or unsigned, edges likely."""
    half = 1 << (bits - 1)
    edges = [-1, -2, -8, -16, -half, half - 1, half, 2 * half - 1, -PAGE, -PAGE - 1]
    return st.one_of(st.sampled_from(edges), st.integers(-half, 2 * half - 1))


def raw_arguments(params: str) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(signed(32) if code == "I" else signed(64) for code in params))


def make_tree(root: Path) -> Path:
    """The preopen `root/inside`, and `root/outside` beside it that no call may touch."""
    inside = root / "inside"
    inside.mkdir()
    (inside / "file").write_bytes(b"data")
    (inside / "dir").mkdir()
    os.symlink("file", inside / "link")
    os.symlink("../outside", inside / "escape")
    (root / "outside").write_bytes(b"secret")
    return inside


def sandboxed(root: Path, stdio: int) -> pywasi.WASI:
    """A WASI with the tree of `make_tree(root)` preopened and all stdio on host fd `stdio`."""
    return pywasi.WASI(version="preview1", args=["a", "b"], env={"K": "V"},
                       preopens={"/sandbox": str(make_tree(root))},
                       stdin=stdio, stdout=stdio, stderr=stdio)


def assert_untouched(root: Path) -> None:
    assert (root / "outside").read_bytes() == b"secret"
    assert sorted(p.name for p in root.iterdir()) == ["inside", "outside"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pywasi.WASI, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    devnull = os.open(os.devnull, os.O_RDWR)
    wasi = sandboxed(root, devnull)
    instance = pywasi.instantiate(wasi, b'(module (memory (export "memory") 1))')
    wasi.finalize_bindings(instance)
    yield wasi, root
    wasi.close()
    os.close(devnull)


def _scribble(wasi: pywasi.WASI, data: bytes) -> None:
    memory = wasi._context.memory
    memory.write(0, data)


@pytest.mark.one_path
@pytest.mark.parametrize("name", sorted(set(PREVIEW1_SIGNATURES) - BLOCKING))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_arguments_give_an_errno(sandbox: tuple[pywasi.WASI, Path], name: str,
                                     data: st.DataObject) -> None:
    wasi, root = sandbox
    memory_bytes = data.draw(st.binary(min_size=0, max_size=256))
    _scribble(wasi, memory_bytes)
    args = data.draw(arguments(PREVIEW1_SIGNATURES[name].params))
    try:
        result = wasi.wasi_import[name](*args)
    except pywasi.ProcExit:
        assert name in ENDING
        return
    assert isinstance(result, int) and result in Errno._value2member_map_, (name, args, result)
    assert_untouched(root)


@pytest.mark.one_path
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_poll_oneoff_with_arbitrary_subscriptions(sandbox: tuple[pywasi.WASI, Path],
                                                  data: st.DataObject) -> None:
    """Random subscriptions whose clocks are all short (the timeout bytes are kept small)."""
    wasi, _ = sandbox
    count = data.draw(st.integers(0, 4))
    records = b""
    for _ in range(count):
        userdata = data.draw(st.binary(min_size=8, max_size=8))
        tag = data.draw(st.sampled_from([0, 1, 2, 3, 255]))
        clock = data.draw(st.integers(0, 5)).to_bytes(4, "little")
        timeout = data.draw(st.integers(0, 2_000_000)).to_bytes(8, "little")  # <= 2 ms
        flags = data.draw(st.integers(0, 3)).to_bytes(2, "little")
        body = clock + b"\0" * 4 + timeout + b"\0" * 8 + flags + b"\0" * 6
        records += userdata + bytes([tag]) + b"\0" * 7 + body
    _scribble(wasi, records)
    out = data.draw(st.sampled_from([1024, PAGE - 16, PAGE, 2**32 - 1]))
    nevents = data.draw(st.sampled_from([2048, PAGE - 2, 2**32 - 4]))
    result = wasi.wasi_import["poll_oneoff"](0, out, count, nevents)
    assert isinstance(result, int) and result in Errno._value2member_map_


# -- the same through wasmtime: a guest passes its export's arguments on to the system call --

CALLED = sorted(set(PREVIEW1_SIGNATURES) - BLOCKING)


def relay_module() -> bytes:
    """A module whose export `go_NAME` calls system call NAME with the export's own
    arguments, so the test chooses the raw values wasmtime hands to the host call."""
    imports, relays = [], []
    for name in CALLED:
        signature = PREVIEW1_SIGNATURES[name]
        params = " ".join("i32" if code == "I" else "i64" for code in signature.params)
        result = "(result i32)" if signature.returns_errno else ""
        locals_ = " ".join(f"(local.get {index})" for index in range(len(signature.params)))
        imports.append(f'(import "wasi_snapshot_preview1" "{name}" '
                       f'(func ${name} (param {params}) {result}))')
        relays.append(f'(func (export "go_{name}") (param {params}) {result} '
                      f'(call ${name} {locals_}))')
    return " ".join(["(module", *imports, '(memory (export "memory") 1)', *relays, ")"]).encode()




def fuzz_through_wasmtime(root: Path, examples: int) -> None:
    """The child: every system call through the relay module on this process's host-call
    path, `examples` drawings each. Each call is printed before it is made, so that if one
    crashes the process, the parent can say which."""
    wasi = sandboxed(root, os.open(os.devnull, os.O_RDWR))
    instance = pywasi.instantiate(wasi, relay_module())
    wasi.finalize_bindings(instance)
    print("path:", "c" if host_calls.trampoline is not None else "python", flush=True)
    for name in CALLED:
        fuzz_one(instance, root, name, examples)


def fuzz_one(instance: pywasi.WasmtimeInstance, root: Path, name: str, examples: int) -> None:
    memory = instance.exports["memory"]
    assert isinstance(memory, wasmtime.Memory)

    @settings(max_examples=examples, deadline=None, database=None)
    @given(data=st.data())
    def call(data: st.DataObject) -> None:
        memory.write(instance.store, data.draw(st.binary(min_size=0, max_size=256)), 0)
        args = data.draw(raw_arguments(PREVIEW1_SIGNATURES[name].params))
        print(name, *args, flush=True)
        try:
            result = instance.call(f"go_{name}", *args)
        except pywasi.ProcExit:
            assert name in ENDING
            return
        assert isinstance(result, int) and result & 0xFFFFFFFF in Errno._value2member_map_, (
            name, args, result)
        assert_untouched(root)

    call()


def test_any_raw_arguments_through_wasmtime_give_an_errno(tmp_path: Path, host_calls: str) -> None:
    """In a child process, so that a crash fails this test, not the test run."""
    child = subprocess.run([sys.executable, __file__, "raw", str(tmp_path), "40"],
                           capture_output=True, text=True, timeout=60)
    lines = child.stdout.splitlines()
    assert child.returncode == 0, (
        f"last call: {lines[-1] if lines else None}\n{child.stderr[-3000:]}")
    assert lines[0] == f"path: {host_calls}"
    assert len(lines) > 40 * len(CALLED) // 2  # the drawings were made


# -- signed values through wasi_import, in a child process: a crash fails one test ----------

SIGNED_EDGES = [-1, -16, -PAGE, -(2**31), -(2**32) + 96, -(2**63)]


def signed_calls(root: Path) -> dict[str, list[int | str | None]]:
    """The errno of every system call with one argument at a time set to each signed edge
    (the others 0), through `wasi_import` of a sandbox in `root`; what it raised instead, as
    text."""
    wasi = sandboxed(root, os.open(os.devnull, os.O_RDWR))
    # The instance is kept: its store owns the memory the system calls write to.
    instance = pywasi.instantiate(wasi, b'(module (memory (export "memory") 1))')
    wasi.finalize_bindings(instance)
    results: dict[str, list[int | str | None]] = {}
    for name in CALLED:
        if name in ENDING:
            continue
        arity = len(PREVIEW1_SIGNATURES[name].params)
        for position in range(arity):
            for edge in SIGNED_EDGES:
                args = [0] * arity
                args[position] = edge
                try:
                    outcome: int | str | None = wasi.wasi_import[name](*args)
                except Exception as error:  # noqa: BLE001 - reported by the test, not hidden
                    outcome = f"{args} raised {error!r}"
                results.setdefault(name, []).append(outcome)
    return results


@pytest.mark.one_path
def test_signed_arguments_through_wasi_import_give_an_errno(tmp_path: Path) -> None:
    """Engines such as wasmtime-py's `Func` and Node hand i32s and i64s over signed."""
    child = subprocess.run([sys.executable, __file__, "signed", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, f"the host crashed: {child.stderr[-2000:]}"
    results: dict[str, list[int | str | None]] = json.loads(child.stdout)
    assert set(results) == set(CALLED) - ENDING - {"sched_yield"}  # every call with arguments
    wrong = {name: [outcome for outcome in outcomes if outcome not in Errno._value2member_map_]
             for name, outcomes in results.items()}
    assert not {name: outcomes for name, outcomes in wrong.items() if outcomes}
    assert_untouched(tmp_path)


if __name__ == "__main__":
    if sys.argv[1] == "raw":
        fuzz_through_wasmtime(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        print(json.dumps(signed_calls(Path(sys.argv[2]))))
