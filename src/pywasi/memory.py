"""Bounds-checked access to a guest's linear memory, independent of the engine.

The engine hands over a way to find the memory: a writable buffer that starts at the memory's
first byte (so guest pointers index it directly, as small and fast Python ints) and the
memory's current size. Linear memory only ever grows, so a pointer that fits the last known
size is always valid; only a pointer beyond it makes us ask the engine for the new size.

A memory whose engine may move it (`movable`) must be relocated before use after the guest has
run; one whose store is gone is `detach`ed, after which every access raises `MemoryGoneError`
instead of touching freed memory. Pointers and lengths arrive as the ABI's unsigned values
(`SystemCall` and the engines normalise them); a negative one is still EFAULT, never an index
from the end of the buffer.

This class is on the path of every system call, so its methods check bounds inline rather than
through a shared helper (each saved Python call is measurable per host call), and store aligned
u32/u64 results through typed views of the buffer, which costs half of a `struct.pack_into`.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct

from .abi.errno import WasiErrno
from .abi.layouts import U32, U32_PAIR, U64
from .abi.types import Errno
from .errors import MemoryGoneError
from .limits import IO_BYTES_MAX, IOV_MAX

Locate = Callable[[], "tuple[memoryview, int]"]
"""Returns a buffer starting at the memory's first byte, and its current size in bytes."""

BufferIO = tuple[Callable[[memoryview], int], Callable[[list[memoryview]], int]]
"""A read or a write as `transfer` runs it: on one buffer (the usual case, so it gets its own
entry, which can skip building a list), and on a list of them. Each returns the bytes moved."""

_store_u32 = U32.pack_into
_store_u64 = U64.pack_into
_load_iovec = U32_PAIR.unpack_from
_IOVEC_TABLES: dict[int, Struct] = {}  # (c)iovec arrays by length, read with one unpack


def _iovec_table(count: int) -> Struct:
    table = _IOVEC_TABLES.get(count)
    if table is None:
        table = Struct(f"<{2 * count}I")
        if count <= 64:
            _IOVEC_TABLES[count] = table
    return table


class GuestMemory:
    """Guest pointers in, Python bytes and views out; a pointer out of bounds raises EFAULT."""

    __slots__ = ("_buf", "_u32", "_u64", "_size", "_last_u32", "_last_u64", "_locate", "movable")

    def __init__(self, locate: Locate, *, movable: bool = False) -> None:
        self._locate = locate
        self._buf = memoryview(b"")
        self.movable = movable
        self.relocate()

    def relocate(self) -> None:
        """Ask the engine again where the memory is (after it may have moved or grown)."""
        buf, size = self._locate()
        # The last offsets a u32 and a u64 fit at: `0 <= ptr <= last` checks both bounds
        # with one chained comparison and no addition, as cheap as the upper bound alone.
        self._size, self._last_u32, self._last_u64 = size, size - 4, size - 8
        if buf is not self._buf:
            self._buf, self._u32, self._u64 = buf, buf.cast("I"), buf.cast("Q")

    def detach(self) -> None:
        """The memory's store is gone: from now on every access raises `MemoryGoneError`
        (an empty buffer fails every bounds check, and relocating then fails)."""
        self._locate = _gone
        self._buf = self._u32 = self._u64 = memoryview(b"")
        self._size, self._last_u32, self._last_u64 = 0, -4, -8
        self.movable = False

    def _require(self, ptr: int, length: int) -> None:
        """Called when `ptr`..`ptr + length` is not known to be in bounds: negative, or past
        the known size (the memory may have grown since)."""
        if ptr < 0 or length < 0:
            raise WasiErrno(Errno.FAULT)
        self.relocate()
        if ptr + length > self._size:
            raise WasiErrno(Errno.FAULT)

    def check(self, ptr: int, length: int) -> None:
        """Fail now with EFAULT if a result could not be stored later: a call must not act
        (write a file, say) and then be unable to report it."""
        if ptr + length > self._size or ptr < 0 or length < 0:
            self._require(ptr, length)

    def read(self, ptr: int, length: int) -> bytes:
        if ptr + length > self._size or ptr < 0 or length < 0:
            self._require(ptr, length)
        return self._buf[ptr : ptr + length].tobytes()

    def view(self, ptr: int, length: int) -> memoryview:
        """A zero-copy, writable window; valid only until the guest runs again."""
        if ptr + length > self._size or ptr < 0 or length < 0:
            self._require(ptr, length)
        return self._buf[ptr : ptr + length]

    def write(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        if ptr + len(data) > self._size or ptr < 0:
            self._require(ptr, len(data))
        self._buf[ptr : ptr + len(data)] = data

    def unpack(self, layout: Struct, ptr: int) -> tuple[int, ...]:
        if ptr + layout.size > self._size or ptr < 0:
            self._require(ptr, layout.size)
        return layout.unpack_from(self._buf, ptr)

    def pack(self, layout: Struct, ptr: int, *values: int) -> None:
        if ptr + layout.size > self._size or ptr < 0:
            self._require(ptr, layout.size)
        layout.pack_into(self._buf, ptr, *values)

    def store_u32(self, ptr: int, value: int) -> None:
        if not 0 <= ptr <= self._last_u32:
            self._require(ptr, 4)
        if ptr & 3:
            _store_u32(self._buf, ptr, value)
        else:
            self._u32[ptr >> 2] = value

    def store_u64(self, ptr: int, value: int) -> None:
        if not 0 <= ptr <= self._last_u64:
            self._require(ptr, 8)
        if ptr & 7:
            _store_u64(self._buf, ptr, value)
        else:
            self._u64[ptr >> 3] = value

    def transfer(self, iovs: int, count: int, result_out: int, io: BufferIO) -> None:
        """Run `io` (a read or a write) over the buffers of an (c)iovec array and store the
        u32 it returns at `result_out`, checked first: no I/O may happen that could not be
        reported. fd_read and fd_write are the hottest calls, hence one method, not three."""
        buf, size = self._buf, self._size
        if not (0 <= result_out <= self._last_u32 and 0 <= iovs <= size - 8 * count):
            if count > IOV_MAX:  # EINVAL before EFAULT, as readv(2) checks
                raise WasiErrno(Errno.INVAL)
            self.check(result_out, 4)
            self.check(iovs, 8 * count)
            buf, size = self._buf, self._size
        if count == 1:  # the usual case, inline
            data, length = _load_iovec(buf, iovs)  # u32s: never negative
            if data + length > size:
                self._require(data, length)
            moved = io[0](buf[data : data + length])
        else:
            moved = io[1](self.iovecs(iovs, count))
        if result_out & 3:
            _store_u32(buf, result_out, moved)
        else:
            self._u32[result_out >> 2] = moved

    def iovecs(self, ptr: int, count: int) -> list[memoryview]:
        """The buffers of an (c)iovec array, each checked against the memory's bounds; more
        than IOV_MAX is EINVAL, and buffers past IO_BYTES_MAX in all are cut (see `limits`)."""
        if count > IOV_MAX:
            raise WasiErrno(Errno.INVAL)
        if ptr + 8 * count > self._size or ptr < 0 or count < 0:
            self._require(ptr, 8 * count)
        buf = self._buf
        if count == 1:  # the common case, without building a table
            data, length = _load_iovec(buf, ptr)  # u32s: never negative
            if data + length > self._size:
                self._require(data, length)
            return [buf[data : data + length]]
        fields = _iovec_table(count).unpack_from(buf, ptr)
        views = []
        room = IO_BYTES_MAX
        for index in range(0, 2 * count, 2):
            data, length = fields[index], fields[index + 1]
            if data + length > self._size:
                self._require(data, length)
            views.append(buf[data : data + min(length, room)])
            room -= min(length, room)
        return views


def _gone() -> tuple[memoryview, int]:
    raise MemoryGoneError()


class _UnboundMemory(GuestMemory):
    """Stands in before `finalize_bindings`, so the context's memory is never None."""

    def __init__(self) -> None:
        super().__init__(lambda: (memoryview(bytearray()), 0))


UNBOUND_MEMORY = _UnboundMemory()
