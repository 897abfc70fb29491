"""pywasi: the WebAssembly System Interface (preview1 and unstable) for Python, on wasmtime.

    from pywasi import WASI, instantiate
    wasi = WASI(version="preview1", args=["demo"], preopens={"/sandbox": "/real/dir"})
    exit_code = wasi.start(instantiate(wasi, "program.wasm"))
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time each name is imported on first use
    from .abi.errno import WasiErrno
    from .abi.types import Errno, Fdflags, Filetype, Oflags, Whence
    from .batch import BatchInterrupted, Job, Result, run, run_batch
    from .batch_async import run_async, run_batch_async
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
        SaveRefusedError,
        StackExhausted,
        StdioError,
    )
    from .limits import Limits
    from .plugin import Memory
    from .reproducible import Determinism, ReplayDiverged
    from .sandbox.files import Dirent, Filestat, Transfer, WasiFile
    from .sandbox.memfs import MemoryDir, MemoryFile, MemoryNode, MemorySymlink
    from .sandbox.readonly import Preopen, ReadOnly
    from .trace import TraceEvent
    from .wasi import WASI

__all__ = [
    "WASI",
    "__version__",
    "AlreadyStartedError",
    "BatchInterrupted",
    "BoundInstance",
    "Determinism",
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
    "Job",
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
    "ReplayDiverged",
    "ResourceLimit",
    "Result",
    "SaveRefusedError",
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
    "run",
    "run_async",
    "run_batch",
    "run_batch_async",
    "wasi_version",
]

# Where each public name lives. `import pywasi` loads none of them, so a program pays only
# for what it uses: a plain run never loads the memory trees, tracing or plugins.
_MODULES: dict[str, tuple[str, ...]] = {
    ".abi.errno": ("WasiErrno",),
    ".abi.types": ("Errno", "Fdflags", "Filetype", "Oflags", "Whence"),
    ".batch": ("BatchInterrupted", "Job", "Result", "run", "run_batch"),
    ".batch_async": ("run_async", "run_batch_async"),
    ".engine.base": ("BoundInstance",),
    ".engine.host_imports": ("HostFunc", "Imports", "WasiLink", "wasi_version"),
    ".engine.wasmtime_engine": ("WasmtimeInstance", "instantiate", "load_module"),
    ".errors": (
        "AlreadyStartedError", "GuestInterrupted", "GuestTimeout", "GuestTrap",
        "InstanceClosedError", "InvalidArgTypeError", "InvalidArgValueError", "LimitExceeded",
        "MemoryGoneError", "ModuleLoadError", "NotStartedError", "OutOfFuel", "OutOfRangeError",
        "PreopenError", "ProcExit", "PyWasiError", "ResourceLimit", "SaveRefusedError",
        "StackExhausted",
        "StdioError",
    ),
    ".limits": ("Limits",),
    ".plugin": ("Memory",),
    ".reproducible": ("Determinism", "ReplayDiverged"),
    ".sandbox.files": ("Dirent", "Filestat", "Transfer", "WasiFile"),
    ".sandbox.memfs": ("MemoryDir", "MemoryFile", "MemoryNode", "MemorySymlink"),
    ".sandbox.readonly": ("Preopen", "ReadOnly"),
    ".trace": ("TraceEvent",),
    ".wasi": ("WASI",),
}
_HOMES: dict[str, str] = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Each public name, imported from its module on first use; `__version__` is read from
    the package metadata (~7 ms of imports, which every `import pywasi` would otherwise pay)."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(import_module(home, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name != "__version__":
        raise AttributeError(f"module 'pywasi' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pywasi")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
