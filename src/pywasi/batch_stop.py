"""Stopping a batch's running guests wherever they run: this process, other processes, other
machines.

A future's `cancel()` only keeps a queued job from starting; a guest that runs must be
interrupted where it runs. Every task of a batch carries a `StopLine` (plain data, so it
travels with the job over any executor). In the process that runs the batch, the line names
the batch's `Stoppable`, which interrupts the instances the worker threads registered there.
A worker in another process (a process pool, a Dask worker) dials the line's address once per
batch, before its first job of the batch, and keeps the connection: the batch's end sends a
stop on it (to those that dial later too), and closes it when the batch is over, which ends
the worker's listening thread. Messages begin with the batch's random secret, so nothing else
listening at that address can pass for the batch. A worker that cannot reach the address runs
its jobs to their own limits.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
import threading
from typing import Any, Final, NamedTuple

from .errors import PyWasiError

_GO: Final = b"G"
_STOP: Final = b"S"
_SECRET_BYTES: Final = 16
HANDSHAKE_SECONDS: Final = 10.0
"""How long a worker waits to hear from a batch's address before running without its line."""


class BatchStopped(PyWasiError, RuntimeError):
    """A job of a batch that was stopped before the job began (it was not run)."""

    code = "ERR_PYWASI_BATCH_STOPPED"


class StopLine(NamedTuple):
    """What travels with each task of a batch so that its worker can be told to stop."""

    batch: str  # the batch's random name
    owner: int  # the process id of the process that runs the batch
    address: tuple[str, int] | None  # where the batch listens for workers of other processes
    secret: bytes  # what every message on the line begins with


class Stoppable:
    """A batch's guests running in this process, and whether the batch was stopped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[Any] = set()
        self.stopped = False
        self.ready = threading.Event()  # set once the line's first message came (or none will)

    def enter(self, instance: Any) -> None:
        """`instance` (with an `interrupt()`) is about to run: interrupt it if the batch stops."""
        with self._lock:
            self._running.add(instance)
            stopped = self.stopped
        if stopped:
            instance.interrupt()

    def leave(self, instance: Any) -> None:
        with self._lock:
            self._running.discard(instance)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            running = list(self._running)
        for instance in running:
            instance.interrupt()


# This process's part in each batch it runs or works for, with the process id that made the
# entry (a forked worker inherits its parent's entries, which are not its own).
_STATES: Final[dict[str, tuple[int, Stoppable]]] = {}
_STATES_LOCK: Final = threading.Lock()


def stoppable(line: StopLine) -> Stoppable:
    """This process's `Stoppable` for `line`'s batch, dialling the batch first if the batch
    runs in another process and this process has not heard from it yet."""
    with _STATES_LOCK:
        entry = _STATES.get(line.batch)
        if entry is not None and entry[0] == os.getpid():
            state = entry[1]
            made = False
        else:
            state = Stoppable()
            _STATES[line.batch] = (os.getpid(), state)
            made = True
    if made:
        if line.address is not None and line.owner != os.getpid():
            _dial(line, state)
        state.ready.set()
    state.ready.wait(HANDSHAKE_SECONDS)
    return state


def _read_message(sock: socket.socket, secret: bytes) -> bytes | None:
    """The next message's kind (`_GO` or `_STOP`), or None at the end of the line (or on
    anything that is not the batch speaking)."""
    wanted = len(secret) + 1
    data = b""
    while len(data) < wanted:
        try:
            chunk = sock.recv(wanted - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    if not secrets.compare_digest(data[:-1], secret):
        return None
    return data[-1:]


def _dial(line: StopLine, state: Stoppable) -> None:
    assert line.address is not None
    try:
        sock = socket.create_connection(line.address, timeout=HANDSHAKE_SECONDS)
    except OSError:
        return  # unreachable from here: the jobs run to their own limits
    first = _read_message(sock, line.secret)
    if first is None:
        sock.close()
        return
    if first == _STOP:
        state.stop()
    sock.settimeout(None)
    threading.Thread(target=_listen, args=(sock, line, state), daemon=True,
                     name=f"pywasi-batch-{line.batch}").start()


def _listen(sock: socket.socket, line: StopLine, state: Stoppable) -> None:
    with sock:
        while (message := _read_message(sock, line.secret)) is not None:
            if message == _STOP:
                state.stop()
    with _STATES_LOCK:  # the batch is over; a stopped one is remembered, for its late tasks
        if not state.stopped and _STATES.get(line.batch) == (os.getpid(), state):
            del _STATES[line.batch]


class _StopServer:
    """The batch's end of the lines of workers in other processes."""

    def __init__(self, host: str, secret: bytes) -> None:
        self._secret = secret
        self._listener = socket.create_server((host, 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._wake, self._woken = socket.socketpair()
        self._lock = threading.Lock()
        self._lines: list[socket.socket] = []
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="pywasi-batch-stop-server")
        self._thread.start()

    def _send(self, line: socket.socket, kind: bytes) -> None:
        with contextlib.suppress(OSError):  # a worker gone already needs no message
            line.sendall(self._secret + kind)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._listener, self._woken], [], [])
            if self._woken in ready:
                return
            try:
                line, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self._lines.append(line)
                self._send(line, _STOP if self._stopped else _GO)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for line in self._lines:
                self._send(line, _STOP)

    def close(self) -> None:
        self._wake.send(b"x")
        self._thread.join()
        for sock in (*self._lines, self._listener, self._wake, self._woken):
            sock.close()


class BatchStop:
    """One batch's way to stop its guests: its `line` for every task, and `stop()`."""

    def __init__(self, remote_host: str | None) -> None:
        """`remote_host` is where workers in other processes reach this one (None: the batch
        runs only in this process's threads)."""
        secret = secrets.token_bytes(_SECRET_BYTES)
        self._server = _StopServer(remote_host, secret) if remote_host is not None else None
        self.local = Stoppable()
        self.local.ready.set()
        self.line = StopLine(secrets.token_hex(8), os.getpid(),
                             self._server.address if self._server is not None else None, secret)
        with _STATES_LOCK:
            _STATES[self.line.batch] = (os.getpid(), self.local)

    def stop(self) -> None:
        """Interrupt the batch's running guests, here and in the workers that dialled in, and
        keep those not yet begun from beginning."""
        self.local.stop()
        if self._server is not None:
            self._server.stop()

    def close(self) -> None:
        """The batch is over: its lines are closed, and its workers forget it."""
        with _STATES_LOCK:
            _STATES.pop(self.line.batch, None)
        if self._server is not None:
            self._server.close()
