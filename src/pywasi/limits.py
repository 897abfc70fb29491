"""Bounds on the host work one guest request can cause, each with the errno a guest gets.

A guest chooses its lengths and counts freely (up to 4 GiB of linear memory), so every place
where the host would spend memory or time in proportion to one of them has a bound here, or
works in place so that the size costs the host nothing. The README's "Limits" table lists
them all; the path limits live with the resolver (`sandbox.resolver.PATH_MAX`,
`MAX_SYMLINKS`, `MAX_LINK_TARGET`).

`Limits` bounds what one guest may use overall, in the names `wasmtime run` gives them
(``-W``/``-S``):

    wasi = WASI(version="preview1", limits=Limits(fuel=10**9, timeout=5.0))
    wasi.start(instantiate(wasi, "program.wasm"))

Each limit reached raises its own `LimitExceeded` subclass (see `pywasi.errors`), except where
WASI has an errno for it: a guest over `max_resources` gets EMFILE from the call that would
open one more descriptor, and a guest over `max_memory_size` sees `memory.grow` fail (malloc
returns NULL), as wasmtime does.
"""

from __future__ import annotations

import re
import resource
from typing import Any, Final, NamedTuple

from .errors import InvalidArgValueError

IOV_MAX: Final = 1024
"""Most (c)iovecs in one fd_read/fd_write/fd_pread/fd_pwrite/sock_recv/sock_send: more is
EINVAL, checked before one is read (Linux's IOV_MAX, and readv(2)'s errno)."""

IO_BYTES_MAX: Final = 0x7FFFF000
"""Most bytes one read or write moves: longer iovec lists are cut there, a short transfer
as POSIX allows (Linux's MAX_RW_COUNT). The count is then sure to fit the u32 result."""

POLL_SUBSCRIPTIONS_MAX: Final = 16384
"""Most subscriptions in one poll_oneoff: more is EINVAL (as poll(2) refuses more fds than
RLIMIT_NOFILE). Each costs the host a few hundred bytes while the call waits."""

RANDOM_CHUNK: Final = 1 << 20
"""random_get fills any length, in pieces of this many bytes: the host never holds more
than one piece, and a long request is only as slow as the host's random source."""

MEMORY_TREE_BYTES_DEFAULT: Final = 1 << 30
"""`Limits.max_memory_tree_bytes` unless set: 1 GiB, far more than a program's scratch files,
far less than a host's memory."""

_OPEN_FILES_CAP: Final = 1024
_SHARE_OF_PROCESS_LIMIT: Final = 4


def default_max_open_files() -> int:
    """Host descriptors one instance may hold (stdio, preopens and sockets included): 1024,
    or a quarter of the process's RLIMIT_NOFILE if that is less, so that the embedding program
    and a few more instances always have descriptors left. Opening past it is EMFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _OPEN_FILES_CAP
    return max(1, min(_OPEN_FILES_CAP, soft // _SHARE_OF_PROCESS_LIMIT))




TABLE_ELEMENTS_DEFAULT: Final = 10_000_000
"""Elements a guest's table may hold unless `Limits.max_table_elements` says otherwise: at
8-16 bytes each, at most ~160 MB per table (real programs hold thousands to a few 100,000)."""


class _LimitValues(NamedTuple):
    # Units of fuel the guest may burn (roughly one per wasm instruction); `OutOfFuel` after.
    fuel: int | None = None
    # Wall-clock seconds each call into the guest may take, blocking waits included;
    # `GuestTimeout` after.
    timeout: float | None = None
    # Bytes each linear memory may grow to.
    max_memory_size: int | None = None
    # Bytes of native stack wasm code may use; `StackExhausted` past it.
    max_wasm_stack: int | None = None
    # Descriptors the guest may hold open at once, stdio and preopens included.
    max_resources: int | None = None
    # Bytes one random_get may ask for; `ResourceLimit` past it.
    max_random_size: int | None = None
    # Whether compute can be stopped. True compiles epoch checks into every function entry
    # and loop (`engine.interrupt`), which costs call-heavy code a lot (yosys ran 1.6-1.8x
    # as long in issue 17's runs, bench/real_programs.py); a sandbox for untrusted code
    # sets it (or a timeout).
    # None (the default) compiles them only when a timeout needs them; False never, and
    # refuses a timeout. Without them, Ctrl-C, `interrupt()` and timeouts end every blocking
    # wait and stop the guest at its next system call, but a loop that makes none runs on.
    interruptible: bool | None = None
    # Bytes the guest may store in its memory trees (`MemoryDir`s), all of them together:
    # contents written, link targets, entries; ENOSPC past it. Holes and sizes cost nothing.
    # None (only if given) is no bound: the host's memory is.
    max_memory_tree_bytes: int | None = MEMORY_TREE_BYTES_DEFAULT
    # Elements each table may grow to; `table.grow` past it fails (returns -1), a module
    # declaring a larger table is `ResourceLimit`. The default keeps a table bomb from costing
    # the host gigabytes (100M elements took 790 MB) and is far above what real programs use.
    max_table_elements: int | None = TABLE_ELEMENTS_DEFAULT


class Limits(_LimitValues):
    """What one guest may use; None is no limit, every other value a number >= 0. (A
    NamedTuple, not a dataclass: importing `dataclasses` would cost every run milliseconds.)"""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Limits:
        self = super().__new__(cls, *args, **kwargs)
        for name, value in zip(self._fields, self, strict=True):
            if name == "interruptible":
                if value is not None and not isinstance(value, bool):
                    raise InvalidArgValueError(
                        f"Limits.interruptible must be True, False or None, not {value!r}")
            elif value is not None and (isinstance(value, bool)
                                        or not isinstance(value, int | float) or value < 0):
                raise InvalidArgValueError(
                    f"Limits.{name} must be a number >= 0 (or None for no limit), not {value!r}"
                )
        if self.timeout is not None and self.interruptible is False:
            raise InvalidArgValueError("Limits.timeout needs interruptible=True: a guest "
                                       "compiled without epoch checks cannot be stopped in time")
        return self


# A pattern, compiled (and kept by `re`) on first use: compiling it costs every import 0.4 ms.
_DURATION: Final = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)?\s*"
_SECONDS_PER_UNIT: Final = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0,
}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``10s``, ``250ms``, ``1.5m`` or ``2`` (seconds)."""
    match = re.fullmatch(_DURATION, text)
    if match is None:
        raise ValueError(f"bad duration {text!r}: expected a number with a unit "
                         "(ns, us, ms, s, m, h), such as 10s or 250ms")
    return float(match[1]) * _SECONDS_PER_UNIT[match[2]]


_SIZE: Final = r"\s*(\d[\d_]*)\s*([kmgt](?:i?b)?)?\s*"
_BYTES_PER_UNIT: Final = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in a size such as ``65536``, ``64KiB``, ``16MiB``, ``1GiB`` (or ``64K``, ``16M``,
    ``1G``: binary units, as ``ulimit`` and ``docker --memory`` read them). ``64MB`` is refused
    rather than guessed at (10**6 or 2**20?)."""
    match = re.fullmatch(_SIZE, text, re.IGNORECASE)
    unit = "" if match is None else (match[2] or "").lower()
    if match is None or unit.endswith("b") and not unit.endswith("ib"):
        raise ValueError(f"bad size {text!r}: expected bytes, or a whole number with a unit "
                         "(KiB, MiB, GiB, TiB; K, M, G, T mean the same), such as 65536, "
                         "64KiB or 16MiB")
    return int(match[1].replace("_", "")) * _BYTES_PER_UNIT.get(unit[:1], 1)

