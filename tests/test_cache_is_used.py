"""The compiled-module cache is read (a second load compiles nothing) and its entries are
verified before wasmtime sees them (a flipped byte is recompiled and replaced, never run)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import pywasi

ANSWER = b'(module (func (export "answer") (result i32) (i32.const 22)))'
EXIT_22 = b"""(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 22))))"""


def count_compilations(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every module wasmtime compiles from now on (deserializing one is no compilation)."""
    compiled: list[bytes] = []
    compile_module = wasmtime.Module.__init__

    def counting(self: wasmtime.Module, engine: wasmtime.Engine, wasm: Any) -> None:
        compiled.append(bytes(wasm))
        compile_module(self, engine, wasm)

    monkeypatch.setattr(wasmtime.Module, "__init__", counting)
    return compiled


@pytest.mark.one_path
def test_a_second_load_is_a_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYWASI_CACHE_DIR", str(tmp_path / "cache"))
    compiled = count_compilations(monkeypatch)
    for _ in range(2):
        instance = pywasi.instantiate(pywasi.WASI(version="preview1"), ANSWER)
        assert instance.call("answer") == 22
    assert len(compiled) == 1
    assert len(list((tmp_path / "cache").iterdir())) >= 1


def run(module: Path, cache: Path) -> int:
    """Exit status of `pywasi run module` in a fresh process, with `cache` as its cache."""
    env = {**os.environ, "PYWASI_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "pywasi", "run", str(module)], env=env,
                          capture_output=True, timeout=60).returncode


def test_a_flipped_byte_in_an_entry_is_recompiled_and_replaced(tmp_path: Path) -> None:
    """In a child process: wasmtime trusts serialized code, so an unchecked corrupt entry
    could crash the process that loads it."""
    module = tmp_path / "exit22.wat"
    module.write_bytes(EXIT_22)
    cache = tmp_path / "cache"
    assert run(module, cache) == 22
    entry = max((path for path in cache.rglob("*") if path.is_file()),
                key=lambda path: path.stat().st_size)
    corrupted = bytearray(entry.read_bytes())
    corrupted[len(corrupted) // 2] ^= 0x40  # in the compiled code, past every header
    entry.write_bytes(corrupted)
    assert run(module, cache) == 22
    assert entry.read_bytes() != corrupted


@pytest.mark.one_path
def test_the_suite_compiles_into_a_cache_of_its_own() -> None:
    """tests/conftest.py points this process and every child at a temporary cache."""
    home_cache = Path.home() / ".cache"
    for variable in ("PYWASI_CACHE_DIR", "XDG_CACHE_HOME"):
        assert not Path(os.environ[variable]).is_relative_to(home_cache), variable
        assert Path(os.environ[variable]).is_relative_to(tempfile.gettempdir()), variable
