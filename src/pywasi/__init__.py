"""pywasi: the WebAssembly System Interface (preview1 and unstable) for Python, on wasmtime.

    from pywasi import WASI, instantiate
    wasi = WASI(version="preview1", args=["demo"], preopens={"/sandbox": "/real/dir"})
    exit_code = wasi.start(instantiate(wasi, "program.wasm"))
"""

from .engine.base import BoundInstance
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import (
    AlreadyStartedError,
    GuestInterrupted,
    GuestTimeout,
    GuestTrap,
    InvalidArgTypeError,
    InvalidArgValueError,
    LimitExceeded,
    ModuleLoadError,
    NotStartedError,
    OutOfFuel,
    OutOfRangeError,
    PreopenError,
    ProcExit,
    PyWasiError,
    ResourceLimit,
    StackExhausted,
)
from .limits import Limits
from .trace import TraceEvent
from .wasi import WASI

__all__ = [
    "WASI",
    "__version__",
    "AlreadyStartedError",
    "BoundInstance",
    "GuestInterrupted",
    "GuestTimeout",
    "GuestTrap",
    "InvalidArgTypeError",
    "InvalidArgValueError",
    "LimitExceeded",
    "Limits",
    "ModuleLoadError",
    "NotStartedError",
    "OutOfFuel",
    "OutOfRangeError",
    "PreopenError",
    "ProcExit",
    "PyWasiError",
    "ResourceLimit",
    "StackExhausted",
    "TraceEvent",
    "WasmtimeInstance",
    "instantiate",
    "load_module",
]


def __getattr__(name: str) -> str:
    """`pywasi.__version__`, looked up on first use: reading the package metadata costs ~7 ms,
    which every `import pywasi` would otherwise pay."""
    if name != "__version__":
        raise AttributeError(f"module 'pywasi' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pywasi")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
