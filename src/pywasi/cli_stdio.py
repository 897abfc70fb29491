"""The host's standard descriptors as `pywasi run` finds them.

A parent may start the command with any of 0, 1 and 2 closed (``<&-``, ``>&-``). The guest
then gets a stream there that answers EBADF (`sandbox.stdio.CLOSED`), as under wasmtime, and
runs to its own exit status. Each closed number is taken by /dev/null for the rest of the
run, so no file pywasi opens (the module, the cache, a trace file, a preopen, a listening
socket) lands on a standard number, where Python's, wasmtime's or a C library's own messages
would be written into it.
"""

from __future__ import annotations

import os
import sys
from typing import Final

from .sandbox.stdio import CLOSED, STANDARD_FDS, Closed

_PYTHONS_VIEW: Final = ("__stdin__", "__stdout__", "__stderr__")


def _closed(fd: int) -> bool:
    """Closed when Python started (its stream is None), or now."""
    if getattr(sys, _PYTHONS_VIEW[fd]) is None:
        return True
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


class StandardDescriptors:
    """Which of 0, 1, 2 were closed, with /dev/null holding the numbers until `release`."""

    def __init__(self) -> None:
        self.closed = frozenset(fd for fd in STANDARD_FDS if _closed(fd))
        self._held: list[int] = []
        for _ in self.closed:
            try:
                placeholder = os.open(os.devnull, os.O_RDWR)
            except OSError:  # no /dev/null: nothing to hold the number with
                break
            if placeholder not in STANDARD_FDS:  # every closed one is taken already
                os.close(placeholder)
                break
            self._held.append(placeholder)

    def option(self, fd: int) -> int | Closed:
        """The guest's stream for host descriptor `fd`: the number, or `CLOSED`."""
        return CLOSED if fd in self.closed else fd

    def release(self) -> None:
        for placeholder in self._held:
            os.close(placeholder)
        self._held.clear()
