"""The foundation's system calls, through a C guest calling the raw WASI imports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from guest import Run, build_c, run_guest


def core(case: str, *args: str, **options: object) -> Run:
    return run_guest(build_c("core_calls"), [case, *args], **options)  # type: ignore[arg-type]


def test_args_get_layout_and_efault() -> None:
    run = core("args", "one", "two words", "")
    assert run.out == "PASS\n"
    assert run.exit_code == 0


def test_args_case_really_checks_something() -> None:
    # The same program with other args must fail its layout checks.
    run = core("args", "one", "two")
    assert run.out.startswith("FAIL")
    assert run.exit_code == 1


def test_environ_get_layout_and_efault() -> None:
    run = core("environ", env={"A": "1", "B": "x y z"})
    assert (run.out, run.exit_code) == ("PASS\n", 0)


@pytest.mark.parametrize("case", ["clocks", "random", "sched"])
def test_simple_calls(case: str) -> None:
    run = core(case)
    assert (run.out, run.exit_code) == ("PASS\n", 0)


def test_stdio_read_write_fdstat_and_close() -> None:
    run = core("stdio", stdin=b"input data")
    assert run.stdout == b"hello world\n"
    assert run.stderr == b"helafter close\n"
    assert run.exit_code == 0


def test_prestat(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    run = core("prestat", preopens={"/sandbox": str(tmp_path), "/": str(tmp_path / "b")})
    assert (run.out, run.exit_code) == ("PASS\n", 0)


@pytest.mark.parametrize("signal, status", [("term", 128 + 15), ("kill", 128 + 9)])
def test_proc_raise_ends_the_guest_not_the_host(signal: str, status: int) -> None:
    run = core("raise", signal)
    assert run.out == "before\n"
    assert run.exit_code == status
    assert os.getpid() > 0  # still here: no signal reached this process


def test_proc_exit_code() -> None:
    run = core("exit")
    assert (run.out, run.exit_code) == ("exiting\n", 42)


def test_host_stdio_survives_guest_close() -> None:
    read_end, write_end = os.pipe()
    try:
        core("stdio", stdin=b"input data")
        os.write(write_end, b"x")
        assert os.read(read_end, 1) == b"x"
        os.fstat(1)  # the host's own stdout is still open
    finally:
        os.close(read_end)
        os.close(write_end)
