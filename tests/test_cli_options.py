"""`pywasi` as a user drives it: Ctrl-C, -W/-S limits, --trace, --invoke, --version, help."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pywasi
from guest import build_c
from pywasi import cli, cli_options

REACTOR_WAT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $base (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $base (i32.const 100)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (global.get $base) (i32.add (local.get 0) (local.get 1)))))
"""


def pywasi_cli(*args: str, env: dict[str, str] | None = None,
               stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pywasi", *args], capture_output=True,
                          text=True, input=stdin, env={**os.environ, **(env or {})}, timeout=60)


def control() -> str:
    return str(build_c("control"))


# Ctrl-C in each mode: tests/test_stopping.py.


@pytest.mark.parametrize(("options", "mode", "status", "message"), [
    (["-W", "fuel=1000000"], ["compute"], 125, "all fuel consumed"),
    (["-W", "timeout=200ms"], ["compute"], 124, "timeout"),
    (["-W", "timeout=0.2s"], ["stdin"], 124, "timeout"),
    (["-W", "max-wasm-stack=65536"], ["recurse"], 123, "call stack exhausted"),
    (["-W", "max-memory-size=65536"], ["compute"], 122, "max-memory-size"),
    (["-S", "max-random-size=16"], ["random", "17"], 122, "max-random-size"),
])
def test_each_limit_has_its_exit_status(options: list[str], mode: list[str], status: int,
                                        message: str) -> None:
    guest = subprocess.Popen([sys.executable, "-m", "pywasi", *options, control(), *mode],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert guest.stderr is not None
    stderr = guest.stderr.read()  # stdin stays open while the guest reads it
    guest.wait(timeout=30)
    assert guest.returncode == status
    assert message in stderr and stderr.count("\n") == 1, stderr


def test_limits_under_their_bounds_change_nothing() -> None:
    result = pywasi_cli("-W", "fuel=100000000,timeout=30s,max-memory-size=100000000",
                        "-S", "max-random-size=16", control(), "random", "16")
    assert (result.returncode, result.stderr) == (0, "")


def test_max_resources_gives_the_guest_emfile(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    result = pywasi_cli("-S", "max-resources=8", "--dir", f"{tmp_path}::/d", control(),
                        "open", "/d/f")
    assert (result.stdout, result.returncode) == ("opened 4, then EMFILE\n", 0)


def test_trace_to_stderr_and_to_a_file(tmp_path: Path) -> None:
    module = tmp_path / "control.wasm"  # a copy: were --trace to take it for its file...
    module.write_bytes(Path(control()).read_bytes())
    result = pywasi_cli("run", "--trace", str(module), "random", "4")
    assert "random_get(<4 bytes>) = 0 <" in result.stderr
    trace = tmp_path / "trace.jsonl"
    result = pywasi_cli("--trace-format=json", f"--trace={trace}", control(), "random", "4")
    assert result.stderr == ""
    calls = [json.loads(line)["call"] for line in trace.read_text().splitlines()]
    assert calls[-1] == "random_get" and "args_get" in calls


def test_module_alone_is_short_for_run() -> None:
    result = pywasi_cli(control(), "random", "4")
    assert (result.returncode, result.stderr) == (0, "")
    assert pywasi_cli(control(), "exit").returncode == 2


def test_invoke_calls_a_reactor_export(tmp_path: Path) -> None:
    module = tmp_path / "reactor.wat"
    module.write_text(REACTOR_WAT)
    result = pywasi_cli("run", "--invoke", "add", str(module), "2", "0x3")
    assert (result.stdout, result.returncode) == ("105\n", 0)
    result = pywasi_cli("run", "--invoke", "add", str(module), "2")
    assert result.returncode == 1 and "takes 2 arguments, 1 given" in result.stderr


def test_inherit_env() -> None:
    module = str(build_c("smoke"))
    result = pywasi_cli("-S", "inherit-env", module, env={"K": "from-host"})
    assert "K=from-host" in result.stdout
    result = pywasi_cli("-S", "inherit-env", "--env", "K=given", module, env={"K": "host"})
    assert "K=given" in result.stdout
    assert "K=(unset)" in pywasi_cli(module, env={"K": "host"}).stdout


def test_version() -> None:
    result = pywasi_cli("--version")
    assert result.returncode == 0
    line = result.stdout.strip()
    assert line.startswith(f"pywasi {pywasi.__version__} (wasmtime-py ")
    assert "Python 3." in line and "trampoline" in line
    assert pywasi.__version__ != "0+unknown"


def test_unknown_option_after_run_prints_runs_usage() -> None:
    result = pywasi_cli("run", "--frobnicate", control())
    assert result.returncode == 2
    assert result.stderr.startswith("usage: pywasi run ")
    result = pywasi_cli("-W", "frobnicate=1", control())
    assert "unknown -W option 'frobnicate'" in result.stderr


def test_every_option_and_argument_has_help() -> None:
    for option in cli_options.RUN_OPTIONS + cli_options.TOP_OPTIONS:
        assert option.help, option.names
    text = pywasi_cli("run", "--help").stdout
    assert "max-random-size" in text and "124" in text  # the exit statuses are documented


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_compile_note_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_COMPILE_NOTE_AFTER", 0.05)
    terminal = _Terminal()
    with cli._compile_note("big.wasm", terminal):
        time.sleep(0.2)
    assert terminal.getvalue().startswith("compiling big.wasm (first run; cached afterwards)...")
    assert terminal.getvalue().endswith(" s\n") and terminal.getvalue().count("\n") == 1
    quick = _Terminal()
    with cli._compile_note("small.wasm", quick):
        pass
    assert quick.getvalue() == ""
    piped = io.StringIO()
    with cli._compile_note("big.wasm", piped):
        time.sleep(0.2)
    assert piped.getvalue() == ""


def run_options(words: list[str]) -> cli_options.RunOptions:
    options = cli_options.parse(words)
    assert isinstance(options, cli_options.RunOptions)
    return options


@pytest.mark.one_path
def test_the_command_line_reads_as_wasmtime_run_does() -> None:
    options = run_options(["-Wfuel=10,timeout=2s", "-W", "max-wasm-stack=4096",
                                 "--dir=/h::/g", "--dir-ro", "/r", "--trace", "m.wasm",
                                 "--dir", "x", "-W", "y"])
    assert options.limits == {"fuel": 10, "timeout": 2.0, "max_wasm_stack": 4096,
                              "interruptible": True}  # a timeout needs the epoch checks
    assert options.dirs == [("/h", "/g", False), ("/r", "/r", True)]
    assert (options.trace, options.module) == ("-", "m.wasm")  # a bare --trace takes no word
    assert options.args == ["--dir", "x", "-W", "y"]  # after MODULE: the guest's, unread
    options = run_options(["run", "--trace=t.log", "-S", "inherit-env", "--", "-m.wasm"])
    assert (options.trace, options.inherit_env, options.module) == ("t.log", True, "-m.wasm")
    assert run_options(["-S", "inherit-env=n", "m"]).inherit_env is False
    assert run_options(["m"]).limits == {"interruptible": False}  # as `wasmtime run`
    assert run_options(["-W", "epoch-interruption", "m"]).limits == {"interruptible": True}


@pytest.mark.one_path
@pytest.mark.parametrize(("words", "message"), [
    (["--no-cache=1", "m"], "--no-cache takes no value"),
    (["m", "--dir"], None),  # after MODULE: the guest's
    (["--dir"], "--dir needs a value: --dir HOST[::GUEST]"),
    (["--wasi-version", "p2", "m"], "invalid choice 'p2' (choose from preview1, unstable)"),
    (["--env", "=x", "m"], "bad --env '=x'"),
    (["--tcplisten", "host", "m"], "expected HOST:PORT"),
    (["-W", "fuel", "m"], "-W fuel needs a value: -W fuel=VALUE"),
    (["-S", "max-resources=-1", "m"],
     "-S max-resources=-1: bad count '-1': expected a whole number >= 0"),
    (["-x", "m"], "unrecognized option '-x'"),
])
def test_a_command_line_that_means_nothing_says_why(words: list[str],
                                                    message: str | None) -> None:
    if message is None:
        assert run_options(words).args == ["--dir"]
        return
    with pytest.raises(cli_options.UsageError, match=re.escape(message)) as error:
        cli_options.parse(words)
    assert error.value.prog == "pywasi"


@pytest.mark.one_path
def test_help_and_version_come_before_running() -> None:
    for words, version in (([], False), (["-V"], True), (["--help"], False)):
        top = cli_options.parse(words)
        assert isinstance(top, cli_options.TopLevel) and (top.version, top.help) == (
            version, not version)
    assert run_options(["run", "-h", "m"]).help
    text = cli_options.help_text("pywasi run", 60)
    options = text[text.index("options:"):text.index("exit status:")].splitlines()
    assert max(len(line) for line in options) <= 60  # wrapped to the width asked for
    assert "  --dir-ro HOST[::GUEST]" in options and "  --trace[=FILE]" in text
