"""The embedder's view of a guest's memory, and data in and out of a plugin in one call.

`Memory` is what host functions (`HostFunc(..., memory=True)`) and `instance.memory` hand out:
bounds-checked reads and writes of bytes, text and integers at guest pointers, raising
`IndexError` (not the guest's EFAULT) for an access outside the memory.

`call_bytes`/`call_str` (methods of `WasmtimeInstance`) follow one convention, the usual one
for C plugins: the export takes a pointer and a length (the input, copied into memory the
guest's own allocator gave, `cabi_realloc` or `malloc`) and returns an i64 packing the
output's pointer (high 32 bits) and length (low 32 bits); the output was allocated by the
guest and is given back to its `free` (when it exports one) once copied out.
"""

from __future__ import annotations

from struct import Struct
from typing import Final

from .abi.errno import WasiErrno
from .memory import GuestMemory

_INTS: Final = {(4, False): Struct("<I"), (4, True): Struct("<i"),
                (8, False): Struct("<Q"), (8, True): Struct("<q")}


class Memory:
    """A guest's linear memory, as the embedder reads and writes it. Valid while its instance
    (and store) is; the memory may grow between calls, which every access allows for."""

    __slots__ = ("_guest", "_unbound")

    def __init__(self, guest: GuestMemory | None = None, unbound: str = "") -> None:
        self._guest = guest
        self._unbound = unbound or "the instance exports no memory"

    def _bind(self, guest: GuestMemory | None, unbound: str) -> None:
        self._guest, self._unbound = guest, unbound

    def _memory(self) -> GuestMemory:
        if self._guest is None:
            raise LookupError(self._unbound)
        return self._guest

    @property
    def size(self) -> int:
        """The memory's current size in bytes."""
        guest = self._memory()
        guest.relocate()
        return guest._size

    def _out_of_bounds(self, ptr: int, length: int) -> IndexError:
        return IndexError(f"guest memory access of {length} bytes at {ptr} is out of bounds "
                          f"(the memory has {self.size} bytes): check the pointer and length")

    def read(self, ptr: int, length: int) -> bytes:
        try:
            return self._memory().read(ptr, length)
        except WasiErrno:
            raise self._out_of_bounds(ptr, length) from None

    def write(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        try:
            self._memory().write(ptr, data)
        except WasiErrno:
            raise self._out_of_bounds(ptr, len(data)) from None

    def read_str(self, ptr: int, length: int, encoding: str = "utf-8") -> str:
        return self.read(ptr, length).decode(encoding)

    def write_str(self, ptr: int, text: str, encoding: str = "utf-8") -> int:
        """Write `text` encoded (no terminating NUL); returns the number of bytes written."""
        data = text.encode(encoding)
        self.write(ptr, data)
        return len(data)

    def read_cstr(self, ptr: int, limit: int = 1 << 16, encoding: str = "utf-8") -> str:
        """The NUL-terminated string at `ptr` (at most `limit` bytes are searched)."""
        end = min(self.size, ptr + limit)
        data = self.read(ptr, max(end - ptr, 0))
        nul = data.find(b"\0")
        if nul < 0:
            raise ValueError(f"no NUL within {limit} bytes at {ptr}: pass a larger limit=")
        return data[:nul].decode(encoding)

    def read_int(self, ptr: int, size: int = 4, *, signed: bool = False) -> int:
        """A little-endian integer of `size` bytes (4 or 8)."""
        layout = _INTS[size, signed]
        return int(layout.unpack(self.read(ptr, layout.size))[0])

    def write_int(self, ptr: int, value: int, size: int = 4) -> None:
        """A little-endian integer of `size` bytes (4 or 8), of either sign."""
        layout = _INTS[size, value < 0]
        self.write(ptr, layout.pack(value))
