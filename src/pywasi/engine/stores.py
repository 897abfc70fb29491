"""Stores and the views of their memories: pywasi's own store, whose memories never move, and
`memory_view` for a memory of any store (see the engine contract in `base`)."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import wasmtime

from ..errors import MemoryGoneError
from ..memory import GuestMemory
from . import ffi


class OwnedStore(ffi.FreeNotifyingStore):
    """A store pywasi made on its own engine. Its memories never move, so their views are not
    looked up per call; instead every view is detached before wasmtime frees the store (by
    `close()` or by collection), so a later system call fails cleanly, not on freed memory."""

    def __init__(self, engine: wasmtime.Engine) -> None:
        self.memories: list[GuestMemory] = []
        super().__init__(engine)

    def before_free(self) -> None:
        for memory in self.memories:
            memory.detach()


def _context_finder(store: wasmtime.Store) -> Callable[[], int]:
    """The address of `store`'s context, looked up per use unless pywasi owns the store.

    The memory view must not keep a user's store alive: the store holds (natively, out of the
    garbage collector's sight) the host calls, which hold the WASI context, which holds the
    memory, so a strong reference back would be a cycle never collected. So a user's store is
    held weakly and checked on each lookup: once it is gone or closed, `MemoryGoneError`."""
    if isinstance(store, OwnedStore):
        address = ffi.context_address(store)
        return lambda: address
    held = weakref.ref(store)

    def find() -> int:
        alive = held()
        try:
            if alive is None:
                raise ValueError("collected")
            return ffi.context_address(alive)
        except ValueError:  # wasmtime-py's "already closed"
            raise MemoryGoneError() from None

    return find


def memory_view(store: wasmtime.Store, memory: wasmtime.Memory, movable: list[GuestMemory]
                ) -> GuestMemory:
    """A `GuestMemory` over `memory`, a memory of `store` (see the engine contract in `base`
    for how it follows the memory and is detached when the store goes). On a store that may
    move memory it is added to `movable`, the memories plain host functions relocate."""
    find_context = _context_finder(store)
    window = ffi.MemoryWindow(memory)

    def locate() -> tuple[memoryview, int]:
        return window.locate(find_context())

    if isinstance(store, OwnedStore):
        guest = GuestMemory(locate)
        store.memories.append(guest)
    else:
        # Any engine's settings may let memory move; a user's store is also checked to be
        # alive on each lookup (see `_context_finder`).
        guest = GuestMemory(locate, movable=True)
        movable.append(guest)
        weakref.finalize(store, guest.detach)
    return guest
