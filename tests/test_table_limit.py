"""Tables are bounded like memories (issue 16 item 6): a table bomb costs the host no gigabytes,
by default, through the API and the command line, and an embedder's own store keeps its limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

import pywasi
from pywasi.limits import TABLE_ELEMENTS_DEFAULT
from test_cli import pywasi as run_cli

# A guest that grows its table by `count` elements and exits 7 if the grow failed, else 0.
GROW_WAT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (func (export "_start")
    (call $exit (select (i32.const 7) (i32.const 0)
      (i32.eq (table.grow (ref.null func) (i32.const {count})) (i32.const -1))))))"""
DECLARED_WAT = ('(module (memory (export "memory") 1) (table {count} funcref)'
                ' (func (export "_start")))')
BOMB = 100_000_000


def start(wat: str, limits: pywasi.Limits | None = None) -> int:
    wasi = pywasi.WASI(version="preview1", limits=limits)
    return wasi.start(pywasi.instantiate(wasi, wat.encode()))


def test_a_table_grow_bomb_fails_under_the_default_limit() -> None:
    assert start(GROW_WAT.format(count=BOMB)) == 7
    assert start(GROW_WAT.format(count=1000)) == 0


def test_the_limit_is_the_one_given() -> None:
    limits = pywasi.Limits(max_table_elements=100)
    assert start(GROW_WAT.format(count=99), limits) == 0
    assert start(GROW_WAT.format(count=100), limits) == 7


def test_a_module_declaring_a_huge_table_is_a_resource_limit() -> None:
    with pytest.raises(pywasi.ResourceLimit, match="max-table-elements"):
        start(DECLARED_WAT.format(count=TABLE_ELEMENTS_DEFAULT + 1))
    assert start(DECLARED_WAT.format(count=TABLE_ELEMENTS_DEFAULT)) == 0


def test_an_embedders_store_keeps_its_own_table_limit() -> None:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_limits(table_elements=50)
    wasi = pywasi.WASI(version="preview1")
    module = pywasi.load_module(GROW_WAT.format(count=60).encode(), engine=engine)
    instance = pywasi.instantiate(wasi, module, store=store)
    assert wasi.start(instance) == 7


def test_command_line_table_bomb_exits_with_the_limits_status(tmp_path: Path) -> None:
    declared = tmp_path / "declared.wat"
    declared.write_text(DECLARED_WAT.format(count=BOMB))
    result = run_cli("run", str(declared))
    assert result.returncode == pywasi.ResourceLimit.exit_status, result.stderr
    assert "max-table-elements" in result.stderr
    small = tmp_path / "small.wat"
    small.write_text(DECLARED_WAT.format(count=10))
    assert run_cli("run", str(small)).returncode == 0
    result = run_cli("run", "-W", "max-table-elements=5", str(small))
    assert result.returncode == pywasi.ResourceLimit.exit_status, result.stderr
    grow = tmp_path / "grow.wat"
    grow.write_text(GROW_WAT.format(count=BOMB))
    assert run_cli("run", str(grow)).returncode == 7
