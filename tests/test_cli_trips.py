"""What a new user of `pywasi run` tripped on: each as that user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pywasi import cli_options
from pywasi.limits import parse_size
from test_cli import pywasi

pytestmark = pytest.mark.one_path

ADD_WAT = """(module (func (export "add") (param i32 i32) (result i32)
  (i32.add (local.get 0) (local.get 1))))"""
# No memory: proc_exit needs none; fd_write's iovecs are then out of bounds (EFAULT, 21).
NO_MEMORY_WAT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (func (export "_start")
    (call $exit (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
# Writes "started\n", then computes forever, or (with any argument) reads stdin.
STARTED_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $argc (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "started\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 8))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (drop (call $argc (i32.const 20) (i32.const 24)))
    (if (i32.gt_u (i32.load (i32.const 20)) (i32.const 1))
      (then (i32.store (i32.const 4) (i32.const 1))
            (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))))
    (loop $forever (br $forever))))"""
EMPTY_WAT = '(module (func (export "_start")))'
ENOENT_WAT = """(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "nothere")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7) (i32.const 0)
                      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))))"""


def module(tmp_path: Path, wat: str, name: str = "m.wat") -> str:
    path = tmp_path / name
    path.write_text(wat)
    return str(path)


def test_invoke_of_a_pure_compute_export_without_memory(tmp_path: Path) -> None:
    result = pywasi("run", "--invoke", "add", module(tmp_path, ADD_WAT), "2", "40")
    assert (result.returncode, result.stdout, result.stderr) == (0, "42\n", "")


def test_a_command_without_memory_runs(tmp_path: Path) -> None:
    result = pywasi("run", module(tmp_path, NO_MEMORY_WAT))
    assert (result.returncode, result.stderr) == (21, "")  # EFAULT, by proc_exit


@pytest.mark.parametrize(("text", "size"), [
    ("65536", 65536), ("64KiB", 64 << 10), ("16MiB", 16 << 20), ("1GiB", 1 << 30),
    ("64k", 64 << 10), ("16M", 16 << 20), ("2G", 2 << 30), ("1_000", 1000), ("8 mib", 8 << 20),
])
def test_sizes_take_units(text: str, size: int) -> None:
    assert parse_size(text) == size
    options = cli_options.parse_run(["-W", f"max-memory-size={text}", "m"])
    assert options.limits["max_memory_size"] == size


@pytest.mark.parametrize("text", ["64MB", "1.5M", "-1", "ten", "", "M"])
def test_a_bad_size_says_the_form_expected(text: str) -> None:
    with pytest.raises(cli_options.UsageError) as error:
        cli_options.parse_run(["-W", f"max-memory-size={text}", "m"])
    assert str(error.value).startswith(f"-W max-memory-size={text}: bad size {text!r}: "
                                       "expected bytes, or a whole number with a unit (KiB")


def test_max_memory_size_with_a_unit_bounds_the_guest(tmp_path: Path) -> None:
    grow = """(module (memory (export "memory") 1)
      (func (export "_start") (if (i32.ne (memory.grow (i32.const 2)) (i32.const -1))
                                   (then unreachable))))"""
    result = pywasi("run", "-W", "max-memory-size=128KiB", module(tmp_path, grow))
    assert result.returncode == 0  # the grow past 128 KiB (2 pages) failed, as it must


@pytest.mark.parametrize(("setting", "expected"), [
    ("fuel=ten", "-W fuel=ten: bad count 'ten': expected a whole number >= 0"),
    ("timeout=soon", "-W timeout=soon: bad duration 'soon': expected a number with a unit"),
    ("epoch-interruption=maybe", "-W epoch-interruption=maybe: bad flag 'maybe': expected y"),
])
def test_every_setting_error_names_option_value_and_form(setting: str, expected: str) -> None:
    result = pywasi("run", "-W", setting, "m.wasm")
    assert result.returncode == 2
    assert f"pywasi run: error: {expected}" in result.stderr


def test_trace_format_alone_traces_to_stderr(tmp_path: Path) -> None:
    result = pywasi("run", "--trace-format=json", "--dir", str(tmp_path),
                    module(tmp_path, ENOENT_WAT))
    record = json.loads(result.stderr.splitlines()[0])
    assert record["call"] == "path_open"
    assert (record["errno"], record["errno_name"]) == (44, "ENOENT")


def test_env_name_the_host_lacks_is_a_warning(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYWASI_NO_SUCH"}
    result = subprocess.run([sys.executable, "-m", "pywasi", "run", "--env", "PYWASI_NO_SUCH",
                             module(tmp_path, EMPTY_WAT)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "warning: --env PYWASI_NO_SUCH: the host has no variable PYWASI_NO_SUCH, so the guest "
        "gets none (give a value with --env NAME=VALUE)"]


@pytest.mark.parametrize("option", ["--dir", "--dir-ro"])
def test_dir_with_one_colon_hints_at_the_separator(tmp_path: Path, option: str) -> None:
    result = pywasi("run", option, f"{tmp_path}/a:/b", module(tmp_path, ADD_WAT))
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"separate the two with '::' (HOST::GUEST): "
                                          f"{option} {tmp_path}/a::/b")


def _ignore_sigint() -> None:
    """What a shell does for a command started in the background (`&`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("waits", ["computing", "reading stdin"])
def test_sigterm_ends_a_background_run_whose_sigint_is_ignored(tmp_path: Path,
                                                               waits: str) -> None:
    args = ["x"] if waits == "reading stdin" else []
    with subprocess.Popen([sys.executable, "-m", "pywasi", "run",
                           module(tmp_path, STARTED_WAT), *args],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          preexec_fn=_ignore_sigint) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == b"started\n"
            process.send_signal(signal.SIGINT)  # ignored, as it was inherited
            process.send_signal(signal.SIGTERM)
            # Killed by SIGTERM itself, not ended by SIGINT (130): a shell says 143.
            assert process.wait(timeout=60) == -signal.SIGTERM
        finally:
            process.kill()
