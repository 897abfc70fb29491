"""Bounds on the host work one guest request can cause, each with the errno a guest gets.

A guest chooses its lengths and counts freely (up to 4 GiB of linear memory), so every place
where the host would spend memory or time in proportion to one of them has a bound here, or
works in place so that the size costs the host nothing. The README's "Limits" table lists
them all; the path limits live with the resolver (`sandbox.resolver.PATH_MAX`,
`MAX_SYMLINKS`, `MAX_LINK_TARGET`).
"""

from __future__ import annotations

import resource
from typing import Final

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
