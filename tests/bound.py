"""A `WASI` bound to a small guest memory, its system calls called from Python.

Tests of one system call's checks use this instead of writing a guest: the call runs exactly as
a guest would make it (`wasi.wasi_import`, raw integer arguments), and the test reads and
writes the guest's memory through wasmtime's own API. No host call goes through wasmtime, so
such tests are `one_path`.
"""

from __future__ import annotations

import struct
from typing import Any

import wasmtime

import pywasi

PAGE = 65536


class Bound:
    """`wasi` bound to a one-page memory, with ways to reach into that memory."""

    def __init__(self, wasi: pywasi.WASI) -> None:
        self.wasi = wasi
        self.instance = pywasi.instantiate(wasi, b'(module (memory (export "memory") 1))')
        wasi.finalize_bindings(self.instance)
        memory = self.instance.exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.memory = memory

    def __call__(self, name: str, *args: int) -> int:
        """The errno of system call `name` made with raw arguments `args`."""
        result = self.wasi.wasi_import[name](*args)
        assert result is not None, f"{name} returns nothing"
        return result

    def write(self, ptr: int, data: bytes) -> None:
        self.memory.write(self.instance.store, data, ptr)

    def read(self, ptr: int, length: int) -> bytes:
        return bytes(self.memory.read(self.instance.store, ptr, ptr + length))

    def u32(self, ptr: int) -> int:
        value: int = struct.unpack("<I", self.read(ptr, 4))[0]
        return value

    def u64(self, ptr: int) -> int:
        value: int = struct.unpack("<Q", self.read(ptr, 8))[0]
        return value


def bound(**options: Any) -> Bound:
    """A preview1 `WASI` made with `options`, bound to a fresh one-page memory."""
    return Bound(pywasi.WASI(version="preview1", **options))
