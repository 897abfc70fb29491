"""Run a WASI command on wasmtime-py's built-in WASI in a process of its own, with wasmtime's
own compiled-code cache: the rival `real_programs.py` measures pywasi against.

    python bench/wasmtime_cli.py [--epoch] CACHE_CONFIG.toml HOST::GUEST,... MODULE ARG...

The engine is configured as pywasi's (`ENGINE_SETTINGS`), so both compile the same code;
``--epoch`` compiles epoch checks as well (``Config.epoch_interruption``), the rival of
pywasi's ``Limits(interruptible=True)``.
"""

from __future__ import annotations

import sys

import wasmtime

from wasmtime_wasi import run_command

# pywasi's own engine settings, written out: importing pywasi here would add its start-up.
_SETTINGS = {"wasm_exceptions": True, "wasm_tail_call": True, "wasm_function_references": True}


def main(argv: list[str]) -> int:
    epoch = argv[:1] == ["--epoch"]
    cache_config, dirs, module_path, *args = argv[1:] if epoch else argv
    config = wasmtime.Config()
    config.epoch_interruption = epoch
    for name, value in _SETTINGS.items():
        setattr(config, name, value)
    config.cache = cache_config
    engine = wasmtime.Engine(config)
    wasi = wasmtime.WasiConfig()
    wasi.argv = args
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for mapping in filter(None, dirs.split(",")):
        host, guest = mapping.split("::")
        wasi.preopen_dir(host, guest)
    with open(module_path, "rb") as file:
        module = wasmtime.Module(engine, file.read())
    return run_command(engine, module, wasi, epoch=epoch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
