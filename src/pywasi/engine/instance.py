"""`WasmtimeInstance`: an instantiated module with its store, as `WASI.start()` runs it.

A call into the guest enters the WASI object's hooks, Ctrl-C's watch and the timeout once, and
turns wasmtime's traps into the exceptions of `traps` or into what a host call raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Final

import wasmtime

from ..errors import InstanceClosedError, InvalidArgValueError
from ..memory import GuestMemory
from . import ffi
from .base import ExportKind, WasiHost
from .exports import ExportAccess, ExportCall
from .host_calls import HostCalls
from .interrupt import Watchdog, signal_watcher
from .stores import OwnedStore, memory_view

_EXPORT_KINDS: Final[dict[type, ExportKind]] = {
    wasmtime.Func: "func",
    wasmtime.Memory: "memory",
    wasmtime.Table: "table",
    wasmtime.Global: "global",
}


class WasmtimeInstance(ExportAccess):
    """A wasmtime instance with its store: what `WASI.start()` and friends accept, with typed
    exports (`func`, `memory`, `call_str`...: see `exports.ExportAccess`).

    A context manager: `close()` (or the end of the `with` block) closes the guest's host
    descriptors and, if pywasi made the store, the store. Without it, both are released when
    nothing can reach them any more (the WASI object, the instance and the store)."""

    def __init__(self, store: wasmtime.Store, instance: wasmtime.Instance,
                 host_calls: HostCalls, wasi: WasiHost | None = None, *,
                 watchdog: Watchdog,
                 timeout: float | None = None) -> None:
        self.store = store
        self.instance = instance
        self.exports = instance.exports(store)
        self._host_calls = host_calls
        self._wasi = wasi
        self._closed = False
        self._calls: dict[str, ExportCall] = {}
        self._memory = None
        self._watchdog = watchdog
        self._timeout = timeout
        # The WASI object's hooks (flush the host's stdio before a call, raise what a Python
        # stdio object raised after), entered once however deeply calls nest.
        self._around_call: AbstractContextManager[None] = (
            wasi.around_guest_call if wasi is not None else nullcontext())

    def __enter__(self) -> WasmtimeInstance:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the WASI object's descriptors and the store pywasi made (not one passed in
        with ``store=``, which its owner closes); calling exports afterwards is an error."""
        self._closed = True
        if self._wasi is not None:
            self._wasi.close()
        if isinstance(self.store, OwnedStore):
            self.store.close()

    def export_kind(self, name: str) -> ExportKind | None:
        item = self.exports.get(name)
        if item is None:
            return None
        return _EXPORT_KINDS.get(type(item), "tag")

    def guest_memory(self, memory: object | None = None) -> GuestMemory | None:
        if memory is None:
            memory = self.exports.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return None
        if ffi.memory_store_id(memory) != ffi.instance_store_id(self.instance):
            # wasmtime would panic (abort the process) on the first use.
            raise InvalidArgValueError(
                "The memory belongs to another wasmtime.Store than the instance: pass a memory "
                "of the instance's own store (one of its exports, or one made with its store)"
            )
        return memory_view(self.store, memory, self._host_calls.movable)

    def call(self, name: str, *args: Any) -> Any:
        """Call an exported function, turning traps into `GuestTrap` and re-raising what a
        host call raised (such as `ProcExit`) from the trap it caused, between the WASI
        object's hooks (which flush the host's stdio before, and raise what a Python stdio
        object raised after). Ctrl-C stops it with KeyboardInterrupt; `Limits.timeout` bounds
        it."""
        with self.calling():
            return self.call_within(name, *args)

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Around one or more `call_within`s: the WASI object's hooks, Ctrl-C, the timeout,
        and traps turned into the exceptions `call` raises (one entry for a plugin call's
        several calls into the guest: entering costs a few µs)."""
        if self._closed:
            raise InstanceClosedError()
        with self._around_call:
            try:
                with signal_watcher.watching(), self._watchdog.running(self._timeout):
                    yield
            except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
                raise self._host_calls.failure(trap) from None

    def call_within(self, name: str, *args: Any) -> Any:
        """Call the export `name`, checked, inside `calling()`."""
        export = self.export_call(name)
        return export.invoke(self.store, export.arguments(args))

    def interrupt(self) -> None:
        """Stop the guest from any thread: its running call raises `GuestInterrupted` at the
        next loop iteration or call in wasm, or out of a blocking poll_oneoff, promptly."""
        self._watchdog.stop()
