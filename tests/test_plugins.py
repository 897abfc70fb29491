"""Reactors as plugins: the README's plugin section runs as written and type-checks, exports
are typed and calls checked, data goes in and out through the guest's allocator, and the
embedding program's mistakes get messages that say what to do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mypy.api
import pytest
import wasmtime

import pywasi
from guest import build_c

README = Path(__file__).parent.parent / "README.md"
SECTION = "## Plugins:"
ADD = b"""(module
  (memory (export "memory") 1)
  (global (export "answer") i32 (i32.const 42))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "scale") (param f64) (result f64) (f64.mul (local.get 0) (f64.const 2))))"""


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def plugin_section() -> str:
    text = README.read_text()
    start = text.index(SECTION)
    return text[start:text.find("\n## ", start + len(SECTION))]


def test_readme_plugin_section_runs_as_written(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(build_c("plugin_upper"), tmp_path / "plugin_upper.wasm")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    blocks = python_blocks(plugin_section())
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["shouted"] == ["HELLO", "PLUGIN", "WORLD"]


@pytest.mark.one_path
def test_every_readme_example_passes_mypy_strict(tmp_path: Path) -> None:
    """Each section's python blocks, in order, as one module (they build on each other)."""
    sections = re.split(r"\n## ", README.read_text())
    files = []
    for index, section in enumerate(sections):
        blocks = python_blocks(section)
        if blocks:
            files.append(tmp_path / f"readme_section_{index}.py")
            files[-1].write_text("\n".join(blocks))
    assert len(files) >= 4
    out, err, status = mypy.api.run(["--strict", "--no-incremental", *map(str, files)])
    assert status == 0, out + err


def test_plugin_text_transform_in_a_loop() -> None:
    wasi = pywasi.WASI(version="preview1")
    with pywasi.instantiate(wasi, build_c("plugin_upper"),
                            imports={"env": {"log": lambda ptr, length: None}}) as plugin:
        wasi.initialize(plugin)
        for count in range(300):  # the guest's free() gets both buffers back: no growth
            text = f"word {count} é"
            assert plugin.call_str("upper", text) == text.upper().replace("É", "é")
        assert plugin.call_bytes("upper", b"x" * 1000) == b"X" * 1000  # the heap grows once
        size = plugin.memory.size
        for _ in range(300):
            plugin.call_bytes("upper", b"x" * 1000)
        assert plugin.memory.size == size


@pytest.mark.one_path
def test_calls_are_checked_against_the_exports_type() -> None:
    instance = pywasi.instantiate(pywasi.WASI(version="preview1"), ADD)
    with pytest.raises(TypeError, match=r"export add\(i32, i32\) -> i32 takes 2 arguments, "
                                        r"got 1"):
        instance.call("add", 1)
    with pytest.raises(ValueError, match=r"export add\(i32, i32\) -> i32: argument 0 = "
                                         r"1099511627776 does not fit an i32"):
        instance.call("add", 2**40, 1)
    with pytest.raises(TypeError, match="argument 1 must be an int"):
        instance.call("add", 1, "2")
    with pytest.raises(TypeError, match="argument 0 must be a float"):
        instance.call("scale", None)
    assert instance.call("add", 2**32 - 1, 2) == 1  # the unsigned reading is taken too
    assert instance.call("scale", 2) == 4.0
    with pytest.raises(LookupError, match=r"no export 'nosuch'; it exports: memory \(memory\), "
                                          r"answer \(global\), add \(function\)"):
        instance.call("nosuch")
    with pytest.raises(TypeError, match="export 'answer' is a global, not a function"):
        instance.call("answer")


@pytest.mark.one_path
def test_typed_export_accessors() -> None:
    instance = pywasi.instantiate(pywasi.WASI(version="preview1"), ADD)
    assert instance.global_("answer").value(instance.store) == 42
    assert isinstance(instance.func("add"), wasmtime.Func)
    assert instance.wasm_memory().size(instance.store) == 1
    instance.memory.write_int(8, -2, 8)
    assert instance.memory.read_int(8, 8, signed=True) == -2
    with pytest.raises(LookupError, match="no export 'table'"):
        instance.table("table")
    with pytest.raises(LookupError, match="exports no allocator: export malloc and free"):
        instance.put_bytes(b"data")


# -- messages that say what to do ------------------------------------------------------------

@pytest.mark.one_path
def test_non_string_args_and_env_are_refused() -> None:
    with pytest.raises(pywasi.InvalidArgTypeError,
                       match=r'The "args\[0\]" argument must be of type string. '
                             r"Received type int \(1\)") as info:
        pywasi.WASI(version="preview1", args=[1, None])
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    with pytest.raises(pywasi.InvalidArgTypeError, match=r'"args\[1\]" .* Received None'):
        pywasi.WASI(version="preview1", args=["a", None])
    with pytest.raises(pywasi.InvalidArgTypeError,
                       match=r"""The "env\['A'\]" argument must be of type string"""):
        pywasi.WASI(version="preview1", env={"A": 1})
    with pytest.raises(pywasi.InvalidArgTypeError, match='The "env name 1" argument'):
        pywasi.WASI(version="preview1", env={1: "a"})


@pytest.mark.one_path
def test_a_swapped_preopen_mapping_says_keys_are_guest_paths(tmp_path: Path) -> None:
    missing = str(tmp_path / "sandbox")
    with pytest.raises(pywasi.PreopenError,
                       match=r"preopens map guest paths \(keys\) to host paths \(values\): "
                             rf"did you mean \{{'{re.escape(missing)}': '{tmp_path}'\}}\?"):
        pywasi.WASI(version="preview1", preopens={str(tmp_path): missing})
    with pytest.raises(pywasi.PreopenError) as info:  # no such hint when it would not help
        pywasi.WASI(version="preview1", preopens={"/nowhere-guest": missing})
    assert "did you mean" not in str(info.value)


@pytest.mark.one_path
def test_a_stdio_descriptor_that_is_not_open_is_refused() -> None:
    closed = os.open(os.devnull, os.O_RDONLY)
    os.close(closed)
    with pytest.raises(pywasi.InvalidArgValueError,
                       match=f"The option 'stdout' is host descriptor {closed}, which is not "
                             "open: pass an open one"):
        pywasi.WASI(version="preview1", stdout=closed)


@pytest.mark.one_path
def test_a_module_of_another_engine_says_pass_store() -> None:
    module = wasmtime.Module(wasmtime.Engine(), ADD)
    with pytest.raises(pywasi.ModuleLoadError, match=r"another wasmtime.Engine.*Pass store="):
        pywasi.instantiate(pywasi.WASI(version="preview1"), module)


@pytest.mark.one_path
def test_a_wat_syntax_error_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wat"
    broken.write_text('(module (func (export "f"')
    with pytest.raises(pywasi.ModuleLoadError, match=f"cannot compile module '{broken}': "):
        pywasi.load_module(broken)


@pytest.mark.one_path
def test_the_cli_runs_a_module_without_memory(tmp_path: Path) -> None:
    """As `wasmtime run` does (issue 16): a module that makes no system call needs none."""
    module = tmp_path / "nomemory.wat"
    module.write_text('(module (func (export "_start")))')
    run = subprocess.run([sys.executable, "-m", "pywasi", "run", str(module)],
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stderr) == (0, "")
