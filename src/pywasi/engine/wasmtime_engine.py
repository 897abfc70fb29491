"""Load and instantiate: compile a module (through the on-disk cache) and link it with a WASI
object's system calls and an embedder's imports into a `WasmtimeInstance`.

With no store given, pywasi's own engine for the WASI object's limits (`engines`) and its own
store (`stores.OwnedStore`) are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import wasmtime

from ..errors import InvalidArgValueError, ModuleLoadError
from ..limits import TABLE_ELEMENTS_DEFAULT, Limits
from .base import WasiHost
from .cache import ModuleCache, cache_enabled, settings_of
from .engines import engine_for, epoch_checks
from .host_calls import define_imports, watchdog_for
from .host_imports import bind_memories, check_imports, link_imports
from .instance import WasmtimeInstance
from .stores import OwnedStore
from .traps import instantiation_failure

if TYPE_CHECKING:
    from .host_imports import Imports

__all__ = ["WasmtimeInstance", "instantiate", "load_module"]


def load_module(source: str | Path | bytes, engine: wasmtime.Engine | None = None, *,
                cache: bool = True, limits: Limits | None = None) -> wasmtime.Module:
    """Compile a module from a `.wasm`/`.wat` path or bytes, through the on-disk cache
    (unless `cache` is False or ``PYWASI_CACHE=0``, or `engine` has settings the cache cannot
    key: one not made by `make_engine`). With `limits` and no `engine`, it is compiled for the
    engine those limits need (see `engine_for`)."""
    engine = engine or engine_for(limits)
    settings = settings_of(engine) if cache and cache_enabled() else None  # None: no cache
    if isinstance(source, (str, Path)):
        try:
            # An unchanged file is not even read (see `ModuleCache.load_file`).
            known = (ModuleCache().load_file(engine, Path(source), settings)
                     if settings is not None else None)
            if known is not None:
                return known
            wasm: bytes = Path(source).read_bytes()
        except OSError as error:
            raise ModuleLoadError(f"cannot read module {str(source)!r}: {error.strerror}") from None
        except wasmtime.WasmtimeError as error:
            raise ModuleLoadError(f"cannot compile module: {error}") from None
    else:
        wasm = source
    try:
        if not wasm.startswith(b"\0asm"):
            wasm = bytes(wasmtime.wat2wasm(wasm.decode("utf-8", "replace")))
        if settings is not None:
            return ModuleCache().load(engine, wasm, settings)
        return wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as error:
        named = f" {str(source)!r}" if isinstance(source, (str, Path)) else ""
        raise ModuleLoadError(f"cannot compile module{named}: {error}") from None


def instantiate(wasi: WasiHost, module: wasmtime.Module | str | Path | bytes, *,
                imports: Imports | None = None, store: wasmtime.Store | None = None,
                cache: bool = True) -> WasmtimeInstance:
    """Compile (if need be) and instantiate `module` with `wasi`'s imports on wasmtime, and
    `imports` of your own beside them (see `host_imports`).

    With no `store`, pywasi's own engine is used: its memories never move, which saves a
    lookup per host call. A store of yours, on any engine, works too, at that small cost; a
    `wasmtime.Module` passed in must come from the store's engine.
    """
    limits = wasi.limits
    engine = store.engine if store is not None else engine_for(limits)
    if not isinstance(module, wasmtime.Module):
        module = load_module(module, engine, cache=cache)
    if store is None:
        store = OwnedStore(engine)
    check_imports(module, wasi, imports or {})
    _apply_limits(store, limits, owned=isinstance(store, OwnedStore))
    linker = wasmtime.Linker(engine)
    wanted = {(item.module, item.name) for item in module.imports}
    fuel = store if limits is not None and limits.fuel is not None else None
    wasi_imports = wasi.layered_imports(fuel)  # the one point where layers wrap the calls
    host_calls = define_imports(linker, wasi_imports, wasi.signatures, wanted)
    memories = link_imports(linker, store, module, imports or {}, host_calls)
    watchdog = watchdog_for(wasi, store, host_calls, epochs=epoch_checks(limits))
    timeout = limits.timeout if limits is not None else None
    try:
        # A start function is bounded by the timeout, but not watched for Ctrl-C: that costs
        # ~8 us, and WASI programs start from an export (`_start`), not a start function.
        with watchdog.running(timeout):
            instance = linker.instantiate(store, module)
    except wasmtime.Trap as trap:  # in the start section
        raise host_calls.failure(trap) from None
    except wasmtime.WasmtimeError as error:
        if host_calls.pending is not None:  # a host call in the start section failed
            raise host_calls.failure(error) from None
        raise instantiation_failure(error, limits) from None
    bound = WasmtimeInstance(store, instance, host_calls, wasi, watchdog=watchdog,
                             timeout=timeout)
    bind_memories(memories, bound)
    return bound


def _apply_limits(store: wasmtime.Store, limits: Limits | None, *, owned: bool) -> None:
    """The limits on `store`. A store of the embedder's keeps the resource limits it was given
    (wasmtime sets all of them at once) unless `limits` names a memory or table bound."""
    if limits is None:
        if not owned:
            return
        limits = Limits()
    if limits.fuel is not None:
        try:
            store.set_fuel(limits.fuel)
        except wasmtime.WasmtimeError:
            raise InvalidArgValueError(
                "Limits.fuel needs a store whose engine consumes fuel: leave out store= "
                "(pywasi makes one), or enable consume_fuel on your engine's config"
            ) from None
    memory_size = -1 if limits.max_memory_size is None else limits.max_memory_size
    table_elements = -1 if limits.max_table_elements is None else limits.max_table_elements
    if owned or limits.max_memory_size is not None \
            or limits.max_table_elements != TABLE_ELEMENTS_DEFAULT:
        store.set_limits(memory_size=memory_size, table_elements=table_elements)
