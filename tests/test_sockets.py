"""Sockets handed to the guest: the WASI option, the sock_* calls, and fd_* calls on sockets."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile

import pytest

import pywasi
from background import JOIN_SECONDS, later
from guest import build_c


def run_socket_calls(mode: str, sock: socket.socket) -> list[str]:
    with tempfile.TemporaryFile() as out:
        wasi = pywasi.WASI(version="preview1", args=["socket_calls", mode],
                           stdout=out.fileno(), sockets=[sock])
        assert wasi.start(pywasi.instantiate(wasi, build_c("socket_calls"))) == 0
        out.seek(0)
        return out.read().decode().splitlines()


def test_datagrams_peek_and_truncation() -> None:
    guest_end, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with guest_end, peer:
        peer.send(b"0123456789")
        peer.send(b"ab")
        assert run_socket_calls("dgram", guest_end) == [
            "peek 4 of 10: errno 0 size 4 roflags 1",  # RECV_DATA_TRUNCATED
            "peeked 0123",
            "recv 3+3 of 10: errno 0 size 6 roflags 1",  # the peek left the datagram queued
            "got 012 345",
            "recv 8 of 2: errno 0 size 2 roflags 0",
            "got ab",
        ]


def test_stream_calls_flags_and_errors() -> None:
    guest_end, peer = socket.socketpair()
    with guest_end, peer:
        peer.sendall(b"hello")
        sender = later(0.1, peer.sendall, b" world")
        try:
            lines = run_socket_calls("stream", guest_end)
        finally:
            sender.join(JOIN_SECONDS)
        assert lines == [
            "waitall 11: errno 0 size 11 roflags 0",  # waited for the second part
            "got hello world",
            "riflags 4: errno 28 size 0 roflags 0",  # EINVAL
            "fdstat: filetype 6 flags 4",  # SOCKET_STREAM, NONBLOCK
            "nonblocking, nothing there: errno 6 size 0 roflags 0",  # EAGAIN
            "filestat: filetype 6",
            "fd_write: errno 0 size 12",
            "sock_send: errno 0",
            "sock_send siflags 1: errno 28",
            "sock_send stdin: errno 57",  # ENOTSOCK
            "sock_send fd 99: errno 8",  # EBADF
            "shutdown 0: errno 28",
            "shutdown 4: errno 28",
            "shutdown stdout: errno 57",
            "shutdown wr: errno 0",
            "send after wr: errno 64",  # EPIPE
            "shutdown rd: errno 0",
            "recv after rd: errno 0 size 0 roflags 0",
            "accept on a connection: errno 28",
        ]
        peer.settimeout(5)
        assert peer.recv(100) == b"by fd_write;by sock_send"
        assert peer.recv(100) == b""  # the guest shut down its writing side


def test_the_caller_keeps_its_socket() -> None:
    """The guest gets a duplicate: closing it leaves the caller's socket open and blocking."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        wasi = pywasi.WASI(version="preview1", sockets=[listener, listener.fileno()])
        wasi.close()
        assert listener.fileno() >= 0 and listener.getblocking()
        with socket.create_connection(listener.getsockname(), timeout=5):
            accepted, _ = listener.accept()
            accepted.close()


@pytest.mark.parametrize(("sockets", "error", "message"), [
    ("not a list", pywasi.InvalidArgTypeError, '"sockets" option must be a list or tuple'),
    ([1.5], pywasi.InvalidArgTypeError, '"sockets[0]" option must be a socket.socket or an int'),
    ([True], pywasi.InvalidArgTypeError, '"sockets[0]" option must be a socket.socket or an int'),
    ([-1], pywasi.OutOfRangeError, 'value of "sockets[0]" is out of range'),
])
@pytest.mark.one_path
def test_option_checks(sockets: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        pywasi.WASI(version="preview1", sockets=sockets)  # type: ignore[arg-type]


@pytest.mark.one_path
def test_not_a_socket_is_rejected_and_nothing_leaks() -> None:
    read_end, write_end = os.pipe()
    closed = socket.socket()
    closed.close()
    try:
        open_before = len(os.listdir("/proc/self/fd"))
        for bad in ([read_end], [closed]):
            with pytest.raises(pywasi.InvalidArgValueError, match=r"sockets\[0\]") as caught:
                pywasi.WASI(version="preview1", preopens={"/": "/"}, sockets=bad)
            assert caught.value.code == "ERR_INVALID_ARG_VALUE"
        assert len(os.listdir("/proc/self/fd")) == open_before
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.one_path
def test_cli_rejects_a_bad_tcplisten() -> None:
    run = subprocess.run([sys.executable, "-m", "pywasi", "run", "--tcplisten", "no-port"],
                         capture_output=True)
    assert run.returncode == 2 and b"expected HOST:PORT" in run.stderr
    with socket.create_server(("127.0.0.1", 0)) as taken:
        host, port = taken.getsockname()
        run = subprocess.run([sys.executable, "-m", "pywasi", "run", "--tcplisten",
                              f"{host}:{port}"], capture_output=True)
    assert run.returncode == 1 and b"cannot listen on" in run.stderr
