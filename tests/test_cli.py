"""`pywasi run` as a user runs it: a subprocess, with the exit status and output it gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from guest import build_c

TRAP_WAT = '(module (memory (export "memory") 1) (func (export "_start") unreachable))'


def pywasi(*args: str, cache_dir: Path | None = None,
           host_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(host_env or {})}
    if cache_dir is not None:
        env["PYWASI_CACHE_DIR"] = str(cache_dir)
    return subprocess.run([sys.executable, "-m", "pywasi", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_no_module_runs_the_demo() -> None:
    result = pywasi("run")
    assert (result.stdout, result.returncode) == ("hello world\n", 0)


def test_args_after_module_go_to_the_guest_verbatim() -> None:
    result = pywasi("run", str(build_c("smoke")), "a", "--dir", "-x", "--", "--env=1")
    assert result.stdout.splitlines()[1:5] == [
        "arg 1: a", "arg 2: --dir", "arg 3: -x", "arg 4: --",
    ]
    assert result.returncode == 6


def test_argv0_and_env() -> None:
    result = pywasi("run", "--argv0", "prog", "--env", "K=V", str(build_c("smoke")))
    assert result.stdout == "arg 0: prog\nK=V\n"
    assert result.returncode == 1


def test_only_given_env_is_visible() -> None:
    # The smoke guest prints K; the host's environment must not leak in.
    result = pywasi("run", str(build_c("smoke")), host_env={"K": "leaked"})
    assert "K=(unset)" in result.stdout


def test_env_name_alone_copies_the_host_value() -> None:
    result = pywasi("run", "--env", "K", str(build_c("smoke")), host_env={"K": "host"})
    assert "K=host" in result.stdout


def test_default_argv0_is_the_module_as_given() -> None:
    module = build_c("smoke")
    result = pywasi("run", str(module))
    assert result.stdout.splitlines()[0] == f"arg 0: {module}"


def test_dir_mapping_guest_name(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    result = pywasi("run", "--dir", f"{tmp_path}::/sandbox", "--dir", f"{tmp_path / 'b'}::/",
                    str(build_c("core_calls")), "prestat")
    assert (result.stdout, result.returncode) == ("PASS\n", 0)


def test_trap_prints_a_readable_message_and_fails(tmp_path: Path) -> None:
    module = tmp_path / "trap.wat"
    module.write_text(TRAP_WAT)
    result = pywasi("run", str(module))
    assert result.returncode == 134
    assert "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.one_path
def test_missing_module_is_a_clear_error(tmp_path: Path) -> None:
    result = pywasi("run", str(tmp_path / "nope.wasm"))
    assert result.returncode == 1
    assert "nope.wasm" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.one_path
def test_missing_preopen_is_a_clear_error(tmp_path: Path) -> None:
    result = pywasi("run", "--dir", str(tmp_path / "nope"), str(build_c("smoke")))
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_python_dash_m_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("pywasi")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([str(script), "run"], capture_output=True, text=True, timeout=60)
    assert (result.stdout, result.returncode) == ("hello world\n", 0)


def test_compiled_module_cache_is_used_and_survives_corruption(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    module = str(build_c("smoke"))
    first = pywasi("run", module, cache_dir=cache)
    entries = list(cache.glob("*.cwasm"))
    assert len(entries) == 1
    # A corrupt entry must be detected, not handed to wasmtime, and replaced.
    entries[0].write_bytes(entries[0].read_bytes()[:-100] + b"\0" * 100)
    second = pywasi("run", module, cache_dir=cache)
    assert second.stdout == first.stdout and second.returncode == first.returncode == 1
    entries[0].write_bytes(b"garbage")
    third = pywasi("run", module, cache_dir=cache)
    assert third.stdout == first.stdout
    assert entries[0].read_bytes().startswith(b"pywasi-cwasm-3\n")


def test_no_cache_writes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = pywasi("run", "--no-cache", str(build_c("smoke")), cache_dir=cache)
    assert result.returncode == 1
    assert not cache.exists()


def test_exception_handling_modules_run() -> None:
    module = Path(__file__).parent / "wat" / "exceptions.wat"
    result = pywasi("run", str(module))
    assert (result.returncode, result.stderr) == (5, "")
