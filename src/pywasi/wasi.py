"""The public `WASI` class: Node's ``node:wasi`` API with Pythonic names.

Options are checked in the order Node checks them and fail with the same error codes. The class
is engine-neutral: it hands out plain Python callables (`wasi_import`) and runs any instance
that follows `BoundInstance` (what `pywasi.instantiate` returns for wasmtime).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from .abi.layouts import ABIS
from .abi.signatures import Signature
from .abi.types import Filetype, Rights
from .cache_policy import protect_cache
from .engine.base import AroundGuestCall, BoundInstance, FuelTank, GuestCalls
from .errors import (
    AlreadyStartedError,
    InvalidArgTypeError,
    InvalidArgValueError,
    OutOfRangeError,
    PreopenError,
    ProcExit,
)
from .limits import Limits, default_max_open_files
from .sandbox import guard, rights
from .sandbox.fdtable import Descriptor, FdTable
from .sandbox.files import WasiFile
from .sandbox.host import HostDir
from .sandbox.pystreams import GuestStdio, StdinOption, StdoutOption
from .sandbox.stdio import CLOSED, STANDARD_FDS, ClosedStdio, HostStream, Stdio
from .sandbox.stop import StopSignal
from .syscalls import HostFunction, WasiContext, build_imports
from .syscalls.proc import host_exit_status

if TYPE_CHECKING:  # imported where used: a run without sockets or tracing loads neither
    import socket

    import wasmtime

    from .engine.host_imports import WasiLink
    from .reproducible import Determinism, Layer
    from .sandbox.memfs import TreeQuota
    from .sandbox.sockets import HostSocket
    from .trace import TraceSink

_INT32_MAX = 2**31 - 1


def _describe(value: object) -> str:
    if value is None:
        return "None"
    text = repr(value)
    return f"type {type(value).__name__} ({text if len(text) <= 80 else text[:77] + '...'})"


def _check_type(value: object, name: str, expected: type | tuple[type, ...], what: str) -> None:
    # bool is an int to Python, but not a descriptor number to anyone.
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is int):
        raise InvalidArgTypeError(
            f'The "{name}" option must be {what}. Received {_describe(value)}'
        )


def _check_stdio_fd(value: object, name: str) -> int:
    _check_type(value, name, int, "of type int")
    assert isinstance(value, int)
    if not 0 <= value <= _INT32_MAX:
        raise OutOfRangeError(
            f'The value of "{name}" is out of range. It must be >= 0 && <= {_INT32_MAX}. '
            f"Received {value}"
        )
    return value


_STDIO_KINDS = {
    Rights.FD_READ: "a descriptor number (int), bytes or str, a readable binary or text stream, "
                    "or an iterable of bytes",
    Rights.FD_WRITE: "a descriptor number (int), a writable binary or text stream, "
                     "or a callable taking bytes",
}


def _check_stdio(stdio: GuestStdio, value: object, name: str, direction: int) -> Stdio:
    """The guest's `name` stream. A standard descriptor (0, 1, 2) that is closed, as a parent
    may leave it (``<&-``), is a stream answering EBADF, as wasmtime and Node give; any other
    closed number is a mistake of the caller's."""
    if value is CLOSED:
        return ClosedStdio(direction)
    if isinstance(value, int) and not isinstance(value, bool):
        _check_stdio_fd(value, name)
        try:
            os.fstat(value)
        except OSError:
            if value in STANDARD_FDS:
                return ClosedStdio(direction)
            raise InvalidArgValueError(
                f"The option '{name}' is host descriptor {value}, which is not open: pass an "
                "open one (such as file.fileno()), or a Python stream or callable"
            ) from None
    elif getattr(value, "closed", False) is True:
        raise InvalidArgValueError(f"The option '{name}' is a closed file: pass an open one")
    stream = None if isinstance(value, bool) else stdio.open(value, name, direction)
    if stream is None:
        raise InvalidArgTypeError(
            f'The "{name}" option must be {_STDIO_KINDS[direction]}. Received {_describe(value)}'
        )
    return stream


def _encode(text: object) -> bytes:
    return os.fsencode(text) if isinstance(text, (str, bytes, os.PathLike)) else str(text).encode()


def _check_strings(named_values: Iterable[tuple[str, object]]) -> None:
    """Refuse what is no string in args or env (Node would make ``1`` "1" and ``None``
    "null", hiding the mistake)."""
    for name, value in named_values:
        if not isinstance(value, (str, bytes, os.PathLike)):
            raise InvalidArgTypeError(
                f'The "{name}" argument must be of type string. Received {_describe(value)}'
            )


def _without_nul(strings: list[bytes], name: str) -> list[bytes]:
    """The guest sees NUL-terminated strings: an embedded NUL would cut one in two."""
    for string in strings:
        if b"\0" in string:
            raise InvalidArgValueError(
                f"The option {name!r} has an entry with a NUL character: {string!r}"
            )
    return strings


class WASI:
    """A WASI host for one guest instance: configure, link with `get_import_object()`, then
    `start()` a command or `initialize()` a reactor.

    Beyond Node, `stdin`, `stdout` and `stderr` may be Python objects as well as host
    descriptor numbers (see `pywasi.sandbox.pystreams` and the README): binary or text streams,
    a callable taking `bytes` for output, `bytes`, `str` or an iterable of chunks for input.

    Also beyond Node's options, `sockets` hands the guest host sockets (WASI cannot create them):
    a list of `socket.socket` objects or host descriptor numbers, typically listening TCP
    sockets, which the guest sees as fds numbered after the preopened directories (as
    ``wasmtime run --tcplisten`` does). Each is duplicated: the guest owns its copy and closes
    it when done, the caller keeps (and closes) its own. Both copies share one open socket, so
    the caller should leave it alone while the guest runs; pywasi never changes its blocking
    mode.

    `limits` bounds what the guest may use (see `pywasi.Limits`). `max_open_files` (or
    `limits.max_resources`) caps the host descriptors the guest holds at once, stdio, preopens
    and sockets included (default: `limits.default_max_open_files()`, 1024 or a quarter of the
    process's RLIMIT_NOFILE, but never fewer than those need); opening past it is EMFILE for
    the guest. `trace`, a text stream or a callable taking a `TraceEvent`, receives every
    system call the guest makes, strace-style (`pywasi.trace`). `deterministic`, `record`
    (with `record_writes` to keep the guest's written data, not its hash, and `record_format`,
    "json" lines or "binary" frames, for large runs) and `replay` make a
    run reproducible (`pywasi.reproducible`, the README's "Reproducible runs").

    The guest's host descriptors (preopens, sockets, files it opened) are closed by `close()`,
    at the end of `start()` or of a ``with`` block, by a failed `start()`/`initialize()`, or at
    the latest when neither this object nor any instance linked with it can make a system call
    any more.
    """

    def __init__(
        self,
        *,
        version: str,
        args: Sequence[Any] | None = None,
        env: Mapping[Any, Any] | None = None,
        preopens: Mapping[Any, Any] | None = None,
        return_on_exit: bool = True,
        stdin: StdinOption = 0,
        stdout: StdoutOption = 1,
        stderr: StdoutOption = 2,
        sockets: Sequence[socket.socket | int] | None = None,
        limits: Limits | None = None,
        max_open_files: int | None = None,
        trace: TraceSink | None = None,
        deterministic: Determinism | None = None,
        record: str | os.PathLike[str] | IO[str] | IO[bytes] | None = None,
        record_writes: bool = False,
        record_format: str = "json",
        replay: str | os.PathLike[str] | IO[str] | IO[bytes] | None = None,
    ) -> None:
        _check_type(version, "version", str, "of type str ('preview1' or 'unstable')")
        assert isinstance(version, str)
        abi = ABIS.get(version)
        if abi is None:
            raise InvalidArgValueError(
                f"The option 'version' is an unsupported WASI version: {version!r}. "
                f"Use one of {sorted(ABIS)}."
            )
        if args is not None:
            _check_type(args, "args", (list, tuple), "a list or tuple of strings")
            _check_strings((f"args[{index}]", arg) for index, arg in enumerate(args))
        if env is not None:
            _check_type(env, "env", Mapping, "a mapping of names to values")
            _check_strings([(f"env name {name!r}", name) for name in env]
                           + [(f"env[{name!r}]", value) for name, value in env.items()
                              if value is not None])  # a None value drops the variable
        if preopens is not None:
            _check_type(preopens, "preopens", Mapping,
                        "a mapping of guest paths to host paths, MemoryDirs or ReadOnly(...)")
        self._stdio = GuestStdio()
        stdio = [_check_stdio(self._stdio, value, name, direction)
                 for value, name, direction in ((stdin, "stdin", Rights.FD_READ),
                                                (stdout, "stdout", Rights.FD_WRITE),
                                                (stderr, "stderr", Rights.FD_WRITE))]
        _check_type(return_on_exit, "return_on_exit", bool, "of type bool")
        if sockets is not None:
            import socket

            _check_type(sockets, "sockets", (list, tuple),
                        "a list or tuple of sockets or descriptor numbers")
        for index, sock in enumerate(sockets or ()):
            if not isinstance(sock, socket.socket):
                _check_type(sock, f"sockets[{index}]", int, "a socket.socket or an int")
                _check_stdio_fd(sock, f"sockets[{index}]")

        if limits is not None:
            _check_type(limits, "limits", Limits, "a pywasi.Limits")
            if max_open_files is None:
                max_open_files = limits.max_resources
        needed = len(stdio) + len(preopens or ()) + len(sockets or ())
        if max_open_files is None:
            max_open_files = max(needed, default_max_open_files())
        else:
            _check_type(max_open_files, "max_open_files", int, "of type int")
            if not needed <= max_open_files <= _INT32_MAX:
                raise OutOfRangeError(
                    f'The value of "max_open_files" is out of range. It must be >= {needed} '
                    f"(stdio, preopens and sockets) && <= {_INT32_MAX}. Received {max_open_files}"
                )

        self._context = WasiContext(
            abi=abi,
            fds=FdTable(max_open_files),
            args=_without_nul([_encode(arg) for arg in args or ()], "args"),
            env=_without_nul([_encode(k) + b"=" + _encode(v)
                              for k, v in (env or {}).items() if v is not None], "env"),
        )
        self._return_on_exit = return_on_exit
        self._started = False
        fds = self._context.fds
        for stream in stdio:
            if isinstance(stream, HostStream):
                stream.stop = self._context.stop  # so that an interrupt ends a blocking read
            fds.add(Descriptor(stream, stream.rights, 0))
        if preopens:  # so that no guest plants native code for a later run
            protect_cache()
        # The one quota of all this guest's memory trees, made with the first of them.
        tree_quota: list[TreeQuota] = []
        tree_limit = (limits or Limits()).max_memory_tree_bytes
        try:
            for guest_path, source in (preopens or {}).items():
                directory = _open_preopen(source, guest_path, tree_limit, tree_quota)
                limit = rights.maximum(directory.filetype, read_only=directory.read_only)
                fds.add(Descriptor(directory, *limit, preopen=_encode(guest_path)))
            for index, sock in enumerate(sockets or ()):
                taken = _take_socket(sock, f"sockets[{index}]")
                taken.stop = self._context.stop
                fds.add(Descriptor(taken, rights.SOCKET & abi.all_rights, 0))
        except BaseException:
            fds.close_all()
            raise
        # On the context, not on self: instances linked with this object keep the context (and
        # may still make system calls) after the caller has dropped the WASI object.
        weakref.finalize(self._context, _release, fds, self._context.stop)
        self.limits = limits
        self._context.max_random_size = limits.max_random_size if limits is not None else None
        self.trace = trace
        self.reproducible: list[Layer] = _reproducible(deterministic, record, record_writes,
                                                       record_format, replay, abi.name,
                                                       preopens, sockets)
        self._system_calls = build_imports(self._context)
        self.wasi_import: dict[str, HostFunction] = dict(self._system_calls)
        # Calls into the guest: `start()` hands its entry over to the instance's call.
        self._guest_calls = GuestCalls()

    def __enter__(self) -> WASI:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def around_guest_call(self) -> AroundGuestCall:
        """Entered around every call into the guest: the hooks run once per call (`start()`
        and the instance's own call both enter for the same one). Not kept on the object (it
        holds the object: a cycle only a garbage collection would free)."""
        return AroundGuestCall(self, self._guest_calls)

    @property
    def stop_signal(self) -> StopSignal:
        """What the engine rings to end the guest's blocking waits (interrupt, timeout)."""
        return self._context.stop

    @property
    def version(self) -> str:
        return self._context.abi.name

    @property
    def import_module(self) -> str:
        """The module name the guest imports WASI from."""
        return self._context.abi.import_module

    @property
    def signatures(self) -> Mapping[str, Signature]:
        """The core-wasm signature of each function in `wasi_import`, for engine bindings."""
        return self._context.abi.signatures

    def get_import_object(self) -> dict[str, dict[str, HostFunction]]:
        return {self.import_module: self.wasi_import}

    def layered_imports(self, fuel: FuelTank | None) -> Mapping[str, Mapping[str, HostFunction]]:
        """The import object to link, with this object's layers (reproducible runs, the
        trace, and fuel paid out of `fuel`'s store when given) around the system calls."""
        from .call_path import layered_imports

        return layered_imports(self.get_import_object(), self.signatures,
                               reproducible=self.reproducible, trace=self.trace, fuel=fuel)

    def define(self, linker: wasmtime.Linker, store: wasmtime.Store) -> WasiLink:
        """Put these system calls into your own ``wasmtime.Linker`` for instances of `store`
        (in place of wasmtime-py's ``linker.define_wasi()`` and ``store.set_wasi()``); returns
        a `pywasi.engine.host_imports.WasiLink`. See `define_wasi`."""
        from .engine.host_imports import define_wasi

        return define_wasi(self, linker, store)

    def finalize_bindings(self, instance: BoundInstance, memory: object | None = None) -> None:
        """Bind the system calls to `instance`'s memory (its `memory` export by default)."""
        if self._started:
            raise AlreadyStartedError()
        if not isinstance(instance, BoundInstance):
            raise InvalidArgTypeError(
                'The "instance" argument must be an instance made by pywasi.instantiate() '
                f"(or another BoundInstance). Received {_describe(instance)}"
            )
        guest_memory = instance.guest_memory(memory)
        if guest_memory is None:
            raise InvalidArgTypeError(
                '"instance.exports.memory" property must be a WebAssembly.Memory object: '
                "export the guest's linear memory as `memory`, or pass memory=..."
            )
        self._context.memory = guest_memory
        self._context.movable[:] = [guest_memory] if guest_memory.movable else []
        for system_call in self._system_calls.values():
            system_call.enable()
        self._stdio.prepare()
        self._started = True

    def before_guest_call(self) -> None:
        """Flush the host's Python streams that share an open file with the guest's stdio
        (sys.stdout on the same terminal or pipe, a file object passed by descriptor), so that
        output comes out in program order. `start()` and `initialize()` do this on any engine,
        and `WasmtimeInstance.call` before every call; on another engine, call it yourself
        before calling the guest's exports."""
        self._stdio.before_guest_call()

    def after_guest_call(self) -> None:
        """Raise `StdioError` if a Python stdio object raised while the guest ran (the guest was
        told EIO), chained to what it raised. `start()`, `initialize()` and
        `WasmtimeInstance.call` check this; on another engine, call it after each call."""
        self._stdio.after_guest_call()

    def start(self, instance: BoundInstance, memory: object | None = None) -> int:
        """Run a command's `_start`; returns its exit code (0 if it returns normally). The
        guest's descriptors are closed when it ends, however it ends. `memory` is what the
        system calls use, as for `finalize_bindings`."""
        self.finalize_bindings(instance, memory)
        try:
            if instance.export_kind("_start") != "func":
                raise InvalidArgTypeError(
                    'The "instance.exports._start" property must be of type function. Received '
                    f"{instance.export_kind('_start')}: a command module must export _start"
                )
            if instance.export_kind("_initialize") is not None:
                raise InvalidArgTypeError(
                    'The "instance.exports._initialize" property must be undefined: '
                    "a module exporting _initialize is a reactor; use initialize()"
                )
            with AroundGuestCall(self, self._guest_calls, opens=True):
                try:
                    instance.call("_start")
                finally:
                    self._context.fds.close_all()  # within: text streams get their last bytes
        except ProcExit as exit_:
            if not self._return_on_exit:
                raise SystemExit(host_exit_status(exit_.exit_code)) from None
            return exit_.exit_code
        finally:
            _release(self._context.fds, self._context.stop)  # also when the checks above failed
            for layer in self.reproducible:
                layer.close()
        return 0

    def initialize(self, instance: BoundInstance, memory: object | None = None) -> None:
        """Run a reactor's `_initialize`, if it has one; its other exports are usable after.
        If this fails, the guest's descriptors are closed (the reactor cannot be used).
        `memory` is what the system calls use, as for `finalize_bindings`."""
        self.finalize_bindings(instance, memory)
        try:
            if instance.export_kind("_start") is not None:
                raise InvalidArgTypeError(
                    'The "instance.exports._start" property must be undefined: '
                    "a module exporting _start is a command; use start()"
                )
            kind = instance.export_kind("_initialize")
            if kind is not None:
                if kind != "func":
                    raise InvalidArgTypeError(
                        'The "instance.exports._initialize" property must be of type function. '
                        f"Received {kind}"
                    )
                with AroundGuestCall(self, self._guest_calls, opens=True):
                    instance.call("_initialize")
        except BaseException:
            _release(self._context.fds, self._context.stop)
            raise

    def close(self) -> None:
        """Close every descriptor the guest holds (done by `start()` when the guest ends; a
        reactor's embedder calls it when done with the instance); later system calls see them
        closed (EBADF). Python stdio objects are left open, given any last incomplete
        character; `StdioError` if that raised."""
        _release(self._context.fds, self._context.stop)
        for layer in self.reproducible:
            layer.close()
        self.after_guest_call()


def _reproducible(deterministic: Determinism | None, record: object, record_writes: bool,
                  record_format: str, replay: object, abi: str, preopens: object,
                  sockets: object) -> list[Layer]:
    """The layers `pywasi.reproducible` puts around the system calls, innermost first."""
    if record_format not in ("json", "binary"):
        raise InvalidArgValueError(
            f"The option 'record_format' must be 'json' or 'binary', not {record_format!r}")
    if deterministic is None and record is None and replay is None:
        return []
    from .reproducible import Determinism, Deterministic, Recorder, Replayer

    if replay is not None:
        if record is not None or deterministic is not None or preopens or sockets:
            raise InvalidArgValueError(
                "The option 'replay' answers every call from the log: give it without "
                "preopens, sockets, record or deterministic")
        return [Replayer(replay)]  # type: ignore[arg-type]
    layers: list[Layer] = []
    if deterministic is not None:
        _check_type(deterministic, "deterministic", Determinism, "a pywasi.Determinism")
        layers.append(Deterministic(deterministic))
    if record is not None:
        layers.append(Recorder(record, abi, record_writes,  # type: ignore[arg-type]
                               record_format))
    return layers


def _release(fds: FdTable, stop: StopSignal) -> None:
    """Give back the host descriptors of a guest: its files, and the pipe that ends its waits."""
    fds.close_all()
    stop.close()


def _open_preopen(source: object, guest_path: object, tree_limit: int | None,
                  tree_quota: list[TreeQuota]) -> WasiFile:
    """The directory a preopen's value names: a host path, a `MemoryDir`, a directory
    `WasiFile` of the embedder's own, or a `Preopen`/`ReadOnly` of one of those. Memory trees
    share `tree_quota`'s one quota (of `tree_limit` bytes), made here for the first."""
    if not isinstance(source, (str, bytes, os.PathLike)):
        # Imported only here: a run over host directories never loads the memory trees.
        from .sandbox.memfs import MemoryDir, TreeQuota
        from .sandbox.memfs_open import OpenMemoryDir
        from .sandbox.readonly import Preopen, read_only

        if isinstance(source, MemoryDir):
            if not tree_quota:
                tree_quota.append(TreeQuota(tree_limit))
            return OpenMemoryDir(source, quota=tree_quota[0])
        if isinstance(source, Preopen):
            opened = _open_preopen(source.source, guest_path, tree_limit, tree_quota)
            return opened if source.fs_mutable else read_only(opened)
        if isinstance(source, WasiFile):
            if source.filetype != Filetype.DIRECTORY:
                raise PreopenError(f"preopen {source!r} is not a directory", "UVWASI_ENOTDIR")
            return source
    path = os.fsdecode(_encode(source))
    try:
        directory = HostDir.open(path)
    except FileNotFoundError:
        swapped = isinstance(guest_path, str) and os.path.isdir(guest_path)
        raise PreopenError(
            f"preopen host directory {path!r} does not exist"
            + (f"; preopens map guest paths (keys) to host paths (values): did you mean "
               f"{{{path!r}: {guest_path!r}}}?" if swapped else ""), "UVWASI_ENOENT"
        ) from None
    except NotADirectoryError:
        raise PreopenError(
            f"preopen host path {path!r} is not a directory", "UVWASI_ENOTDIR"
        ) from None
    except OSError as error:
        raise PreopenError(
            f"cannot open preopen host directory {path!r}: {error.strerror}", "UVWASI_EACCES"
        ) from None
    if guard.is_sealed(directory.dir_fd):
        directory.close()
        raise PreopenError(f"preopen host directory {path!r} is pywasi's compiled-module cache, "
                           "which no guest may reach: give another directory", "UVWASI_EACCES")
    return directory


def _take_socket(sock: socket.socket | int, name: str) -> HostSocket:
    """The guest's own duplicate of a socket object or host descriptor number."""
    import socket

    from .sandbox.sockets import HostSocket

    host_fd = sock.fileno() if isinstance(sock, socket.socket) else sock
    try:
        duplicate = os.dup(host_fd)
    except OSError:
        raise InvalidArgValueError(
            f"The option '{name}' is not an open socket: descriptor {host_fd}"
        ) from None
    try:
        return HostSocket(socket.socket(fileno=duplicate))
    except OSError:
        os.close(duplicate)
        raise InvalidArgValueError(
            f"The option '{name}' is not a socket: descriptor {host_fd}"
        ) from None
