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
    StdioError,
)
from .plugin import Memory
from .sandbox.files import Dirent, Filestat, Transfer, WasiFile
from .sandbox.memfs import MemoryDir, MemoryFile, MemoryNode, MemorySymlink
from .sandbox.readonly import Preopen, ReadOnly
from .wasi import WASI

__all__ = [
    "WASI",
    "AlreadyStartedError",
    "BoundInstance",
    "Dirent",
    "Errno",
    "Fdflags",
    "Filestat",
    "Filetype",
    "GuestTrap",
    "HostFunc",
    "Imports",
    "InstanceClosedError",
    "InvalidArgTypeError",
    "InvalidArgValueError",
    "Memory",
    "MemoryDir",
    "MemoryFile",
    "MemoryNode",
    "MemorySymlink",
    "MemoryGoneError",
    "ModuleLoadError",
    "NotStartedError",
    "Oflags",
    "OutOfRangeError",
    "Preopen",
    "PreopenError",
    "ProcExit",
    "PyWasiError",
    "ReadOnly",
    "StdioError",
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
