"""The public `WASI` class: Node's ``node:wasi`` API with Pythonic names.

Options are checked in the order Node checks them and fail with the same error codes. The class
is engine-neutral: it hands out plain Python callables (`wasi_import`) and runs any instance
that follows `BoundInstance` (what `pywasi.instantiate` returns for wasmtime).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from .abi.layouts import ABIS
from .abi.signatures import Signature
from .abi.types import Rights
from .engine.base import BoundInstance
from .errors import (
    AlreadyStartedError,
    InvalidArgTypeError,
    InvalidArgValueError,
    OutOfRangeError,
    PreopenError,
    ProcExit,
)
from .limits import Limits
from .sandbox import rights
from .sandbox.fdtable import Descriptor
from .sandbox.host import HostDir
from .sandbox.sockets import HostSocket
from .sandbox.stdio import HostStream
from .sandbox.stop import StopSignal
from .syscalls import HostFunction, WasiContext, build_imports
from .trace import TraceSink

_INT32_MAX = 2**31 - 1


def _describe(value: object) -> str:
    return f"type {type(value).__name__} ({value!r})" if value is not None else "None"


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


def _encode(text: object) -> bytes:
    return os.fsencode(text) if isinstance(text, (str, bytes, os.PathLike)) else str(text).encode()


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

    Beyond Node's options, `sockets` hands the guest host sockets (WASI cannot create them):
    a list of `socket.socket` objects or host descriptor numbers, typically listening TCP
    sockets, which the guest sees as fds numbered after the preopened directories (as
    ``wasmtime run --tcplisten`` does). Each is duplicated: the guest owns its copy and closes
    it when done, the caller keeps (and closes) its own. Both copies share one open socket, so
    the caller should leave it alone while the guest runs; pywasi never changes its blocking
    mode.

    `limits` bounds what the guest may use (see `pywasi.Limits`); `max_open_files` alone caps
    its open descriptors (EMFILE past it). `trace`, a text stream or a callable taking a
    `TraceEvent`, receives every system call the guest makes, strace-style (`pywasi.trace`).
    """

    def __init__(
        self,
        *,
        version: str | None = None,
        args: Sequence[Any] | None = None,
        env: Mapping[Any, Any] | None = None,
        preopens: Mapping[Any, Any] | None = None,
        return_on_exit: bool = True,
        stdin: int = 0,
        stdout: int = 1,
        stderr: int = 2,
        sockets: Sequence[socket.socket | int] | None = None,
        limits: Limits | None = None,
        max_open_files: int | None = None,
        trace: TraceSink | None = None,
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
        if env is not None:
            _check_type(env, "env", Mapping, "a mapping of names to values")
        if preopens is not None:
            _check_type(preopens, "preopens", Mapping, "a mapping of guest paths to host paths")
        stdio = [_check_stdio_fd(fd, name)
                 for fd, name in ((stdin, "stdin"), (stdout, "stdout"), (stderr, "stderr"))]
        _check_type(return_on_exit, "return_on_exit", bool, "of type bool")
        if sockets is not None:
            _check_type(sockets, "sockets", (list, tuple),
                        "a list or tuple of sockets or descriptor numbers")
        for index, sock in enumerate(sockets or ()):
            if not isinstance(sock, socket.socket):
                _check_type(sock, f"sockets[{index}]", int, "a socket.socket or an int")
                _check_stdio_fd(sock, f"sockets[{index}]")

        self._context = WasiContext(
            abi=abi,
            args=_without_nul([_encode(arg) for arg in args or ()], "args"),
            env=_without_nul([_encode(k) + b"=" + _encode(v)
                              for k, v in (env or {}).items() if v is not None], "env"),
        )
        self._return_on_exit = return_on_exit
        self._started = False
        fds = self._context.fds
        directions = (Rights.FD_READ, Rights.FD_WRITE, Rights.FD_WRITE)
        for host_fd, direction in zip(stdio, directions, strict=True):
            stream = HostStream(host_fd, direction)
            fds.add(Descriptor(stream, stream.rights, 0))
        try:
            for guest_path, host_path in (preopens or {}).items():
                fds.add(Descriptor(_open_preopen(host_path), rights.DIRECTORY,
                                   rights.DIRECTORY_INHERITING, preopen=_encode(guest_path)))
            for index, sock in enumerate(sockets or ()):
                fds.add(Descriptor(_take_socket(sock, f"sockets[{index}]"),
                                   rights.SOCKET & abi.all_rights, 0))
        except BaseException:
            fds.close_all()
            raise
        if limits is not None:
            _check_type(limits, "limits", Limits, "a pywasi.Limits")
        self.limits = limits
        fds.limit = max_open_files if max_open_files is not None else (
            limits.max_resources if limits is not None else None)
        self._context.max_random_size = limits.max_random_size if limits is not None else None
        self.trace = trace
        self._system_calls = build_imports(self._context)
        self.wasi_import: dict[str, HostFunction] = dict(self._system_calls)

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
        for system_call in self._system_calls.values():
            system_call.enable()
        self._started = True

    def start(self, instance: BoundInstance) -> int:
        """Run a command's `_start`; returns its exit code (0 if it returns normally)."""
        self.finalize_bindings(instance)
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
        try:
            instance.call("_start")
        except ProcExit as exit_:
            if not self._return_on_exit:
                raise SystemExit(exit_.exit_code) from None
            return exit_.exit_code
        finally:
            self.close()
        return 0

    def initialize(self, instance: BoundInstance) -> None:
        """Run a reactor's `_initialize`, if it has one; its other exports are usable after."""
        self.finalize_bindings(instance)
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
            instance.call("_initialize")

    def close(self) -> None:
        """Close every descriptor the guest holds (done by `start()` when the guest ends)."""
        self._context.fds.close_all()
        self._context.stop.close()


def _open_preopen(host_path: object) -> HostDir:
    path = os.fsdecode(_encode(host_path))
    try:
        return HostDir.open(path)
    except FileNotFoundError:
        raise PreopenError(
            f"preopen host directory {path!r} does not exist", "UVWASI_ENOENT"
        ) from None
    except NotADirectoryError:
        raise PreopenError(
            f"preopen host path {path!r} is not a directory", "UVWASI_ENOTDIR"
        ) from None
    except OSError as error:
        raise PreopenError(
            f"cannot open preopen host directory {path!r}: {error.strerror}", "UVWASI_EACCES"
        ) from None


def _take_socket(sock: socket.socket | int, name: str) -> HostSocket:
    """The guest's own duplicate of a socket object or host descriptor number."""
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
