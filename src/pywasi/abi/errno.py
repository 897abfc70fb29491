"""The errno a system call returns, as an exception, and the host-to-WASI errno mapping."""

from __future__ import annotations

import errno as host
from typing import Final

from .types import Errno


class WasiErrno(Exception):
    """Raised anywhere below a system call to make it return `errno` to the guest."""

    def __init__(self, errno: Errno) -> None:
        super().__init__(errno.name)
        self.errno = errno


# Host errno values whose WASI counterpart has the same name (2big and the aliases aside).
_SAME_NAME: Final = [
    name for name in Errno.__members__ if name not in ("SUCCESS", "TOOBIG", "NOTCAPABLE")
]
HOST_TO_WASI: Final[dict[int, Errno]] = {
    getattr(host, "E" + name): Errno[name] for name in _SAME_NAME if hasattr(host, "E" + name)
}
HOST_TO_WASI[host.E2BIG] = Errno.TOOBIG
HOST_TO_WASI[host.EWOULDBLOCK] = Errno.AGAIN
HOST_TO_WASI[host.EOPNOTSUPP] = Errno.NOTSUP


def errno_from_os(error: OSError) -> Errno:
    """The WASI errno for a host `OSError`; EIO when the host gives one WASI has no name for."""
    return HOST_TO_WASI.get(error.errno or 0, Errno.IO)
