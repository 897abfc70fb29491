"""A way for the host to end a guest's blocking wait (poll_oneoff) from any thread.

The engine's watchdog decides whether a guest must stop (an `interrupt()`, a timeout); this is
only the bell it rings: a pipe that becomes readable, which blocking waits poll alongside the
descriptors they wait for, then ask `reason()` what to raise.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable


def _never() -> BaseException | None:
    return None


class StopSignal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: tuple[int, int] | None = None
        self._rung = False
        # Set by the engine when it links the guest: why the guest must stop, if it must.
        self.reason: Callable[[], BaseException | None] = _never

    def fileno(self) -> int:
        """A descriptor that is readable once the bell has rung (made on first use)."""
        with self._lock:
            if self._pipe is None:
                read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._pipe = read_end, write_end
                if self._rung:
                    os.write(write_end, b"!")
            return self._pipe[0]

    def ring(self) -> None:
        with self._lock:
            self._rung = True
            if self._pipe is not None:
                with contextlib.suppress(BlockingIOError):  # rung often enough already
                    os.write(self._pipe[1], b"!")

    def raise_if_stopped(self) -> None:
        """Raise the reason to stop, if there is one; else forget the ring (it was for a
        deadline that has since moved)."""
        reason = self.reason()
        if reason is not None:
            raise reason
        with self._lock:
            self._rung = False
            if self._pipe is not None:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._pipe[0], 64)

    def wait_for(self, fd: int, events: int) -> None:
        """Block until host descriptor `fd` is ready for `events` (poll(2) flags), or raise
        the reason to stop if the host stops the guest meanwhile: a blocking read or accept
        ends on any thread, where a signal could only end it on the main one."""
        stop_fd = self.fileno()
        poller = select.poll()
        poller.register(fd, events)
        poller.register(stop_fd, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if stop_fd in ready:
                self.raise_if_stopped()
            if fd in ready:
                return

    def close(self) -> None:
        with self._lock:
            if self._pipe is not None:
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None
