"""Start-up stays small: `import pywasi` loads nothing until a name is used, and a plain
`pywasi run` loads only what running a module needs (the figures are in
bench/real_programs.py; these tests guard what the figures rest on, and time nothing)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pywasi
from guest import build_c

pytestmark = pytest.mark.one_path

PACKAGE = Path(pywasi.__file__)

# Loaded by no plain run of a module: each belongs to an option or API the run does not use
# (or, for the stdlib ones, to nothing pywasi needs on that path at all).
NOT_FOR_A_PLAIN_RUN = (
    "argparse", "gettext", "hashlib", "hmac", "json", "shutil", "socket", "tarfile", "zipfile",
    "importlib.metadata", "pywasi.sandbox.memfs", "pywasi.sandbox.memfs_open",
    "pywasi.sandbox.readonly", "pywasi.sandbox.sockets", "pywasi.trace", "pywasi.plugin",
)


def _loaded_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True)
    return set(result.stdout.splitlines()[-1].split())


def test_import_pywasi_loads_no_submodule_until_a_name_is_used() -> None:
    loaded = _loaded_after("import pywasi")
    assert "wasmtime" not in loaded
    assert not {name for name in loaded if name.startswith("pywasi.")}
    assert "pywasi.wasi" in _loaded_after("from pywasi import WASI")


def test_every_public_name_resolves_and_the_type_checking_imports_agree() -> None:
    tree = ast.parse(PACKAGE.read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    for_type_checkers = {("." * item.level + (item.module or ""), alias.name)
                         for item in guarded.body if isinstance(item, ast.ImportFrom)
                         for alias in item.names}
    at_run_time = {(module, name) for module, names in pywasi._MODULES.items()
                   for name in names}
    assert for_type_checkers == at_run_time
    assert {name for _, name in at_run_time} | {"__version__"} == set(pywasi.__all__)
    for name in pywasi.__all__:
        assert getattr(pywasi, name) is not None, name
    assert set(pywasi.__all__) <= set(dir(pywasi))
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        pywasi.nonesuch  # noqa: B018


def test_a_plain_run_loads_only_what_it_needs(tmp_path: Path) -> None:
    """A warm one: the first run of a module compiles it and hashes its file."""
    module = tmp_path / "smoke.wasm"
    module.write_bytes(build_c("smoke").read_bytes())
    run = ["run", "--dir", str(tmp_path), str(module)]
    code = ("import pywasi.cli, pywasi.engine.cache as cache\n"
            "cache._SETTLED_NS = -10**12  # the new file counts as settled: it is indexed\n"
            f"assert pywasi.cli.main({run!r}) == 1  # argc")
    assert "hashlib" in _loaded_after(code)
    loaded = _loaded_after(code)
    assert "pywasi.wasi" in loaded  # it did run
    assert sorted(loaded & set(NOT_FOR_A_PLAIN_RUN)) == []
