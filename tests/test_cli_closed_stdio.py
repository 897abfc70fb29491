"""A host stdin, stdout or stderr closed by the parent (``<&-``, ``>&-``, ``2>&-``): the guest
runs, its reads and writes there are EBADF (as under wasmtime), and its exit status is the
process's, with no traceback anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_path

# Reads 1 byte from fd 0, writes "hi\n" to fd 1 and to fd 2, and exits with 64 plus a bit
# for each call that was EBADF: 1 for the read, 2 for stdout, 4 for stderr.
STDIO_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hi\\n")
  (func $bad (param i32) (result i32) (i32.eq (local.get 0) (i32.const 8)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 3))
    (i32.store (i32.const 16) (i32.const 200)) (i32.store (i32.const 20) (i32.const 1))
    (call $exit (i32.or (i32.const 64)
      (i32.or (call $bad (call $read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 32)))
        (i32.or
          (i32.shl (call $bad (call $write (i32.const 1) (i32.const 0) (i32.const 1)
                                            (i32.const 32))) (i32.const 1))
          (i32.shl (call $bad (call $write (i32.const 2) (i32.const 0) (i32.const 1)
                                            (i32.const 32))) (i32.const 2)))))))
)"""
EXIT_7_WAT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))"""


def shell(tmp_path: Path, wat: str, redirections: str, *options: str) \
        -> subprocess.CompletedProcess[str]:
    """`pywasi run` of `wat` under `sh`, with the shell's `redirections` (which close host
    descriptors) applied to it. What it writes to a closed descriptor is lost; the rest is
    captured through a file (the shell's own stdout and stderr are open pipes)."""
    module = tmp_path / "guest.wat"
    module.write_text(wat)
    command = (f'exec "$0" -m pywasi run {" ".join(options)} "$1" {redirections}')
    return subprocess.run(["sh", "-c", command, sys.executable, str(module)],
                          capture_output=True, text=True, timeout=120)


def test_closed_stdin_reads_are_ebadf_and_the_rest_runs(tmp_path: Path) -> None:
    result = shell(tmp_path, STDIO_WAT, "<&-")
    assert (result.returncode, result.stdout, result.stderr) == (64 | 1, "hi\n", "hi\n")


def test_closed_stdin_of_a_guest_that_never_reads(tmp_path: Path) -> None:
    result = shell(tmp_path, EXIT_7_WAT, "<&-")
    assert (result.returncode, result.stderr) == (7, "")


def test_closed_stdout_writes_are_ebadf_without_a_traceback(tmp_path: Path) -> None:
    result = shell(tmp_path, STDIO_WAT, ">&- </dev/null")
    assert (result.returncode, result.stderr) == (64 | 2, "hi\n")


def test_closed_stderr(tmp_path: Path) -> None:
    result = shell(tmp_path, STDIO_WAT, "2>&- </dev/null")
    assert (result.returncode, result.stdout) == (64 | 4, "hi\n")


def test_all_three_closed_ends_with_the_guests_status(tmp_path: Path) -> None:
    # With the trace on stderr too: it has nowhere to go, and must not crash the run.
    result = shell(tmp_path, STDIO_WAT, "<&- >&- 2>&-", "--trace")
    assert result.returncode == 64 | 1 | 2 | 4


def test_an_error_with_stderr_closed_is_status_1_not_a_traceback_on_stdout(
        tmp_path: Path) -> None:
    result = shell(tmp_path, "(module", "2>&- </dev/null")  # not a module
    assert (result.returncode, result.stdout) == (1, "")


def test_a_file_opened_on_a_closed_number_is_not_the_guests(tmp_path: Path) -> None:
    """The embedder's API: WASI() made while host fd 0 is closed gives the guest an EBADF
    stdin for good; a file the host opens afterwards, which takes number 0, is not read."""
    script = f"""
import os, sys
import pywasi
os.close(0)
wasi = pywasi.WASI(version="preview1", stdout=sys.stdout, stderr=sys.stderr)
secret = os.open({str(tmp_path / "secret")!r}, os.O_RDONLY)
assert secret == 0, secret
status = wasi.start(pywasi.instantiate(wasi, {STDIO_WAT!r}.encode()))
print("status", status)
"""
    (tmp_path / "secret").write_text("s")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.stderr == "hi\n"
    assert result.stdout == "hi\nstatus 65\n"


def test_other_closed_numbers_are_still_the_callers_mistake() -> None:
    import pywasi

    with pytest.raises(pywasi.InvalidArgValueError, match="not open"):
        pywasi.WASI(version="preview1", stdin=1_000_000)


def test_a_closed_number_is_held_so_no_file_of_the_run_lands_there(tmp_path: Path) -> None:
    """What `pywasi run` opens after the start (the module, a trace file, preopens) must not
    take a standard number, where a C library's or wasmtime's own messages would go."""
    script = ("import os, sys\n"
              "from pywasi.cli_stdio import StandardDescriptors\n"
              "held = StandardDescriptors()\n"
              "opened = os.open(sys.argv[1], os.O_RDONLY)\n"
              "sys.stderr.write(f'{sorted(held.closed)} {opened > 2}')\n")
    command = 'exec "$0" -c "$1" "$2" >&- <&-'
    result = subprocess.run(["sh", "-c", command, sys.executable, script, str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.stderr == "[0, 1] True"


@pytest.mark.parametrize("words", [["run", "--help"], ["--version"], ["run", "--invoke", "f"]])
def test_what_pywasi_itself_prints_has_nowhere_to_go_and_no_traceback(
        tmp_path: Path, words: list[str]) -> None:
    wat = '(module (func (export "f") (result i32) (i32.const 1)))'
    module = tmp_path / "f.wat"
    module.write_text(wat)
    argv = [*words, str(module)] if "--invoke" in words else words
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}  # ask stdout
    result = subprocess.run(["sh", "-c", 'exec "$0" -m pywasi "$@" >&-', sys.executable, *argv],
                            capture_output=True, text=True, env=env, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
