"""Every system call, fed arbitrary arguments by a hostile guest, answers with an errno.

Hypothesis draws raw argument values (pointers at and past the end of memory, huge lengths,
unknown flags and enum values) and random guest memory contents; whatever it draws, a call
must return a WASI errno, never raise into the host, and never touch anything outside the
preopened directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pywasi
from pywasi.abi.signatures import PREVIEW1_SIGNATURES
from pywasi.abi.types import Errno

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


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pywasi.WASI, Path]]:
    root = tmp_path_factory.mktemp("hostile")
    inside = root / "inside"
    inside.mkdir()
    (inside / "file").write_bytes(b"data")
    (inside / "dir").mkdir()
    os.symlink("file", inside / "link")
    os.symlink("../outside", inside / "escape")
    (root / "outside").write_bytes(b"secret")
    devnull = os.open(os.devnull, os.O_RDWR)
    wasi = pywasi.WASI(version="preview1", args=["a", "b"], env={"K": "V"},
                       preopens={"/sandbox": str(inside)},
                       stdin=devnull, stdout=devnull, stderr=devnull)
    instance = pywasi.instantiate(wasi, b'(module (memory (export "memory") 1))')
    wasi.finalize_bindings(instance)
    yield wasi, root
    wasi.close()
    os.close(devnull)


def _scribble(wasi: pywasi.WASI, data: bytes) -> None:
    memory = wasi._context.memory
    memory.write(0, data)


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
    assert (root / "outside").read_bytes() == b"secret"
    assert sorted(p.name for p in root.iterdir()) == ["inside", "outside"]


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
