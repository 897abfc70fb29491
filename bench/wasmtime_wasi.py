"""wasmtime's built-in WASI (the Rust implementation inside wasmtime-py), run as a command.

The reference host pywasi is compared with, by the benchmark and by the real-program tests.
"""

from __future__ import annotations

import wasmtime


def run_command(engine: wasmtime.Engine, module: wasmtime.Module,
                config: wasmtime.WasiConfig, *, epoch: bool = False) -> int:
    """Instantiate `module` with wasmtime's WASI configured by `config`, run `_start`, and
    return the exit code (0 when `_start` returns). `epoch`: the engine compiles epoch checks,
    so the store gets a deadline that is never reached."""
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    if epoch:
        store.set_epoch_deadline(1 << 62)  # checks compiled and run, never reached
    store.set_wasi(config)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    try:
        start(store)
    except wasmtime.ExitTrap as exit_:
        return exit_.code
    return 0
