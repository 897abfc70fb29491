"""pywasi: the WebAssembly System Interface (preview1 and unstable) for Python, on wasmtime.

    from pywasi import WASI, instantiate
    wasi = WASI(version="preview1", args=["demo"], preopens={"/sandbox": "/real/dir"})
    exit_code = wasi.start(instantiate(wasi, "program.wasm"))
"""

from .engine.base import BoundInstance
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import (
    AlreadyStartedError,
    GuestTrap,
    InstanceClosedError,
    InvalidArgTypeError,
    InvalidArgValueError,
    MemoryGoneError,
    ModuleLoadError,
    NotStartedError,
    OutOfRangeError,
    PreopenError,
    ProcExit,
    PyWasiError,
)
from .wasi import WASI

__all__ = [
    "WASI",
    "AlreadyStartedError",
    "BoundInstance",
    "GuestTrap",
    "InstanceClosedError",
    "InvalidArgTypeError",
    "InvalidArgValueError",
    "MemoryGoneError",
    "ModuleLoadError",
    "NotStartedError",
    "OutOfRangeError",
    "PreopenError",
    "ProcExit",
    "PyWasiError",
    "WasmtimeInstance",
    "instantiate",
    "load_module",
]
