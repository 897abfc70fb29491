"""A system call whose result cannot be stored (a pointer past the end of memory) fails with
EFAULT before it acts: no half-written strings, no file created, no descriptor or connection
spent on a call the guest cannot learn the outcome of."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bound import PAGE, bound
from pywasi.abi.types import Errno, Fdflags, Oflags

pytestmark = pytest.mark.one_path

SENTINEL = b"\xaa"
# Two strings of which the first is 5 bytes stored (with its NUL), for args and for env.
ARGS = ["prog", "hello"]
ENV = {"p": "ro", "hell": "o"}


@pytest.mark.parametrize(("pointers", "buf"), [
    (0, PAGE - 5),  # the first string fits at the end of memory, the second does not
    (PAGE - 4, 0),  # the first pointer fits, the second does not
], ids=["strings-cross-the-end", "pointers-cross-the-end"])
@pytest.mark.parametrize(("call", "option"), [("args_get", "args"), ("environ_get", "env")])
def test_strings_are_written_whole_or_not_at_all(call: str, option: str, pointers: int,
                                                 buf: int) -> None:
    calls = bound(**{option: ARGS if option == "args" else ENV})
    for ptr in (pointers, buf):
        calls.write(ptr, SENTINEL * min(16, PAGE - ptr))
    before = [calls.read(ptr, min(16, PAGE - ptr)) for ptr in (pointers, buf)]
    assert calls(call, pointers, buf) == Errno.FAULT
    assert [calls.read(ptr, min(16, PAGE - ptr)) for ptr in (pointers, buf)] == before


def host_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_path_open_with_a_bad_result_pointer_creates_nothing(tmp_path: Path) -> None:
    calls = bound(preopens={"/sandbox": str(tmp_path)})
    calls.write(0, b"new")
    fds_before = host_fds()
    assert calls("path_open", 3, 0, 0, 3, Oflags.CREAT, 2**64 - 1, 0, 0, PAGE - 2) == Errno.FAULT
    assert list(tmp_path.iterdir()) == []
    assert host_fds() == fds_before
    assert calls("fd_fdstat_get", 4, 16) == Errno.BADF  # no guest descriptor taken either
    calls.wasi.close()


def test_sock_accept_with_a_bad_result_pointer_leaves_the_connection_waiting() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener, \
            socket.create_connection(listener.getsockname()) as client:
        calls = bound(sockets=[listener])
        try:
            # Non-blocking, so that a connection lost to the bad call fails fast, not hangs.
            assert calls("fd_fdstat_set_flags", 3, Fdflags.NONBLOCK) == 0
            fds_before = host_fds()
            assert calls("sock_accept", 3, 0, PAGE) == Errno.FAULT
            assert host_fds() == fds_before
            assert calls("sock_accept", 3, 0, 0) == 0
            assert calls.u32(0) == 4  # the first descriptor after the listener
            client.sendall(b"ping")
            calls.write(16, (32).to_bytes(4, "little") + (4).to_bytes(4, "little"))
            assert calls("sock_recv", 4, 16, 1, 0, 8, 12) == 0
            assert calls.read(32, 4) == b"ping"
        finally:
            calls.wasi.close()
