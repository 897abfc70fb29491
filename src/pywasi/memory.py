"""Bounds-checked access to a guest's linear memory, independent of the engine.

The engine hands over a writable buffer that covers the memory at `base`, the memory's current
size, and a way to ask again. Linear memory only ever grows, so a pointer that fits the last known
size is always valid; only a pointer beyond it makes us ask the engine for the new size.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct

from .abi.errno import WasiErrno
from .abi.layouts import U32, U32_PAIR, U64
from .abi.types import Errno

Locate = Callable[[], "tuple[int, int]"]
"""Returns the memory's current (base offset in the buffer, size in bytes)."""


class GuestMemory:
    """Guest pointers in, Python bytes and views out; a pointer out of bounds raises EFAULT."""

    __slots__ = ("_buf", "_base", "_size", "_locate")

    def __init__(self, buf: memoryview, locate: Locate) -> None:
        self._buf = buf
        self._locate = locate
        self._base, self._size = locate()

    def relocate(self) -> None:
        """Ask the engine again where the memory is (after it may have moved or grown)."""
        self._base, self._size = self._locate()

    @property
    def size(self) -> int:
        return self._size

    def _at(self, ptr: int, length: int) -> int:
        if ptr + length > self._size:
            self.relocate()
            if ptr + length > self._size:
                raise WasiErrno(Errno.FAULT)
        return self._base + ptr

    def check(self, ptr: int, length: int) -> None:
        """Fail now with EFAULT if a result could not be stored later: a call must not act
        (write a file, say) and then be unable to report it."""
        self._at(ptr, length)

    def read(self, ptr: int, length: int) -> bytes:
        at = self._at(ptr, length)
        return self._buf[at : at + length].tobytes()

    def view(self, ptr: int, length: int) -> memoryview:
        """A zero-copy, writable window; valid only until the guest runs again."""
        at = self._at(ptr, length)
        return self._buf[at : at + length]

    def write(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        at = self._at(ptr, len(data))
        self._buf[at : at + len(data)] = data

    def unpack(self, layout: Struct, ptr: int) -> tuple[int, ...]:
        return layout.unpack_from(self._buf, self._at(ptr, layout.size))

    def pack(self, layout: Struct, ptr: int, *values: int) -> None:
        layout.pack_into(self._buf, self._at(ptr, layout.size), *values)

    def load_u32(self, ptr: int) -> int:
        at = self._at(ptr, 4)
        return U32.unpack_from(self._buf, at)[0]  # type: ignore[no-any-return]

    def store_u32(self, ptr: int, value: int) -> None:
        U32.pack_into(self._buf, self._at(ptr, 4), value)

    def store_u64(self, ptr: int, value: int) -> None:
        U64.pack_into(self._buf, self._at(ptr, 8), value)

    def iovecs(self, ptr: int, count: int) -> list[memoryview]:
        """The buffers of an (c)iovec array, each checked against the memory's bounds."""
        table = self._at(ptr, 8 * count)
        buf = self._buf
        views = []
        for offset in range(table, table + 8 * count, 8):
            data, length = U32_PAIR.unpack_from(buf, offset)
            at = self._at(data, length)
            views.append(buf[at : at + length])
        return views


class _UnboundMemory(GuestMemory):
    """Stands in before `finalize_bindings`, so the context's memory is never None."""

    def __init__(self) -> None:
        super().__init__(memoryview(b""), lambda: (0, 0))


UNBOUND_MEMORY = _UnboundMemory()
