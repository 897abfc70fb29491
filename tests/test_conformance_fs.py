"""Filesystem behaviour that the public WASI conformance suites (wasi-testsuite, wasmtime's
preview1 test programs) require, checked by our own C guest (tests/c/conformance_fs.c) over a
preopen named "/" as wasi-testsuite mounts it. Each case also leaves the directory empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from guest import build_c, run_guest

CASES = [
    "open_preopen", "escapes", "dir_fd_ops", "not_dir", "read_without_rights", "path_link",
    "path_rename", "trailing_slashes", "symlinks", "open_flags", "truncation", "flags_append",
    "readdir_lots", "preopens",
]


@pytest.mark.parametrize("case", CASES)
def test_conformance_case(tmp_path: Path, case: str) -> None:
    root = tmp_path / "fs-tests.dir"
    root.mkdir()
    run = run_guest(build_c("conformance_fs"), [case], preopens={"/": str(root)})
    assert (run.exit_code, run.out) == (0, "PASS\n")
    assert list(root.iterdir()) == []
