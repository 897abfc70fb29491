"""Filesystem behaviour that the public WASI conformance suites (wasi-testsuite, wasmtime's
preview1 test programs) require, checked by our own C guest (tests/c/conformance_fs.c) over a
preopen named "/" as wasi-testsuite mounts it, backed by a host directory and by a `MemoryDir`
alike (the same errno from both). Each case also leaves the directory empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from guest import Run, build_c, run_guest
from pywasi import MemoryDir

CASES = [
    "open_preopen", "escapes", "dir_fd_ops", "not_dir", "read_without_rights", "path_link",
    "path_rename", "trailing_slashes", "symlinks", "open_flags", "truncation", "flags_append",
    "readdir_lots", "preopens", "fd_times_advise",
]


def run_case(tmp_path: Path, case: str, backing: str) -> tuple[Run, list[object]]:
    """Run one case; return what it did and what it left in the preopen (nothing, if well)."""
    if backing == "memory":
        tree = MemoryDir()
        run = run_guest(build_c("conformance_fs"), [case], preopens={"/": tree})
        return run, list(tree)
    root = tmp_path / "fs-tests.dir"
    root.mkdir()
    run = run_guest(build_c("conformance_fs"), [case], preopens={"/": str(root)})
    return run, list(root.iterdir())


@pytest.mark.parametrize("backing", ["host", "memory"])
@pytest.mark.parametrize("case", CASES)
def test_conformance_case(tmp_path: Path, case: str, backing: str) -> None:
    run, left = run_case(tmp_path, case, backing)
    assert (run.exit_code, run.out, left) == (0, "PASS\n", [])


@pytest.mark.parametrize("backing", ["host", "memory"])
def test_stdio_renumbered_onto_files(tmp_path: Path, backing: str) -> None:
    """The guest renumbers its own stdout away, so its exit code is the whole verdict; the
    host's stdout file is left alone."""
    run, left = run_case(tmp_path, "stdio_renumber", backing)
    assert (run.exit_code, run.out, left) == (0, "", [])
