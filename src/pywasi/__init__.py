"""pywasi: the WebAssembly System Interface (preview1 and unstable) for Python, on wasmtime.

    from pywasi import WASI, instantiate
    wasi = WASI(version="preview1", args=["demo"], preopens={"/sandbox": "/real/dir"})
    exit_code = wasi.start(instantiate(wasi, "program.wasm"))
"""

from .abi.errno import WasiErrno
from .abi.types import Errno, Fdflags, Filetype, Oflags, Whence
from .engine.base import BoundInstance
from .engine.host_imports import HostFunc, Imports, WasiLink, wasi_version
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import (
    AlreadyStartedError,
    GuestInterrupted,
    GuestTimeout,
    GuestTrap,
    InstanceClosedError,
    InvalidArgTypeError,
    InvalidArgValueError,
    LimitExceeded,
    MemoryGoneError,
    ModuleLoadError,
    NotStartedError,
    OutOfFuel,
    OutOfRangeError,
    PreopenError,
    ProcExit,
    PyWasiError,
    ResourceLimit,
    StackExhausted,
    StdioError,
)
from .limits import Limits
from .plugin import Memory
from .sandbox.files import Dirent, Filestat, Transfer, WasiFile
from .sandbox.memfs import MemoryDir, MemoryFile, MemoryNode, MemorySymlink
from .sandbox.readonly import Preopen, ReadOnly
from .trace import TraceEvent
from .wasi import WASI

__all__ = [
    "WASI",
    "__version__",
    "AlreadyStartedError",
    "BoundInstance",
    "Dirent",
    "Errno",
    "Fdflags",
    "Filestat",
    "Filetype",
    "GuestInterrupted",
    "GuestTimeout",
    "GuestTrap",
    "HostFunc",
    "Imports",
    "InstanceClosedError",
    "InvalidArgTypeError",
    "InvalidArgValueError",
    "LimitExceeded",
    "Limits",
    "Memory",
    "MemoryDir",
    "MemoryFile",
    "MemoryNode",
    "MemorySymlink",
    "MemoryGoneError",
    "ModuleLoadError",
    "NotStartedError",
    "Oflags",
    "OutOfFuel",
    "OutOfRangeError",
    "Preopen",
    "PreopenError",
    "ProcExit",
    "PyWasiError",
    "ReadOnly",
    "ResourceLimit",
    "StackExhausted",
    "StdioError",
    "TraceEvent",
    "Transfer",
    "WasiErrno",
    "WasiFile",
    "WasiLink",
    "WasmtimeInstance",
    "Whence",
    "instantiate",
    "load_module",
    "wasi_version",
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
