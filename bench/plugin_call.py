"""Per-call cost of a plugin call: the README's text-transform plugin (tests/c/plugin_upper.c,
a reactor) called from Python with a short string, under pywasi and under wasmtime-py's own
route (its built-in WASI, `env.log` as a `wasmtime.Func`, the data through the guest's malloc
and free by hand).

    python bench/plugin_call.py [--calls N]

Also times one call of a host import from the guest (`describe_many(N)`, which calls `env.log`
N times), on pywasi's raw-callback path and on wasmtime-py's `Func` path.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime

import pywasi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from guest import build_c  # noqa: E402

IMPORT_CALLS = 1000


def per_call(function: Callable[[], object], calls: int) -> float:
    """Microseconds per call, the best of five runs of `calls` calls."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def pywasi_plugin(wasm: Path) -> tuple[Callable[[], object], Callable[[], object]]:
    wasi = pywasi.WASI(version="preview1")
    plugin = pywasi.instantiate(wasi, wasm, imports={"env": {"log": lambda ptr, length: None}})
    wasi.initialize(plugin)
    return (lambda: plugin.call_str("upper", "hello plugin")), \
        (lambda: plugin.call("describe_many", IMPORT_CALLS))


def wasmtime_plugin(wasm: Path) -> tuple[Callable[[], object], Callable[[], object]]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    log_type = wasmtime.FuncType([wasmtime.ValType.i32(), wasmtime.ValType.i32()], [])
    linker.define(store, "env", "log", wasmtime.Func(store, log_type, lambda ptr, length: None))
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    exports = instance.exports(store)
    functions = {name: exports[name] for name in ("_initialize", "malloc", "free", "upper",
                                                  "describe_many")}
    memory = exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    calls = {name: function for name, function in functions.items()
             if isinstance(function, wasmtime.Func)}
    calls["_initialize"](store)

    def upper() -> str:
        data = b"hello plugin"
        ptr = calls["malloc"](store, len(data))
        memory.write(store, data, ptr)
        packed = calls["upper"](store, ptr, len(data))
        calls["free"](store, ptr)
        out_ptr, length = (packed >> 32) & 0xFFFFFFFF, packed & 0xFFFFFFFF
        text = memory.read(store, out_ptr, out_ptr + length).decode()
        calls["free"](store, out_ptr)
        return text

    return upper, (lambda: calls["describe_many"](store, IMPORT_CALLS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    options = parser.parse_args()
    wasm = build_c("plugin_upper")
    print(f"{'host':<12} {'call_str(upper)':>16} {'guest -> env.log':>18}")
    for name, make in (("pywasi", pywasi_plugin), ("wasmtime-py", wasmtime_plugin)):
        upper, describe = make(wasm)
        assert upper() == "HELLO PLUGIN"
        import_cost = per_call(describe, options.calls // 100) / IMPORT_CALLS
        print(f"{name:<12} {per_call(upper, options.calls):>13.2f} µs "
              f"{import_cost:>15.2f} µs")


if __name__ == "__main__":
    main()
