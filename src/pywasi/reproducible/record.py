"""`WASI(record=...)`: every system call's inputs and the host's answer, written to a log.

While a call runs, the context's memory is a `WatchedMemory`: each range the host may write
(a view, a store, an iovec buffer) is copied before the call; after it, the runs that changed
are logged. Replaying them into the same memory state is the same answer, so the log holds
exactly the bytes the host gave the guest, never the guest's own (its writes are hashed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from struct import Struct
from typing import IO, Any, Final

from ..abi.layouts import U32_PAIR
from ..abi.signatures import Signature
from ..errors import ProcExit
from ..memory import BufferIO, GuestMemory
from ..syscalls import SystemCall, WasiContext, errno_of
from ..trace import _CALLS, _PAIRS
from . import logformat

try:  # CPython's own SHA-256 (3.11's module, then 3.12's): OpenSSL behind hashlib costs a
    # recording 2.5-7 ms to load, and this is the only hash it needs
    from _sha256 import sha256  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    try:
        from _sha2 import sha256  # type: ignore[import-not-found, no-redef, unused-ignore]
    except ImportError:  # not CPython
        from hashlib import sha256  # type: ignore[assignment, unused-ignore]

# Per call: (index of the pointer argument, kind) of each (pointer, length) parameter.
_PAIR_ARGS: Final[dict[str, list[tuple[int, str]]]] = {}
for _name, _spec in _CALLS.items():
    _at, _pairs = 0, []
    for _item in _spec.split():
        _kind = _item.partition(":")[2].lstrip(">")
        if _kind in _PAIRS:
            _pairs.append((_at, _kind))
        _at += 2 if _kind in _PAIRS else 1
    _PAIR_ARGS[_name] = _pairs


def guest_inputs(name: str, memory: GuestMemory, args: tuple[int, ...],
                 keep_writes: bool) -> list[dict[str, str]]:
    """What the guest gave a call beyond its integers: paths, and the data it writes."""
    inputs = []
    for at, kind in _PAIR_ARGS.get(name, ()):
        ptr, length = args[at], args[at + 1]
        try:
            if kind == "path":
                inputs.append({"path": logformat.path_text(memory.read(ptr, length))})
            elif kind in ("ciovs", "iovs"):
                vec = memory.read(ptr, 8 * min(length, 1024))
                entry = {"vec": logformat.encode(vec)}
                if kind == "ciovs":
                    data = b"".join(memory.read(*U32_PAIR.unpack_from(vec, 8 * index))
                                    for index in range(len(vec) // 8))
                    entry.update({"data": logformat.encode(data)} if keep_writes
                                 else {"sha": sha256(data).hexdigest()[:32]})
                inputs.append(entry)
        except Exception:  # noqa: BLE001 - a bad pointer: the call itself says EFAULT
            inputs.append({"bad": str(ptr)})
    return inputs


def _changed(before: bytes, after: bytes) -> tuple[int, int]:
    """The smallest span [start, end) outside which `before` and `after` agree (equal
    lengths, known to differ), by binary search over slice comparisons (memcmp speed)."""
    low, high = 0, len(after)  # the common prefix is at least `low` and less than `high`
    while low < high:
        middle = (low + high + 1) // 2
        if before[:middle] == after[:middle]:
            low = middle
        else:
            high = middle - 1
    start = low
    low, high = 0, len(after) - start
    while low < high:
        middle = (low + high + 1) // 2
        if before[len(before) - middle:] == after[len(after) - middle:]:
            low = middle
        else:
            high = middle - 1
    return start, len(after) - low


class WatchedMemory(GuestMemory):
    """The guest's memory as a call sees it, noting (and copying) each range the host may
    write, so that `changes` can say which bytes it did write."""

    __slots__ = ("_real", "_before")

    def __init__(self, real: GuestMemory) -> None:  # noqa: D107 - no engine lookup here
        self._real = real
        self._before: list[tuple[int, bytes]] = []
        self.movable = real.movable

    def _note(self, ptr: int, length: int) -> None:
        if length:
            self._before.append((ptr, self._real.read(ptr, length)))

    def changes(self) -> list[list[Any]]:
        """[address, bytes] of every run the host changed since the call began."""
        out = []
        for ptr, before in self._before:
            after = self._real.read(ptr, len(before))
            if after != before:
                start, end = _changed(before, after)
                out.append([ptr + start, after[start:end]])
        return out

    def relocate(self) -> None:
        self._real.relocate()

    def detach(self) -> None:
        self._real.detach()

    def check(self, ptr: int, length: int) -> None:
        self._real.check(ptr, length)

    def read(self, ptr: int, length: int) -> bytes:
        return self._real.read(ptr, length)

    def view(self, ptr: int, length: int) -> memoryview:
        window = self._real.view(ptr, length)
        self._note(ptr, length)
        return window

    def write(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        self._real.check(ptr, len(data))
        self._note(ptr, len(data))
        self._real.write(ptr, data)

    def unpack(self, layout: Struct, ptr: int) -> tuple[int, ...]:
        return self._real.unpack(layout, ptr)

    def pack(self, layout: Struct, ptr: int, *values: int) -> None:
        self._real.check(ptr, layout.size)
        self._note(ptr, layout.size)
        self._real.pack(layout, ptr, *values)

    def store_u32(self, ptr: int, value: int) -> None:
        self._real.check(ptr, 4)
        self._note(ptr, 4)
        self._real.store_u32(ptr, value)

    def store_u64(self, ptr: int, value: int) -> None:
        self._real.check(ptr, 8)
        self._note(ptr, 8)
        self._real.store_u64(ptr, value)

    def transfer(self, iovs: int, count: int, result_out: int, io: BufferIO) -> None:
        views = self.iovecs(iovs, count)
        self._real.check(result_out, 4)
        self.store_u32(result_out, io[1](views))

    def iovecs(self, ptr: int, count: int) -> list[memoryview]:
        views = self._real.iovecs(ptr, count)
        fields = self._real.read(ptr, 8 * len(views))
        for index, window in enumerate(views):
            self._note(U32_PAIR.unpack_from(fields, 8 * index)[0], len(window))
        return views


class Recorder:
    """Writes the log of one WASI instance's calls (the header first)."""

    def __init__(self, target: str | os.PathLike[str] | IO[Any], abi: str,
                 keep_writes: bool, record_format: str = "json") -> None:
        self.log = logformat.LogWriter(target, record_format,
                                       logformat.header(abi, keep_writes))
        self.keep_writes = keep_writes
        self.count = 0

    def close(self) -> None:
        self.log.close()

    def wrap(self, system_call: SystemCall, signature: Signature) -> SystemCall:
        """`system_call`, logging each call it serves."""
        context: WasiContext = system_call.context
        name = system_call.__name__
        write: Callable[[dict[str, Any]], None] = self.log.write

        def implementation(ctx: WasiContext, *args: int) -> int:
            real = ctx.memory
            entry: dict[str, Any] = {"n": self.count, "call": name, "args": list(args)}
            self.count += 1
            inputs = guest_inputs(name, real, args, self.keep_writes)
            if inputs:
                entry["in"] = inputs
            watched = WatchedMemory(real)
            ctx.memory = watched
            try:
                entry["errno"] = system_call.implementation(ctx, *args)
            except BaseException as error:
                errno = errno_of(error) if isinstance(error, Exception) else None
                if errno is not None:
                    entry["errno"] = errno
                else:
                    entry["raised"] = type(error).__name__
                    if isinstance(error, ProcExit):
                        entry["exit"] = error.exit_code
                raise
            finally:
                ctx.memory = real
                entry["out"] = watched.changes()
                errno = entry.get("errno")
                write(entry)
                if errno is None:
                    self.log.flush()
            return errno  # type: ignore[return-value]

        wrapped = SystemCall(context, name, implementation, signature)
        wrapped.enable()
        return wrapped
