"""Building and running guest programs for the tests.

C sources in tests/c are compiled with zig from PyPI (``python -m ziglang cc -target
wasm32-wasi``) into tests/.build, keyed by a hash of the source, the flags and the zig version,
so a source is compiled once and reused until it changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pywasi

TESTS = Path(__file__).parent
C_SOURCES = TESTS / "c"
BUILD = TESTS / ".build"
CFLAGS = ("-target", "wasm32-wasi", "-O2", "-Wall", "-Werror")
# Guests that are reactors (plugins): no main, an allocator the host calls.
GUEST_FLAGS = {
    "plugin_upper": ("-mexec-model=reactor", "-Wl,--export=malloc", "-Wl,--export=free"),
}


def build_c(name: str, *extra_flags: str) -> Path:
    """Compile tests/c/<name>.c (with tests/c/check.h available) once; return the .wasm."""
    source = C_SOURCES / f"{name}.c"
    flags = CFLAGS + GUEST_FLAGS.get(name, ()) + extra_flags
    key = hashlib.sha256()
    key.update(version("ziglang").encode() + repr(flags).encode())
    for dependency in (source, C_SOURCES / "check.h"):
        key.update(dependency.read_bytes())
    output = BUILD / f"{name}-{key.hexdigest()[:16]}.wasm"
    if not output.exists():
        BUILD.mkdir(exist_ok=True)
        temp = output.with_suffix(".tmp")
        compiler = subprocess.run(
            [sys.executable, "-m", "ziglang", "cc", *flags, str(source), "-o", str(temp)],
            capture_output=True, text=True,
        )
        if compiler.returncode:
            raise RuntimeError(f"compiling {source.name} failed:\n{compiler.stderr}")
        os.replace(temp, output)
    return output


@dataclass
class Run:
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode()


def run_guest(
    module: Path | str | bytes,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    preopens: Mapping[str, object] | None = None,
    stdin: bytes = b"",
    version: str = "preview1",
    **wasi_options: Any,
) -> Run:
    """Run a guest in this process with stdio on temporary files; return what it did."""
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout, \
            tempfile.TemporaryFile() as ferr:
        fin.write(stdin)
        fin.seek(0)
        wasi = pywasi.WASI(
            version=version, args=["guest", *args], env=env or {}, preopens=preopens or {},
            stdin=fin.fileno(), stdout=fout.fileno(), stderr=ferr.fileno(), **wasi_options,
        )
        code = wasi.start(pywasi.instantiate(wasi, module))
        fout.seek(0)
        ferr.seek(0)
        return Run(code, fout.read(), ferr.read())
