"""strace for WASI guests: every system call, its decoded arguments, result and time taken.

    wasi = WASI(version="preview1", args=["prog"], trace=sys.stderr)       # text, one line each
    wasi = WASI(version="preview1", args=["prog"], trace=events.append)    # TraceEvent objects

Engine-neutral: it wraps the `SystemCall`s of an import object before an engine links them
(`traced_imports`), so an instance is traced or not from the moment it is linked, and the
untraced host-call path is the same code as ever. Arguments are decoded from the ABI
signatures and the guest's memory: paths and written data as text, flags as names, results
read back from the guest's out-pointers.
"""

from __future__ import annotations

import errno as host_errno
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, Protocol, TextIO

from .abi.errno import WasiErrno
from .abi.layouts import U16, U32, U32_PAIR, U64
from .abi.signatures import Signature
from .abi.types import (
    Advice,
    Clockid,
    Errno,
    Fdflags,
    Fstflags,
    Lookupflags,
    Oflags,
    Riflags,
    Sdflags,
    Signal,
)
from .memory import GuestMemory
from .printable import printable
from .syscalls import HostFunction, ImportObject, SystemCall, errno_of, wrap_system_calls

_PREVIEW_BYTES: Final = 48  # of data written or read, shown per call

# Each call's parameters as "name:kind"; a kind taking a (pointer, length) pair takes two
# parameters, and ">kind" is an out-pointer read back after a successful call.
_CALLS: Final[Mapping[str, str]] = {
    "args_get": "argv:ptr argv_buf:ptr",
    "args_sizes_get": "argc:>u32 argv_buf_size:>u32",
    "environ_get": "environ:ptr environ_buf:ptr",
    "environ_sizes_get": "count:>u32 buf_size:>u32",
    "clock_res_get": "id:clockid resolution:>u64",
    "clock_time_get": "id:clockid precision:int time:>u64",
    "fd_advise": "fd:fd offset:int len:int advice:advice",
    "fd_allocate": "fd:fd offset:int len:int",
    "fd_close": "fd:fd",
    "fd_datasync": "fd:fd",
    "fd_fdstat_get": "fd:fd stat:ptr",
    "fd_fdstat_set_flags": "fd:fd flags:fdflags",
    "fd_fdstat_set_rights": "fd:fd rights:rights inheriting:rights",
    "fd_filestat_get": "fd:fd stat:ptr",
    "fd_filestat_set_size": "fd:fd size:int",
    "fd_filestat_set_times": "fd:fd atim:int mtim:int flags:fstflags",
    "fd_pread": "fd:fd iovs:iovs offset:int nread:>u32",
    "fd_prestat_get": "fd:fd prestat:ptr",
    "fd_prestat_dir_name": "fd:fd path:>text",
    "fd_pwrite": "fd:fd data:ciovs offset:int nwritten:>u32",
    "fd_read": "fd:fd iovs:iovs nread:>u32",
    "fd_readdir": "fd:fd buf:buffer cookie:int used:>u32",
    "fd_renumber": "fd:fd to:fd",
    "fd_seek": "fd:fd offset:int whence:whence position:>u64",
    "fd_sync": "fd:fd",
    "fd_tell": "fd:fd position:>u64",
    "fd_write": "fd:fd data:ciovs nwritten:>u32",
    "path_create_directory": "fd:fd path:path",
    "path_filestat_get": "fd:fd flags:lookupflags path:path stat:ptr",
    "path_filestat_set_times":
        "fd:fd flags:lookupflags path:path atim:int mtim:int fst_flags:fstflags",
    "path_link": "old_fd:fd old_flags:lookupflags old_path:path new_fd:fd new_path:path",
    "path_open": "fd:fd dirflags:lookupflags path:path oflags:oflags rights:rights "
                 "inheriting:rights fdflags:fdflags opened:>u32",
    "path_readlink": "fd:fd path:path buf:buffer used:>u32",
    "path_remove_directory": "fd:fd path:path",
    "path_rename": "fd:fd old_path:path new_fd:fd new_path:path",
    "path_symlink": "old_path:path fd:fd new_path:path",
    "path_unlink_file": "fd:fd path:path",
    "poll_oneoff": "in:ptr out:ptr nsubscriptions:int nevents:>u32",
    "proc_exit": "code:int",
    "proc_raise": "signal:signal",
    "sched_yield": "",
    "random_get": "buf:buffer",
    "sock_accept": "fd:fd flags:fdflags accepted:>u32",
    "sock_recv": "fd:fd iovs:iovs flags:riflags nread:>u32 roflags:>u16",
    "sock_send": "fd:fd data:ciovs flags:int nwritten:>u32",
    "sock_shutdown": "fd:fd how:sdflags",
}
_PAIRS: Final = frozenset({"path", "ciovs", "iovs", "buffer", "text"})
_OUT_LAYOUTS: Final = {"u16": U16, "u32": U32, "u64": U64}
_FLAGS: Final[Mapping[str, type]] = {
    "fdflags": Fdflags, "fstflags": Fstflags, "lookupflags": Lookupflags, "oflags": Oflags,
    "riflags": Riflags, "sdflags": Sdflags,
}
_ENUMS: Final[Mapping[str, Callable[[int], Any]]] = {
    "clockid": Clockid, "advice": Advice, "signal": Signal,
}
_ERRNO_NAMES: Final = {errno.value: "E" + errno.name if errno else "0" for errno in Errno}
# "ENOENT (No such file or directory)", in the host's words where the host has the errno.
_ERRNO_TEXTS: Final = {
    value: f"{name} ({os.strerror(getattr(host_errno, name))})"
    if hasattr(host_errno, name) else name
    for value, name in _ERRNO_NAMES.items() if value
}


class TraceEvent(NamedTuple):
    """One system call, decoded. `errno` is None when the call raised instead of returning
    (`raised` names the exception: ProcExit, a trap, KeyboardInterrupt...)."""

    name: str
    args: tuple[tuple[str, Any], ...]
    errno: int | None
    results: tuple[tuple[str, Any], ...]
    seconds: float
    raised: str | None = None

    def text(self) -> str:
        """strace's shape: ``name(args) = result [outputs] <time>``."""
        args = ", ".join(_show(value) for _, value in self.args)
        if self.errno is None:
            outcome = f"? ({self.raised})"
        else:
            outcome = _ERRNO_TEXTS.get(self.errno, str(self.errno))
        outputs = "".join(f" {name}={_show(value)}" for name, value in self.results)
        return f"{self.name}({args}) = {outcome}{outputs} <{self.seconds * 1e3:.3f} ms>"

    def json(self) -> str:
        """One JSON object: ``call``, ``args`` and ``results`` (name to value), ``errno`` (the
        number, as the guest got it; null if the call raised), ``errno_name`` beside it
        ("ENOENT"; null for 0 and when the call raised), ``seconds`` and ``raised``."""
        return json.dumps({
            "call": self.name,
            "args": dict(self.args),
            "errno": self.errno,
            "errno_name": _ERRNO_NAMES.get(self.errno) if self.errno else None,
            "results": dict(self.results),
            "seconds": round(self.seconds, 9),
            "raised": self.raised,
        })


class _Stream(Protocol):
    def write(self, text: str, /) -> Any: ...


TraceSink = _Stream | Callable[[TraceEvent], None] | TextIO
"""Where `WASI(trace=...)` sends calls: a text stream (one line each) or a callable."""


def trace_writer(stream: _Stream | TextIO, format: str = "text") -> Callable[[TraceEvent], None]:
    """A sink writing each event to `stream` as a line of text, or of JSON (`format="json"`)."""
    if format not in ("text", "json"):
        raise ValueError(f"unknown trace format {format!r}: use 'text' or 'json'")

    def write(event: TraceEvent) -> None:
        stream.write((event.json() if format == "json" else event.text()) + "\n")

    return write


class _Shown(str):
    """Text shown as it is (a pointer, a byte count), not quoted like guest strings."""


def _show(value: Any) -> str:
    """A guest's string quoted (its quotes, backslashes, newlines and other controls
    escaped, so that no path can end its line or forge another), anything else as it is."""
    if isinstance(value, str) and not isinstance(value, _Shown):
        return printable(json.dumps(value, ensure_ascii=False))
    return str(value)


def _flag_names(flags: type, value: int) -> str:
    names = [name for name, bit in vars(flags).items()
             if name.isupper() and name != "ALL" and isinstance(bit, int) and value & bit]
    unknown = value & ~getattr(flags, "ALL", 0)
    if unknown:
        names.append(hex(unknown))
    return "|".join(names) or "0"


def _text(data: bytes, limit: int = _PREVIEW_BYTES) -> str:
    shown = data[:limit].decode("utf-8", "backslashreplace")
    return shown + ("..." if len(data) > limit else "")


def _gather(memory: GuestMemory, iovs: tuple[int, ...], length: int | None) -> str:
    """The text in an (c)iovec array (pointer, count), up to `length` bytes (None: all)."""
    data = bytearray()
    array, count = iovs
    for index in range(min(count, 64)):
        ptr, size = memory.unpack(U32_PAIR, array + 8 * index)
        data += memory.read(ptr, min(size, _PREVIEW_BYTES + 1 - len(data)))
        if len(data) > _PREVIEW_BYTES:
            break
    if length is not None:
        del data[length:]
    return _text(bytes(data))


class _Decoder:
    """Decodes one call's parameters (before it runs) and results (after)."""

    def __init__(self, name: str, signature: Signature) -> None:
        specs = [item.partition(":") for item in _CALLS.get(name, "").split()]
        self.params = [(pname, kind) for pname, _, kind in specs]
        widths = sum(2 if kind.lstrip(">") in _PAIRS else 1 for _, kind in self.params)
        if widths != len(signature.params):  # a function this table does not know
            self.params = [(f"arg{index}", "int") for index in range(len(signature.params))]

    def _pairs(self, args: tuple[int, ...]) -> list[tuple[str, str, tuple[int, ...]]]:
        at = 0
        out = []
        for pname, kind in self.params:
            width = 2 if kind.lstrip(">") in _PAIRS else 1
            out.append((pname, kind, args[at : at + width]))
            at += width
        return out

    def before(self, memory: GuestMemory, whence: Mapping[int, Any],
               args: tuple[int, ...]) -> list[tuple[str, Any]]:
        decoded: list[tuple[str, Any]] = []
        for pname, kind, values in self._pairs(args):
            if kind.startswith(">") or kind == "iovs":
                continue
            try:
                decoded.append((pname, _decode(kind, values, memory, whence)))
            except (WasiErrno, ValueError):
                decoded.append((pname, _Shown(f"<bad pointer {values[0]:#x}>")))
        return decoded

    def after(self, memory: GuestMemory, args: tuple[int, ...]) -> list[tuple[str, Any]]:
        decoded: list[tuple[str, Any]] = []
        pairs = self._pairs(args)
        try:
            outs = {pname: memory.unpack(_OUT_LAYOUTS.get(kind[1:], U32), values[0])[0]
                    for pname, kind, values in pairs if kind.startswith(">") and kind != ">text"}
            for pname, kind, values in pairs:
                if kind == "iovs":  # what was read, as long as the call says
                    decoded.append((pname, _gather(memory, values, outs.get("nread"))))
                elif kind == ">text":
                    decoded.append((pname, _text(memory.read(*values), 4096)))
            decoded += outs.items()
        except (WasiErrno, ValueError):
            decoded.append(("results", _Shown("<bad pointer>")))
        return decoded


def _decode(kind: str, values: tuple[int, ...], memory: GuestMemory,
            whence: Mapping[int, Any]) -> Any:
    value = values[0]
    if kind in ("fd", "int"):
        return value
    if kind == "path":
        return _text(memory.read(*values), 4096)
    if kind == "ciovs":
        return _gather(memory, values, None)
    if kind == "buffer":
        return _Shown(f"<{values[1]} bytes>")
    if kind in ("ptr", "rights"):
        return _Shown(hex(value))
    if kind == "whence":
        meaning = whence.get(value)
        return _Shown(meaning.name) if meaning is not None else value
    if kind in _FLAGS:
        return _Shown(_flag_names(_FLAGS[kind], value))
    try:
        return _Shown(_ENUMS[kind](value).name)
    except ValueError:
        return value


def _traced(system_call: SystemCall, signature: Signature,
            sink: Callable[[TraceEvent], None]) -> SystemCall:
    """A `SystemCall` that runs `system_call`'s current implementation and reports it."""
    decoder = _Decoder(system_call.__name__, signature)
    context = system_call.context
    name = system_call.__name__

    def implementation(ctx: Any, *args: int) -> int:
        memory = context.memory
        arguments = decoder.before(memory, context.abi.whence, args)
        start = time.perf_counter()
        try:
            errno = system_call.implementation(ctx, *args)
        except BaseException as error:
            seconds = time.perf_counter() - start
            caught = errno_of(error) if isinstance(error, Exception) else None
            sink(TraceEvent(name, tuple(arguments), caught, (), seconds,
                            None if caught is not None else type(error).__name__))
            raise
        seconds = time.perf_counter() - start
        results = decoder.after(memory, args) if errno == 0 else []
        sink(TraceEvent(name, tuple(arguments), errno, tuple(results), seconds))
        return errno

    traced = SystemCall(context, name, implementation, signature)
    traced.enable()  # `system_call` itself still decides whether the WASI object started
    return traced


def traced_imports(
    import_object: ImportObject,
    signatures: Mapping[str, Signature],
    sink: TraceSink,
) -> dict[str, dict[str, HostFunction]]:
    """`import_object` with every pywasi system call reporting to `sink`."""
    report: Callable[[TraceEvent], None] = (
        trace_writer(sink) if hasattr(sink, "write") else sink
    )
    return wrap_system_calls(import_object, signatures,
                             lambda call, signature: _traced(call, signature, report))
