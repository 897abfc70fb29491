"""`WASI(deterministic=Determinism(...))`: the same inputs give the same run, byte for byte.

What a host would vary is replaced, call by call, above the system calls themselves: clocks
read a virtual clock that starts at `start` and moves `step` ns per read (a `poll_oneoff`
never sleeps: it moves the clock to the first deadline, unless a descriptor subscribed with
the clocks is ready at once); `random_get` draws from a
generator seeded with `random_seed` (or is refused, ENOTSUP, without one: faking randomness
is an explicit choice); `fd_readdir` lists entries by name; stat results carry small stable
device and inode numbers (in order of first sight), directories one link and size 0, and
file times from the virtual clock (the guest's own `set_times` are kept as it gave them): a
stat that finds the host's size, mtime or ctime moved shows the virtual now for ctime, and
for mtime if size or mtime moved. The host's atime is never looked at (whether a read moves
it depends on the mount and the host's timing), so reads leave the atime shown as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, NamedTuple

from ..abi.layouts import EVENT, SUBSCRIPTION_BODY_OFFSET, SUBSCRIPTION_HEADER
from ..abi.signatures import Signature
from ..abi.types import Clockid, Errno, Eventtype, Filetype, Fstflags, Rights, Subclockflags
from ..errors import InvalidArgTypeError, OutOfRangeError
from ..limits import POLL_SUBSCRIPTIONS_MAX, RANDOM_CHUNK
from ..syscalls import SystemCall, WasiContext
from ..syscalls.fd import write_dirents
from ..syscalls.path import _path as guest_path
from ..syscalls.poll import _Subscriptions, _wait

if TYPE_CHECKING:
    from random import Random

_Y2K: Final = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z in ns


_U64_MAX: Final = 2**64 - 1


class Determinism(NamedTuple):
    """How a deterministic run's clocks and randomness behave (see the module docstring).
    A named tuple, not a dataclass: a run that only records need not import dataclasses."""

    random_seed: int | None = None
    start: int = _Y2K
    step: int = 1_000_000


def _checked(settings: Determinism) -> Determinism:
    """`settings`, or an error saying which one is of the wrong type or out of range."""
    if settings.random_seed is not None and not isinstance(settings.random_seed, int):
        raise InvalidArgTypeError(f"Determinism(random_seed=...) must be an int or None, "
                                  f"not {settings.random_seed!r}")
    for name in ("start", "step"):
        value = getattr(settings, name)
        if not isinstance(value, int):
            raise InvalidArgTypeError(f"Determinism({name}=...) must be an int of ns, "
                                      f"not {value!r}")
        if not 0 <= value <= _U64_MAX:
            raise OutOfRangeError(f"Determinism({name}=...) must be from 0 to 2**64-1 ns (a "
                                  f"WASI timestamp), not {value}")
    return settings


class _State:
    """One instance's virtual clock, generator and stable numbers. The clock stops at the
    last u64 timestamp: a guest that polls for 2**64-1 ns over and over reads that, never an
    overflow."""

    def __init__(self, settings: Determinism) -> None:
        self.settings = _checked(settings)
        self.elapsed = 0
        self.random: Random | None = None
        if settings.random_seed is not None:
            from random import Random  # here: a run without a seed (or only recording) skips it

            self.random = Random(settings.random_seed)
        self.devices: dict[int, int] = {}
        self.inodes: dict[tuple[int, int], int] = {}
        # stable inode -> (host size, mtime and ctime last seen, the virtual times shown)
        self.times: dict[int, tuple[tuple[int, ...], list[int]]] = {}

    def advance(self, ns: int) -> None:
        self.elapsed = min(self.elapsed + ns, _U64_MAX - self.settings.start)

    def tick(self) -> int:
        """The virtual realtime now; the clock then moves one step."""
        now = self.settings.start + self.elapsed
        self.advance(self.settings.step)
        return now

    def read(self, clock_id: int) -> int:
        now = self.tick()
        return now if clock_id == Clockid.REALTIME else now - self.settings.start

    def inode(self, dev: int, ino: int) -> int:
        return self.inodes.setdefault((dev, ino), len(self.inodes) + 1)


Wrapper = Callable[[_State, Callable[..., int]], Callable[..., int]]
_WRAPPERS: Final[dict[str, Wrapper]] = {}


def _replaces(name: str) -> Callable[[Wrapper], Wrapper]:
    def register(wrapper: Wrapper) -> Wrapper:
        _WRAPPERS[name] = wrapper
        return wrapper
    return register


@_replaces("clock_time_get")
def _clock_time_get(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, clock_id: int, precision: int, time_out: int) -> int:
        if clock_id not in Clockid._value2member_map_:
            return Errno.INVAL
        ctx.memory.check(time_out, 8)
        ctx.memory.store_u64(time_out, state.read(clock_id))
        return 0
    return call


@_replaces("clock_res_get")
def _clock_res_get(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, clock_id: int, resolution_out: int) -> int:
        if clock_id not in Clockid._value2member_map_:
            return Errno.INVAL
        ctx.memory.store_u64(resolution_out, max(1, state.settings.step))
        return 0
    return call


@_replaces("random_get")
def _random_get(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, buf: int, buf_len: int) -> int:
        if state.random is None:  # no seed given: no pretend randomness
            return Errno.NOTSUP
        target = ctx.memory.view(buf, buf_len)
        for begin in range(0, buf_len, RANDOM_CHUNK):
            end = min(begin + RANDOM_CHUNK, buf_len)
            target[begin:end] = state.random.randbytes(end - begin)
        return 0
    return call


@_replaces("poll_oneoff")
def _poll_oneoff(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    """Clocks never wait on the host: the virtual clock jumps to the first deadline, unless a
    descriptor subscribed beside them is ready at that moment (the host only looks, never
    waits). Descriptors alone: the host's poll answers (their readiness is an input)."""
    def call(ctx: WasiContext, in_ptr: int, out_ptr: int, count: int, nevents_out: int) -> int:
        memory = ctx.memory
        if count == 0 or count > POLL_SUBSCRIPTIONS_MAX:
            return host(ctx, in_ptr, out_ptr, count, nevents_out)
        clocks = _virtual_waits(state, ctx, in_ptr, count)
        if not clocks:
            return host(ctx, in_ptr, out_ptr, count, nevents_out)
        memory.check(out_ptr, count * EVENT.size)
        memory.check(nevents_out, 4)
        ready = [] if len(clocks) == count else _descriptors_ready(ctx, in_ptr, count)
        first = 0 if ready else min(wait for wait, _, _ in clocks)
        state.advance(first)
        events = [(userdata, error, Eventtype.CLOCK, 0, 0)
                  for wait, userdata, error in clocks if wait == first] + ready
        for index, event in enumerate(events):
            memory.pack(EVENT, out_ptr + index * EVENT.size, *event)
        memory.store_u32(nevents_out, len(events))
        return 0
    return call


def _virtual_waits(state: _State, ctx: WasiContext, in_ptr: int,
                   count: int) -> list[tuple[int, int, int]]:
    """(virtual ns to wait, userdata, errno) of each clock subscription."""
    abi, memory = ctx.abi, ctx.memory
    memory.check(in_ptr, count * abi.subscription_size)
    now = state.settings.start + state.elapsed
    waits = []
    for index in range(count):
        at = in_ptr + index * abi.subscription_size
        userdata, tag = memory.unpack(SUBSCRIPTION_HEADER, at)
        if tag != Eventtype.CLOCK:
            continue
        clock_id, timeout, _, flags = memory.unpack(abi.subscription_clock,
                                                    at + SUBSCRIPTION_BODY_OFFSET)
        if clock_id not in Clockid._value2member_map_:
            waits.append((0, userdata, int(Errno.INVAL)))
            continue
        clock_now = now if clock_id == Clockid.REALTIME else now - state.settings.start
        absolute = flags & Subclockflags.SUBSCRIPTION_CLOCK_ABSTIME
        waits.append((max(0, timeout - clock_now if absolute else timeout), userdata, 0))
    return waits


_LOOK_ONLY: Final = -1  # userdata of a stand-in clock already due: no guest's (they are u64)


def _descriptors_ready(ctx: WasiContext, in_ptr: int, count: int) -> list[tuple[int, ...]]:
    """The events of the descriptor subscriptions ready now, by the host's poll with its
    clocks replaced by one already due, so that it looks and returns."""
    subscriptions = _Subscriptions(ctx, in_ptr, count)
    subscriptions.deadlines = [(0, _LOOK_ONLY)]
    subscriptions.immediate = [event for event in subscriptions.immediate
                               if event.type != Eventtype.CLOCK]  # counted as virtual ones
    return [(event.userdata, event.error, event.type, event.nbytes, event.flags)
            for event in _wait(subscriptions, ctx.stop) if event.type != Eventtype.CLOCK]


@_replaces("fd_readdir")
def _fd_readdir(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, fd: int, buf: int, buf_len: int, cookie: int,
             bufused_out: int) -> int:
        file = ctx.fds.get(fd, Rights.FD_READDIR).file
        listing = sorted(file.readdir(0), key=lambda entry: entry.name)
        dev = file.stat().dev
        entries = [entry._replace(next=index + 1, ino=state.inode(dev, entry.ino))
                   for index, entry in enumerate(listing)][cookie:]
        write_dirents(ctx.memory, buf, buf_len, bufused_out, entries)
        return 0
    return call


def _stable_stat(state: _State, ctx: WasiContext, ptr: int) -> None:
    """Rewrite the filestat the host just stored at `ptr` with the run's stable values."""
    layout = ctx.abi.filestat
    dev, ino, filetype, nlink, size, _, mtim, ctim = ctx.memory.unpack(layout, ptr)
    stable = state.inode(dev, ino)
    seen, shown = state.times.get(stable, ((), []))
    if not shown:
        shown = [state.tick()] * 3
    elif (size, mtim, ctim) != seen:
        now = state.tick()
        shown = [shown[0], now if (size, mtim) != seen[:2] else shown[1], now]
    state.times[stable] = ((size, mtim, ctim), shown)
    if filetype == Filetype.DIRECTORY:
        nlink, size = 1, 0
    ctx.memory.pack(layout, ptr, state.devices.setdefault(dev, len(state.devices) + 1),
                    stable, filetype, nlink, size, *shown)


@_replaces("fd_filestat_get")
def _fd_filestat_get(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, fd: int, out: int) -> int:
        errno = host(ctx, fd, out)
        if errno == 0:
            _stable_stat(state, ctx, out)
        return errno
    return call


@_replaces("path_filestat_get")
def _path_filestat_get(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, fd: int, flags: int, path: int, path_len: int, out: int) -> int:
        errno = host(ctx, fd, flags, path, path_len, out)
        if errno == 0:
            _stable_stat(state, ctx, out)
        return errno
    return call


def _times_set(state: _State, ctx: WasiContext, stat: tuple[int, ...], atim: int, mtim: int,
               flags: int) -> None:
    """Remember the times the guest set, as it gave them (``*_NOW``: the virtual now)."""
    dev, ino, _, _, size, _, host_mtim, host_ctim = stat
    stable = state.inode(dev, ino)
    _, shown = state.times.get(stable, ((), [state.tick()] * 3))
    now = state.tick()
    shown = [atim if flags & Fstflags.ATIM else now if flags & Fstflags.ATIM_NOW else shown[0],
             mtim if flags & Fstflags.MTIM else now if flags & Fstflags.MTIM_NOW else shown[1],
             now]
    state.times[stable] = ((size, host_mtim, host_ctim), shown)


@_replaces("fd_filestat_set_times")
def _fd_set_times(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, fd: int, atim: int, mtim: int, flags: int) -> int:
        errno = host(ctx, fd, atim, mtim, flags)
        if errno == 0:
            _times_set(state, ctx, tuple(ctx.fds.get(fd).file.stat()), atim, mtim, flags)
        return errno
    return call


@_replaces("path_filestat_set_times")
def _path_set_times(state: _State, host: Callable[..., int]) -> Callable[..., int]:
    def call(ctx: WasiContext, fd: int, lookup: int, path: int, path_len: int, atim: int,
             mtim: int, flags: int) -> int:
        errno = host(ctx, fd, lookup, path, path_len, atim, mtim, flags)
        if errno == 0:
            stat = ctx.fds.get(fd).file.stat_at(guest_path(ctx, path, path_len), bool(lookup & 1))
            _times_set(state, ctx, tuple(stat), atim, mtim, flags)
        return errno
    return call


class Deterministic:
    """Applies a `Determinism` to one instance's system calls."""

    def __init__(self, settings: Determinism) -> None:
        self.state = _State(settings)

    def close(self) -> None:
        """Nothing to give back."""

    def wrap(self, system_call: SystemCall, signature: Signature) -> SystemCall:
        make = _WRAPPERS.get(system_call.__name__)
        if make is None:
            return system_call

        def host(ctx: WasiContext, *args: int) -> int:
            return system_call.implementation(ctx, *args)

        wrapped = SystemCall(system_call.context, system_call.__name__,
                             make(self.state, host), signature)
        wrapped.enable()
        return wrapped
