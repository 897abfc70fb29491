"""wasmtime's built-in WASI (the Rust implementation inside wasmtime-py), run as a command.

The reference host pywasi is compared with, by the benchmark and by the real-program tests.
"""

from __future__ import annotations

import wasmtime


def run_command(engine: wasmtime.Engine, module: wasmtime.Module,
                config: wasmtime.WasiConfig) -> int:
    """Instantiate `module` with wasmtime's WASI configured by `config`, run `_start`, and
    return the exit code (0 when `_start` returns)."""
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_wasi(config)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    try:
        start(store)
    except wasmtime.ExitTrap as exit_:
        return exit_.code
    return 0
