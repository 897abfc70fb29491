"""poll_oneoff: wait for clocks and descriptors together, sleeping in the host's poll(2).

Subscriptions are read through the context's ABI (snapshot 0 has a longer clock record), so
this module never asks which WASI version is running. A problem with one subscription (a bad
descriptor, a missing right, an unknown clock) becomes an event carrying that errno, as the
spec asks; only a malformed call as a whole fails.

Every clock is waited out on the host's monotonic clock: a deadline on the CPU-time clocks
is treated as that much wall time, since an idle wait spends no CPU time at all. Any timeout
is waited for, up to 2**64-1 ns (584 years): the host sleeps in pieces of at most
`_LONGEST_SLEEP_NS`, the most poll(2) takes, so no timeout is too long for it.

More than `limits.POLL_SUBSCRIPTIONS_MAX` subscriptions is EINVAL.
"""

from __future__ import annotations

import fcntl
import select
import time
from typing import Final, NamedTuple

from ..abi.errno import WasiErrno
from ..abi.layouts import EVENT, SUBSCRIPTION_BODY_OFFSET, SUBSCRIPTION_FD, SUBSCRIPTION_HEADER
from ..abi.types import Errno, Eventrwflags, Eventtype, Filetype, Rights, Subclockflags
from ..limits import POLL_SUBSCRIPTIONS_MAX
from ..sandbox.files import WasiFile
from ..sandbox.stop import StopSignal
from .clocks import now
from .context import WasiContext
from .registry import syscall

_RDHUP: Final = getattr(select, "POLLRDHUP", 0)  # peer shut down its writing side (Linux)
_POLL_MASK: Final = {
    Eventtype.FD_READ: select.POLLIN | _RDHUP,
    Eventtype.FD_WRITE: select.POLLOUT,
}
_FD_RIGHTS: Final = {
    Eventtype.FD_READ: Rights.FD_READ | Rights.POLL_FD_READWRITE,
    Eventtype.FD_WRITE: Rights.FD_WRITE | Rights.POLL_FD_READWRITE,
}
_NS_PER_MS: Final = 1_000_000
_LONGEST_SLEEP_NS: Final = (2**31 - 1) * _NS_PER_MS  # poll(2) takes an int of ms (24.8 days)


class _Event(NamedTuple):
    userdata: int
    type: Eventtype
    error: Errno = Errno.SUCCESS
    nbytes: int = 0
    flags: int = 0


class _FdWait(NamedTuple):
    """A read or write subscription on a descriptor the host must wait for."""

    userdata: int
    type: Eventtype
    host_fd: int


def _queued_bytes(host_fd: int) -> int:
    """Bytes waiting in a pipe, socket or terminal (FIONREAD); 0 where the host cannot say."""
    import termios  # here: only a poll of a descriptor's readiness needs these
    from array import array

    count = array("i", [0])
    try:
        fcntl.ioctl(host_fd, termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


def _pipe_space(host_fd: int) -> int:
    """Room left in a pipe's buffer; 0 where the descriptor is no pipe."""
    try:
        capacity = fcntl.fcntl(host_fd, fcntl.F_GETPIPE_SZ)
    except OSError:
        return 0
    return max(0, capacity - _queued_bytes(host_fd))


def _ready_now(userdata: int, type_: Eventtype, file: WasiFile) -> _Event:
    """The event of a file poll cannot wait on: the file says how ready it is."""
    try:
        ready = file.readiness(type_)
    except WasiErrno as error:
        return _Event(userdata, type_, error.errno)
    return _Event(userdata, type_, nbytes=ready.nbytes,
                  flags=Eventrwflags.FD_READWRITE_HANGUP if ready.hangup else 0)


def _host_event(wait: _FdWait, revents: int) -> _Event | None:
    """What the host's poll said about one subscription, or None if it is not ready."""
    if revents & select.POLLNVAL:
        return _Event(wait.userdata, wait.type, Errno.BADF)
    if wait.type is Eventtype.FD_READ:
        hangup = revents & (select.POLLHUP | _RDHUP)  # EOF: the writer has gone
        if revents & (select.POLLIN | select.POLLERR) or hangup:
            return _Event(wait.userdata, wait.type, nbytes=_queued_bytes(wait.host_fd),
                          flags=Eventrwflags.FD_READWRITE_HANGUP if hangup else 0)
        return None
    if revents & select.POLLERR:  # nobody left to read what would be written
        return _Event(wait.userdata, wait.type, Errno.PIPE)
    if revents & select.POLLHUP:
        return _Event(wait.userdata, wait.type, flags=Eventrwflags.FD_READWRITE_HANGUP)
    if revents & select.POLLOUT:
        return _Event(wait.userdata, wait.type, nbytes=_pipe_space(wait.host_fd))
    return None


class _Subscriptions:
    """The parsed request: events known at once, clock deadlines, descriptors to wait on."""

    def __init__(self, ctx: WasiContext, in_ptr: int, count: int) -> None:
        self.immediate: list[_Event] = []
        self.deadlines: list[tuple[int, int]] = []  # (monotonic ns, userdata)
        self.waits: list[_FdWait] = []
        abi = ctx.abi
        memory = ctx.memory
        memory.check(in_ptr, count * abi.subscription_size)  # all in bounds before anything else
        start = time.monotonic_ns()
        for index in range(count):
            at = in_ptr + index * abi.subscription_size
            userdata, tag = memory.unpack(SUBSCRIPTION_HEADER, at)
            body = at + SUBSCRIPTION_BODY_OFFSET
            if tag == Eventtype.CLOCK:
                clock_id, timeout, _precision, flags = memory.unpack(abi.subscription_clock, body)
                self._add_clock(userdata, clock_id, timeout, flags, start)
            elif tag in _POLL_MASK:
                (fd,) = memory.unpack(SUBSCRIPTION_FD, body)
                self._add_fd(ctx, userdata, Eventtype(tag), fd)
            else:
                raise WasiErrno(Errno.INVAL)

    def _add_clock(self, userdata: int, clock_id: int, timeout: int, flags: int,
                   start: int) -> None:
        try:
            clock_now = now(clock_id)  # also rejects an unknown clock
        except WasiErrno as error:
            self.immediate.append(_Event(userdata, Eventtype.CLOCK, error.errno))
            return
        absolute = flags & Subclockflags.SUBSCRIPTION_CLOCK_ABSTIME
        remaining = timeout - clock_now if absolute else timeout
        self.deadlines.append((start + max(0, remaining), userdata))

    def _add_fd(self, ctx: WasiContext, userdata: int, type_: Eventtype, fd: int) -> None:
        try:
            file = ctx.fds.get(fd, _FD_RIGHTS[type_]).file
        except WasiErrno as error:
            self.immediate.append(_Event(userdata, type_, error.errno))
            return
        host_fd = file.fileno()
        # "This event always triggers for regular files", and for what the host cannot poll.
        if host_fd is None or file.filetype is Filetype.REGULAR_FILE:
            self.immediate.append(_ready_now(userdata, type_, file))
        else:
            self.waits.append(_FdWait(userdata, type_, host_fd))


def _time_left(subs: _Subscriptions, first_deadline: int | None) -> int | None:
    """How long the host may sleep now, in ns: to the first deadline, or the longest the host
    can sleep at once (the caller then sleeps again); None for as long as it takes."""
    if subs.immediate:
        return 0
    if first_deadline is None:
        return None
    return min(_LONGEST_SLEEP_NS, max(0, first_deadline - time.monotonic_ns()))


def _wait(subs: _Subscriptions, stop: StopSignal) -> list[_Event]:
    """Block until something is ready (or return at once if something already is), or until
    the host stops the guest (`stop` rings)."""
    poller = select.poll()
    masks: dict[int, int] = {}
    for wait in subs.waits:
        masks[wait.host_fd] = masks.get(wait.host_fd, 0) | _POLL_MASK[wait.type]
    for host_fd, mask in masks.items():
        poller.register(host_fd, mask)
    stop_fd = stop.fileno()
    poller.register(stop_fd, select.POLLIN)
    first_deadline = min((deadline for deadline, _ in subs.deadlines), default=None)
    while True:
        timeout_ns = _time_left(subs, first_deadline)
        if masks:
            timeout_ms = None if timeout_ns is None else -(-timeout_ns // _NS_PER_MS)  # round up
            revents = dict(poller.poll(timeout_ms))
        else:
            revents = {}
            if timeout_ns != 0:
                # Only clocks: wait with the clock's precision (select's microseconds), not
                # poll's milliseconds.
                ready, _, _ = select.select([stop_fd], [], [],
                                            None if timeout_ns is None else timeout_ns / 1e9)
                revents = {stop_fd: select.POLLIN} if ready else {}
        if stop_fd in revents:
            stop.raise_if_stopped()
        events = list(subs.immediate)
        for wait in subs.waits:
            event = _host_event(wait, revents.get(wait.host_fd, 0))
            if event is not None:
                events.append(event)
        current = time.monotonic_ns()
        events += [_Event(userdata, Eventtype.CLOCK)
                   for deadline, userdata in subs.deadlines if deadline <= current]
        if events:
            return events


@syscall
def poll_oneoff(ctx: WasiContext, in_ptr: int, out_ptr: int, nsubscriptions: int,
                nevents_out: int) -> int:
    if nsubscriptions == 0 or nsubscriptions > POLL_SUBSCRIPTIONS_MAX:
        return Errno.INVAL
    memory = ctx.memory
    memory.check(out_ptr, nsubscriptions * EVENT.size)
    memory.check(nevents_out, 4)
    events = _wait(_Subscriptions(ctx, in_ptr, nsubscriptions), ctx.stop)
    for index, event in enumerate(events):
        memory.pack(EVENT, out_ptr + index * EVENT.size,
                    event.userdata, event.error, event.type, event.nbytes, event.flags)
    memory.store_u32(nevents_out, len(events))
    return 0
