"""A C echo server compiled to WASI serves Python clients over loopback TCP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import pywasi
from background import in_background
from guest import build_c

TIMEOUT = 20  # seconds; generous, only there so a broken server fails the test, not hangs it


def echo(address: tuple[str, int], message: bytes) -> bytes:
    """Send `message`, half-close, and read everything back until the server closes."""
    with socket.create_connection(address, timeout=TIMEOUT) as client:
        reader = ThreadPoolExecutor(1)  # read while writing, or a big message deadlocks
        answer = reader.submit(read_to_end, client)
        client.sendall(message)
        client.shutdown(socket.SHUT_WR)
        reader.shutdown()
        return answer.result()


def read_to_end(client: socket.socket) -> bytes:
    chunks = []
    while chunk := client.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def quit_server(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=TIMEOUT) as client:
        client.sendall(b"quit")
        assert read_to_end(client) == b"bye\n"


@dataclass
class Server:
    address: tuple[str, int]
    exit_code: int | None = None
    output: bytes = b""  # what it printed after "ready"


@contextmanager
def running_server() -> Iterator[Server]:
    """The guest in a thread, given a listening socket; done once it has exited."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = Server(listener.getsockname())
    read_end, write_end = os.pipe()
    with listener, os.fdopen(read_end, "rb") as output:
        try:
            wasi = pywasi.WASI(version="preview1", sockets=[listener], stdout=write_end)
            instance = pywasi.instantiate(wasi, build_c("echo_server"))

            def serve() -> None:
                server.exit_code = wasi.start(instance)

            thread = in_background(serve)
            assert output.readline() == b"ready\n"
            yield server
            thread.join(TIMEOUT)
            assert not thread.is_alive()
        finally:
            os.close(write_end)
        server.output = output.read()


def test_sequential_and_concurrent_clients() -> None:
    with running_server() as server:
        address = server.address
        for index in range(20):
            message = f"hello {index}\n".encode()
            assert echo(address, message) == message

        messages = [f"client {index} ".encode() * (index + 1) for index in range(16)]
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda m: echo(address, m), messages)) == messages

        # Several connections open at once, answered in an order the server did not choose.
        clients = [socket.create_connection(address, timeout=TIMEOUT) for _ in range(5)]
        for index, client in reversed(list(enumerate(clients))):
            client.sendall(b"interleaved %d" % index)
        for index, client in enumerate(clients):
            assert client.recv(100) == b"interleaved %d" % index
            client.close()

        big = os.urandom(2 * 1024 * 1024)
        assert echo(address, big) == big
        quit_server(address)
    assert server.exit_code == 0
    assert server.output == b"served %d\n" % (20 + 16 + 5 + 1 + 1)


def test_cli_tcplisten_serves_until_quit() -> None:
    with socket.socket() as probe:  # a free port, very likely still free a moment later
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    command = [sys.executable, "-m", "pywasi", "run", "--tcplisten",
               f"{address[0]}:{address[1]}", str(build_c("echo_server"))]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as server:
        assert server.stdout is not None
        assert server.stdout.readline() == b"ready\n"
        assert echo(address, b"over the CLI") == b"over the CLI"
        quit_server(address)
        out, err = server.communicate(timeout=TIMEOUT)
    assert (server.returncode, out, err) == (0, b"served 2\n", b"")
