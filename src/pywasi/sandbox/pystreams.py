"""stdin, stdout and stderr backed by the embedder's Python objects.

`GuestStdio.open` turns each stdio option of `WASI` into a `Stdio` file:

- an open file that is nothing but a host descriptor (from `open()`, `sys.stdout` on a terminal
  or pipe, a socket's `makefile()`) is lent by that descriptor: the fast path of a plain fd;
- any other object is called: the `write` of a binary or text stream, a callable taking
  `bytes`, the `read` of a stream, the chunks of an iterable, or bytes or str given outright.

Each fd_write reaches the object at once, as one call with `bytes` it may keep (never a view
of guest memory). Nothing here ever closes the object. What the object raises is EIO to the
guest and is kept in `Failures` until `WASI` raises it as `StdioError`, chained.

To libc these files are pipes (filetype UNKNOWN, no seek or tell rights): isatty() is false, and
stdout is fully buffered by the guest's libc as it would be into a pipe.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import Final, Protocol, TypeAlias, TypeVar

from ..abi.errno import WasiErrno
from ..abi.types import Errno, Eventtype, Filetype, Rights
from ..errors import StdioError
from .files import Readiness
from .stdio import Closed, HostStream, Stdio

_READ_AHEAD: Final = 64 * 1024  # how much input poll_oneoff reads to learn whether there is any
_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


class Readable(Protocol):
    def read(self, size: int, /) -> bytes | str | None: ...


class BinaryWritable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class TextWritable(Protocol):
    def write(self, text: str, /) -> object: ...


_Bytes: TypeAlias = "bytes | bytearray | memoryview"
StdinOption: TypeAlias = "int | Closed | _Bytes | str | Readable | Iterable[_Bytes | str]"
StdoutOption: TypeAlias = "int | Closed | BinaryWritable | TextWritable | Callable[[bytes], object]"

Emit = Callable[[bytes], int]
"""Hands guest output to the embedder's object; returns how many of the bytes it took."""
Fill = Callable[[int], bytes]
"""About `size` more bytes of input from the embedder's object (more or fewer); b"" at its end."""


class Failures:
    """The first exception a stdio object raised since the embedder was last told."""

    def __init__(self) -> None:
        self._first: StdioError | None = None

    def record(self, stream: str, error: Exception) -> WasiErrno:
        """Keep `error` (unless one is kept already) and return the EIO the guest gets."""
        if self._first is None:
            failure = StdioError(stream, error)
            failure.__cause__ = error
            self._first = failure
        return WasiErrno(Errno.IO)

    def take(self) -> StdioError | None:
        first, self._first = self._first, None
        return first


class _PyStream(Stdio):
    """A standard stream whose other end is Python code of the embedder's."""

    filetype = Filetype.UNKNOWN  # what a pipe is to WASI: no tty, so libc buffers stdout fully

    def __init__(self, name: str, direction: int, failures: Failures) -> None:
        self.name = name
        self.direction = direction
        self.fdflags = 0
        self._failures = failures

    def _call(self, action: Callable[[_Arg], _Result], argument: _Arg) -> _Result:
        """Run the embedder's code: what it raises becomes EIO, kept for the embedder."""
        try:
            return action(argument)
        except WasiErrno:
            raise
        except Exception as error:
            raise self._failures.record(self.name, error) from None

    def sync(self) -> None:
        """Every write has reached the object already."""

    datasync = sync


class PyWriter(_PyStream):
    """stdout or stderr into the embedder's object, one `emit` per fd_write."""

    def __init__(self, name: str, emit: Emit, failures: Failures,
                 finish: Emit | None = None) -> None:
        """`finish`, if given, is called with b"" when the guest is done (see `close`)."""
        super().__init__(name, Rights.FD_WRITE, failures)
        self._emit = emit
        self._finish = finish

    def write(self, bufs: Sequence[memoryview]) -> int:
        data = b"".join(bufs)
        if not data:
            return 0
        return self._call(self._emit, data)

    def close(self) -> None:
        """Hand over what the object still holds back (a text stream's incomplete character);
        a failure there is kept for the embedder, as any other."""
        if self._finish is not None:
            with suppress(WasiErrno):
                self._call(self._finish, b"")


class PyReader(_PyStream):
    """stdin from the embedder's object: input arrives in chunks from `fill`, handed out as the
    guest reads. poll_oneoff asks for the next chunk ahead, to report how much there is, or a
    hang-up at the end of input as for a closed pipe; an object that blocks makes it wait."""

    def __init__(self, name: str, fill: Fill, failures: Failures, data: bytes = b"") -> None:
        super().__init__(name, Rights.FD_READ, failures)
        self._fill = fill
        self._chunk = data
        self._at = 0

    def read(self, bufs: Sequence[memoryview]) -> int:
        wanted = sum(len(buf) for buf in bufs)
        if not wanted:
            return 0
        if self._at == len(self._chunk):
            self._refill(wanted)
        moved = 0
        for buf in bufs:
            piece = self._chunk[self._at : self._at + len(buf)]
            buf[: len(piece)] = piece
            self._at += len(piece)
            moved += len(piece)
            if self._at == len(self._chunk):
                break
        return moved

    def readiness(self, event: Eventtype) -> Readiness:
        if self._at == len(self._chunk):
            self._refill(_READ_AHEAD)
        left = len(self._chunk) - self._at
        return Readiness(left, hangup=not left)

    def _refill(self, size: int) -> None:
        self._chunk, self._at = self._call(self._fill, size), 0


def _as_bytes(value: object, source: str) -> bytes:
    """Input as the guest reads it: bytes as they are, text as UTF-8."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if value is None:  # a non-blocking stream with nothing to read yet
        raise WasiErrno(Errno.AGAIN)
    raise TypeError(f"{source} gave {type(value).__name__}, not bytes or str")


def _no_more_input(size: int) -> bytes:
    return b""


def _reading(stream: Readable) -> Fill:
    # read1 returns what one read of the source gives, without waiting for `size` bytes.
    read: Callable[[int], object] = getattr(stream, "read1", None) or stream.read

    def fill(size: int) -> bytes:
        return _as_bytes(read(size), "read()")

    return fill


def _iterating(chunks: Iterable[object]) -> Fill:
    iterator = iter(chunks)

    def fill(size: int) -> bytes:
        for chunk in iterator:
            data = _as_bytes(chunk, "the iterable")
            if data:  # an empty chunk is no end of input
                return data
        return b""

    return fill


def _calling(function: Callable[[bytes], object]) -> Emit:
    def emit(data: bytes) -> int:
        function(data)
        return len(data)

    return emit


def _flushing(stream: object) -> Callable[[], object]:
    flush = getattr(stream, "flush", None)
    return flush if callable(flush) else lambda: None


def _writing_bytes(stream: BinaryWritable) -> Emit:
    write, flush = stream.write, _flushing(stream)

    def emit(data: bytes) -> int:
        taken = write(data)
        flush()  # through any buffer of the object's, so it holds the bytes when we return
        # A raw stream may take part of the bytes (the guest writes the rest again).
        return taken if isinstance(taken, int) and 0 <= taken <= len(data) else len(data)

    return emit


def _writing_text(stream: TextWritable) -> Emit:
    """Output decoded as UTF-8 (bad bytes become U+FFFD); a character split across two writes
    is written whole with the second. Emitting b"" writes out the rest at the end."""
    write, flush = stream.write, _flushing(stream)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def emit(data: bytes) -> int:
        text = decoder.decode(data, final=not data)
        if text:
            write(text)
            flush()
        return len(data)

    return emit


def _is_text(stream: object) -> bool:
    if isinstance(stream, io.TextIOBase):
        return True
    binary = isinstance(stream, (io.RawIOBase, io.BufferedIOBase))
    return not binary and isinstance(getattr(stream, "encoding", None), str)


def _lent_descriptor(value: object) -> int | None:
    """The host descriptor of an open file whose bytes go straight to that descriptor (a file
    from open(), sys.stdout on a terminal, a socket file), else None. A wrapper that only
    reports another file's descriptor, as gzip's does, is no such file."""
    layer = value
    if isinstance(layer, io.TextIOWrapper):
        layer = layer.buffer
    if isinstance(layer, (io.BufferedReader, io.BufferedWriter, io.BufferedRandom)):
        layer = layer.raw
    # A socket file exists only once its module is imported; a run without one need not.
    socket = sys.modules.get("socket")
    if not isinstance(layer, io.FileIO) and (socket is None
                                             or not isinstance(layer, socket.SocketIO)):
        return None
    try:
        return layer.fileno()
    except (OSError, ValueError):
        return None


def _line_up(stream: object, host_fd: int) -> None:
    """Move a lent input descriptor to where its Python file has read to (buffers read ahead)."""
    try:
        if stream.seekable():  # type: ignore[attr-defined]
            os.lseek(host_fd, stream.tell(), os.SEEK_SET)  # type: ignore[attr-defined]
    except (OSError, ValueError, OverflowError):  # a text file's opaque position, say
        pass


class GuestStdio:
    """The guest's three standard streams as the embedder gave them, and what they need
    around each call into the guest: Python buffers flushed before, failures raised after."""

    def __init__(self) -> None:
        self.failures = Failures()
        self._lent: list[tuple[HostStream, object]] = []  # (file, the Python object or None)
        self._flushes: dict[int, Callable[[], object]] = {}

    def open(self, value: object, name: str, direction: int) -> Stdio | None:
        """`value` (a host descriptor number, checked already, or a Python object) as the
        guest's `name` stream; None if it is no kind of object that stream can be."""
        if isinstance(value, int) and not isinstance(value, bool):
            return self._lend(value, direction, None)
        if direction == Rights.FD_READ:
            return self._input(value, name)
        return self._output(value, name)

    def _lend(self, host_fd: int, direction: int, origin: object) -> HostStream:
        stream = HostStream(host_fd, direction)
        self._lent.append((stream, origin))
        return stream

    def _input(self, value: object, name: str) -> Stdio | None:
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return PyReader(name, _no_more_input, self.failures, bytes(value))
        host_fd = _lent_descriptor(value)
        if host_fd is not None:
            return self._lend(host_fd, Rights.FD_READ, value)
        if callable(getattr(value, "read", None)):
            return PyReader(name, _reading(value), self.failures)  # type: ignore[arg-type]
        if isinstance(value, Iterable):
            return PyReader(name, _iterating(value), self.failures)
        return None

    def _output(self, value: object, name: str) -> Stdio | None:
        host_fd = _lent_descriptor(value)
        if host_fd is not None:
            return self._lend(host_fd, Rights.FD_WRITE, value)
        if callable(getattr(value, "write", None)):
            if _is_text(value):
                emit = _writing_text(value)  # type: ignore[arg-type]
                return PyWriter(name, emit, self.failures, finish=emit)
            return PyWriter(name, _writing_bytes(value), self.failures)  # type: ignore[arg-type]
        if callable(value):
            return PyWriter(name, _calling(value), self.failures)
        return None

    def prepare(self) -> None:
        """Before the guest first runs: line lent input files up with their descriptors, and
        find what must be flushed before each call, so output comes out in program order: the
        lent output files, and the host's sys.stdout and sys.stderr where they share an open
        file with one of the guest's streams."""
        shared = []
        for stream, origin in self._lent:
            if origin is not None:
                if stream.direction == Rights.FD_READ:
                    _line_up(origin, stream.host_fd)
                else:
                    self._flushes[id(origin)] = _flushing(origin)
            with suppress(OSError):
                shared.append(os.fstat(stream.host_fd))
        for host_stream in (sys.stdout, sys.stderr):
            try:
                status = os.fstat(host_stream.fileno())
            except (AttributeError, OSError, ValueError):  # None, or no descriptor of its own
                continue
            if any(os.path.samestat(status, other) for other in shared):
                self._flushes[id(host_stream)] = host_stream.flush

    def before_guest_call(self) -> None:
        for flush in self._flushes.values():
            flush()

    def after_guest_call(self) -> None:
        failure = self.failures.take()
        if failure is not None:
            raise failure
