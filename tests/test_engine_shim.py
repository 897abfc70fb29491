"""wasmtime-py's internals are used from one module, `engine/ffi.py`, which checks them at import.

The source test reads every file of src/pywasi (text and syntax tree): none but the shim imports
ctypes or a private wasmtime module, names `_dll`, or reaches into a wasmtime object's private
attributes. `sandbox/openat2.py` is the one other ctypes user: it calls the libc openat2 system
call, which is no part of wasmtime.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import wasmtime

from pywasi.engine import ffi

pytestmark = pytest.mark.one_path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "pywasi"
SHIM = SOURCE / "engine" / "ffi.py"
CTYPES_ALLOWED = {SHIM, SOURCE / "sandbox" / "openat2.py"}
# wasmtime-py's private attributes pywasi has used (objects' structures, private methods), on
# any object but `self` (pywasi's own classes have a `_memory` and a `_context` of their own).
PRIVATE_ATTRIBUTES = {"_context", "_delete", "_from_ptr", "_memory", "_func", "_global",
                      "_instance", "_extern_map", "_anon_1", "_bindings", "_dll", "dll"}


def _python_sources() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_the_sources_are_found() -> None:
    assert SHIM in _python_sources() and len(_python_sources()) > 40


@pytest.mark.parametrize("path", _python_sources(), ids=lambda path: str(path.relative_to(SOURCE)))
def test_only_the_shim_touches_wasmtime_internals(path: Path) -> None:
    if path == SHIM:
        return
    text = path.read_text()
    assert not re.search(r"wasmtime\._[a-z]", text), "a private wasmtime module: use ffi.py"
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for name in [module or "", *names]:
                assert not name.startswith("wasmtime._"), f"line {node.lineno}: {name}"
                if name == "ctypes" or name.startswith("ctypes."):
                    assert path in CTYPES_ALLOWED, f"line {node.lineno}: imports ctypes"
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES \
                and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            pytest.fail(f"line {node.lineno}: .{node.attr} is wasmtime-py's: use engine/ffi.py")
        elif isinstance(node, ast.Name) and node.id == "_dll":
            pytest.fail(f"line {node.lineno}: _dll is wasmtime-py's: use engine/ffi.py")
    if path not in CTYPES_ALLOWED:
        assert "ctypes" not in text, "ctypes is the shim's (engine/ffi.py)"


def test_the_installed_wasmtime_has_every_internal() -> None:
    ffi.check_internals()


@pytest.mark.parametrize(("owner", "name", "named"), [
    (wasmtime.Store, "_context", "wasmtime.Store._context"),
    (wasmtime.Trap, "_from_ptr", "wasmtime.Trap._from_ptr"),
    (wasmtime.Module, "_from_ptr", "wasmtime.Module._from_ptr"),
])
def test_a_missing_method_is_named_with_what_to_install(
        monkeypatch: pytest.MonkeyPatch, owner: type, name: str, named: str) -> None:
    monkeypatch.delattr(owner, name)
    with pytest.raises(ffi.EngineIncompatibleError) as raised:
        ffi.check_internals()
    message = str(raised.value)
    assert named in message
    assert "install a wasmtime-py pywasi supports" in message and "wasmtime" in message
    assert isinstance(raised.value, ImportError)


def test_a_missing_c_function_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ffi, "DLL_SYMBOLS", (*ffi.DLL_SYMBOLS, "wasmtime_no_such_function"))
    with pytest.raises(ffi.EngineIncompatibleError, match="C function wasmtime_no_such_function"):
        ffi.check_internals()


def test_a_missing_object_field_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """An instance attribute is looked for in the code of its class (it exists only on
    objects): a wasmtime-py that renamed ``Memory._memory`` fails the check."""
    monkeypatch.setitem(ffi.INSTANCE_FIELDS, "Memory", "_renamed_memory")
    with pytest.raises(ffi.EngineIncompatibleError, match=r"wasmtime\.Memory\(\)\._renamed"):
        ffi.check_internals()


def test_a_missing_field_at_use_is_the_same_error() -> None:
    """Past the import check (an object made some other way), the accessors still name what
    is missing instead of raising AttributeError."""
    with pytest.raises(ffi.EngineIncompatibleError, match=r"_memory"):
        ffi.memory_store_id(object())  # type: ignore[arg-type]


def test_the_range_to_install_is_pyprojects() -> None:
    message = str(ffi.incompatible("something"))
    assert re.search(r"pip install 'wasmtime[<>=0-9,.]+'", message), message
