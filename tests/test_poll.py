"""poll_oneoff: clocks, descriptors, and both at once, driven by the tests/c/poll.c guest."""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import pytest

import pywasi
from background import JOIN_SECONDS, later
from guest import build_c

MS = 1_000_000
EBADF, EINVAL, EPIPE = 8, 28, 64
CLOCK, FD_READ, FD_WRITE = 0, 1, 2
HANGUP = 1
REALTIME, MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME = 0, 1, 2, 3


@dataclass
class Event:
    error: int
    type: int
    nbytes: int
    flags: int


@dataclass
class Poll:
    result: int
    wall_ns: int
    cpu_ns: int
    events: dict[int, Event]  # by userdata: the subscription's position, from 1


def parse(output: str) -> Poll:
    lines = output.splitlines()
    head = lines[0].split()
    assert head[0] == "result" and int(head[3]) == len(lines) - 1
    events = {}
    for line in lines[1:]:
        word = line.split()
        events[int(word[1])] = Event(*(int(value) for value in word[3::2]))
    return Poll(int(head[1]), int(head[5]), int(head[7]), events)


def poll(*subscriptions: str, stdin: int | None = None, stderr: int = 2,
         sockets: Sequence[socket.socket] = ()) -> Poll:
    """Run the guest with one subscription per argument; stdout is a regular file."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as empty:
        wasi = pywasi.WASI(
            version="preview1", args=["poll", *subscriptions],
            stdin=empty.fileno() if stdin is None else stdin, stdout=out.fileno(),
            stderr=stderr, sockets=sockets,
        )
        assert wasi.start(pywasi.instantiate(wasi, build_c("poll"))) == 0
        out.seek(0)
        return parse(out.read().decode())


@contextmanager
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    try:
        yield read_end, write_end
    finally:
        for fd in (read_end, write_end):
            with suppress(OSError):  # closed by the test already
                os.close(fd)


# Wall times here are bounded below (a wait never ends early) and, where another event must
# come first, above by that event's deadline; how long past its deadline a wait ends depends
# on the machine's load, and is bench/stop_latency.py's to measure.


def test_a_sleep_lasts_its_time() -> None:
    result = poll(f"clock:{MONOTONIC}:{50 * MS}")
    assert result.result == 0
    assert result.events == {1: Event(0, CLOCK, 0, 0)}
    assert result.wall_ns >= 50 * MS


@pytest.mark.parametrize("clock", [REALTIME, MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME])
@pytest.mark.parametrize("absolute", [False, True])
def test_every_clock_relative_and_absolute(clock: int, absolute: bool) -> None:
    """CPU-time deadlines are waited out as wall time: an idle wait uses no CPU."""
    result = poll(f"clock:{clock}:{20 * MS}" + (":abs" if absolute else ""))
    assert result.events == {1: Event(0, CLOCK, 0, 0)}
    assert result.wall_ns >= 19 * MS


def test_earliest_deadline_wins() -> None:
    result = poll(f"clock:{MONOTONIC}:{2000 * MS}", f"clock:{REALTIME}:{30 * MS}:abs",
                  f"clock:{MONOTONIC}:{1000 * MS}")
    assert result.events == {2: Event(0, CLOCK, 0, 0)}
    assert 29 * MS <= result.wall_ns < 1000 * MS  # before the next deadline


def test_no_subscriptions_is_einval() -> None:
    result = poll()
    assert (result.result, result.events) == (EINVAL, {})


def test_problems_are_events_not_failures() -> None:
    """Unknown clock, bad fd, wrong direction: each its own event; the call succeeds at once.
    A stream not open for the direction asked is EBADF, as for fd_read and fd_write."""
    result = poll(f"clock:{MONOTONIC}:{5000 * MS}", "clock:9:1", "read:42", "read:1", "write:0")
    assert result.result == 0
    assert result.events == {
        2: Event(EINVAL, CLOCK, 0, 0),
        3: Event(EBADF, FD_READ, 0, 0),
        4: Event(EBADF, FD_READ, 0, 0),  # stdout cannot be read
        5: Event(EBADF, FD_WRITE, 0, 0),  # stdin cannot be written
    }
    assert result.wall_ns < 5000 * MS  # the clock's


def test_regular_files_are_always_ready() -> None:
    with tempfile.TemporaryFile() as stdin:
        stdin.write(b"0123456789")
        stdin.seek(3)
        result = poll(f"clock:{MONOTONIC}:{5000 * MS}", "read:0", "write:1", stdin=stdin.fileno())
    assert result.events == {2: Event(0, FD_READ, 7, 0), 3: Event(0, FD_WRITE, 0, 0)}


@pytest.mark.parametrize("left_in_pipe", [b"", b"tail"])
def test_stdin_eof_is_a_hangup(left_in_pipe: bytes) -> None:
    with pipe() as (read_end, write_end):
        os.write(write_end, left_in_pipe)
        os.close(write_end)
        result = poll("read:0", f"clock:{MONOTONIC}:{5000 * MS}", stdin=read_end)
    assert result.events == {1: Event(0, FD_READ, len(left_in_pipe), HANGUP)}
    assert result.wall_ns < 5000 * MS  # the clock's


# Beside the longest clocks (292 and 584 years), which the host waits out in pieces.
@pytest.mark.parametrize("timeout", [5000 * MS, 2**63, 2**64 - 1])
def test_pipe_becoming_readable_beats_the_clock(timeout: int) -> None:
    with pipe() as (read_end, write_end):
        writer = later(0.1, os.write, write_end, b"ping")
        try:
            result = poll("read:0", f"clock:{MONOTONIC}:{timeout}", stdin=read_end)
        finally:
            writer.join(JOIN_SECONDS)
    assert result.events == {1: Event(0, FD_READ, 4, 0)}
    # The timer starts before the guest does, so only the upper bound means anything: the
    # wait ended with the write, long before the 5 s clock.
    assert result.wall_ns < 5000 * MS


def test_clock_beats_a_silent_pipe() -> None:
    with pipe() as (read_end, _):
        result = poll("read:0", f"clock:{MONOTONIC}:{50 * MS}", stdin=read_end)
    assert result.events == {2: Event(0, CLOCK, 0, 0)}
    assert result.wall_ns >= 50 * MS


@pytest.mark.parametrize("with_pipe", [False, True], ids=["clock only", "clock and pipe"])
def test_waiting_leaves_the_cpu_idle(with_pipe: bool) -> None:
    """The guest reads the process's CPU-time clock around a 200 ms wait."""
    with pipe() as (read_end, _):
        subscriptions = [f"clock:{MONOTONIC}:{200 * MS}"] + (["read:0"] if with_pipe else [])
        result = poll(*subscriptions, stdin=read_end)
    assert result.events == {1: Event(0, CLOCK, 0, 0)}
    assert result.wall_ns >= 200 * MS
    assert result.cpu_ns < 20 * MS  # a busy wait would burn about 200 ms


def test_pipe_write_readiness_reports_free_space() -> None:
    with pipe() as (read_end, write_end):
        os.write(write_end, b"x" * 1000)
        capacity = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        result = poll("write:2", stderr=write_end)
    assert result.events == {1: Event(0, FD_WRITE, capacity - 1000, 0)}


def test_pipe_with_no_reader_is_epipe_for_writing() -> None:
    with pipe() as (read_end, write_end):
        os.close(read_end)
        result = poll("write:2", f"clock:{MONOTONIC}:{5000 * MS}", stderr=write_end)
    assert result.events == {1: Event(EPIPE, FD_WRITE, 0, 0)}


def test_socket_readiness_and_peer_shutdown() -> None:
    guest_end, peer = socket.socketpair()
    with guest_end, peer:
        waited = poll("read:3", f"clock:{MONOTONIC}:{50 * MS}", sockets=[guest_end])
        assert waited.events == {2: Event(0, CLOCK, 0, 0)}
        peer.sendall(b"hello")
        ready = poll("read:3", "write:3", sockets=[guest_end]).events
        assert ready[1] == Event(0, FD_READ, 5, 0)
        assert (ready[2].error, ready[2].type, ready[2].flags) == (0, FD_WRITE, 0)
        peer.shutdown(socket.SHUT_WR)
        assert poll("read:3", sockets=[guest_end]).events == {1: Event(0, FD_READ, 5, HANGUP)}

