"""pywasi's wasmtime engines: the settings it relies on, and one engine per kind of limits.

Everything engine-bound is kept per engine (wasmtime ties a function type to the first engine
that uses it, and aborts the process if another engine uses it after), so any number of engines
and stores can be used in one process, from any thread. See `base` for the engine contract.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Final

import wasmtime

from ..limits import Limits
from .cache import remember_settings
from .interrupt import signal_watcher

# Engine settings pywasi relies on; also part of the compiled-module cache key.
ENGINE_SETTINGS: Final[Mapping[str, bool]] = {
    "memory_may_move": False,  # a memory's base address is fixed: no per-call lookup needed
    "wasm_exceptions": True,  # emitted by current toolchains (e.g. recent yowasp builds)
    "wasm_tail_call": True,
    "wasm_function_references": True,
    # No epoch checks, as `wasmtime run` and wasmtime-py compile: they cost call-heavy code up
    # to half its speed (bench/real_programs.py). A stop still ends every blocking wait and
    # stops the guest at its next host call (`host_calls.HostCalls.stop_flag`).
    "epoch_interruption": False,
}
# Fuel is counted by code compiled for it (a few % slower), so it has an engine of its own.
FUEL_SETTINGS: Final[Mapping[str, bool]] = {**ENGINE_SETTINGS, "consume_fuel": True}
# A timeout or `Limits(interruptible=True)`: epoch checks in the code, so that Ctrl-C,
# `interrupt()` and timeouts stop compute too (see `interrupt`).
INTERRUPTIBLE: Final[Mapping[str, bool]] = {"epoch_interruption": True}


def epoch_checks(limits: Limits | None) -> bool:
    """Whether a guest under `limits` is compiled with epoch checks: when asked for
    (``interruptible=True``), or, unless refused, when a timeout needs them."""
    if limits is None:
        return False
    if limits.interruptible is not None:
        return limits.interruptible
    return limits.timeout is not None


def make_engine(settings: Mapping[str, bool] = ENGINE_SETTINGS,
                max_wasm_stack: int | None = None) -> wasmtime.Engine:
    config = wasmtime.Config()
    for name, value in settings.items():
        setattr(config, name, value)
    if max_wasm_stack is not None:
        config.max_wasm_stack = max_wasm_stack  # a run-time bound: compiled code is the same
    engine = wasmtime.Engine(config)
    remember_settings(engine, settings)
    return engine


_default_engine: wasmtime.Engine | None = None
# pywasi's engines for limits, by (fuel, max_wasm_stack, epoch checks); the default one is
# (False, None, False).
_engines: dict[tuple[bool, int | None, bool], wasmtime.Engine] = {}
_ENGINES_LOCK: Final = threading.Lock()


def default_engine() -> wasmtime.Engine:
    """One engine per process, configured with `ENGINE_SETTINGS`, shared by all modules; made
    once even when several threads ask first at the same time."""
    global _default_engine
    engine = _default_engine
    if engine is None:
        with _ENGINES_LOCK:
            if _default_engine is None:
                _default_engine = _engines[False, None, False] = make_engine()
                signal_watcher.engines.append(_default_engine)
            engine = _default_engine
    return engine


def engine_for(limits: Limits | None) -> wasmtime.Engine:
    """pywasi's engine for guests under `limits`: the default engine, or (for fuel, a stack
    size or epoch checks) one made once per process for those settings, cached as well."""
    epochs = epoch_checks(limits)
    if limits is None or (limits.fuel is None and limits.max_wasm_stack is None
                          and not epochs):
        return default_engine()
    key = limits.fuel is not None, limits.max_wasm_stack, epochs
    with _ENGINES_LOCK:
        engine = _engines.get(key)
        if engine is None:
            settings = FUEL_SETTINGS if limits.fuel is not None else ENGINE_SETTINGS
            if epochs:
                settings = {**settings, **INTERRUPTIBLE}
            engine = _engines[key] = make_engine(settings, limits.max_wasm_stack)
            signal_watcher.engines.append(engine)
    return engine
