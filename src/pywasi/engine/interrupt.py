"""Stopping a running guest: Ctrl-C, `interrupt()` from another thread, and wall-clock timeouts.

Guests compiled with epoch checks (a timeout, or ``Limits(interruptible=True)``) check an
epoch in loops and function entries, which costs call-heavy code a lot (issue 17 measured yosys
at 1.6-1.8x its time without; bench/real_programs.py), so the default engine has none. Every
host call checks the stop flag on entry (`host_calls.HostCalls.stop_flag`), so any guest
stops at its next system call. A store with epoch checks gets an epoch deadline one tick
ahead and a deadline callback (`Watchdog`); the engine's epoch is
only ever advanced when something may want a guest stopped, so the callback runs only then, on
the guest's own thread, and decides for its store alone: stop with the reason set by
`interrupt()` or a passed timeout, or carry on for one more tick.

A Python signal handler cannot run while the main thread is inside wasm, but CPython's C-level
handler writes the signal number to the descriptor given to `signal.set_wakeup_fd`. While a
guest runs on the main thread, that descriptor is a pipe read by `_SignalWatcher`'s thread,
which advances the epoch; the deadline callback then runs Python code on the main thread, where
CPython runs the pending handler: the default SIGINT handler raises KeyboardInterrupt there,
which becomes the store's trap and is re-raised by the call. A handler that does not raise lets
the guest carry on. Bytes for a wakeup descriptor set before (asyncio's, say) are passed on.

The watcher also rings the main thread's guest's stop bell (`Watchdog.nudge`): a signal that
arrives after the main thread last looked for pending handlers but before it blocks in
poll(2) does not interrupt the poll, so the bell ends it, and the handler then runs.

CPython runs a pending handler at the first instruction of a Python function too, and two such
functions are called by wasmtime as C callbacks (engine/ffi.py), where an exception escaping
them would be printed and dropped (the guest carrying on, uninterrupted): the deadline
callback, and the pure-Python host call. What a handler raises there is handed to the main
thread's guest (`_SignalWatcher.guest`), which raises it at its next check: at once in the
deadline callback, or on entry to the host call just begun (`wake` sets its stop flag).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import CodeType, FrameType
from typing import Any, Final

import wasmtime

from ..errors import GuestInterrupted, GuestTimeout
from . import ffi

SignalHandler = Callable[[int, FrameType | None], Any]

# `signal`'s functions without the module's enum conversions, which cost ~6 us a call (an
# exception each, for a handler that is a function): this runs around every call into a guest.
_signal: Any = importlib.import_module("_signal")

@contextlib.contextmanager
def timer(seconds: float, action: Callable[[], None]) -> Iterator[None]:
    """Run `action` on a timer thread if this block lasts `seconds`; never after the block."""
    thread = threading.Timer(seconds, action)
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        thread.cancel()
        thread.join()


class Watchdog:
    """One store's deadline callback: stops the guest when asked to or when its time is up.

    `stop` may be called from any thread. `on_stop` receives the exception the guest's call is
    to raise (it is kept where the host calls keep theirs) and returns the tag that the error
    handed to wasmtime must carry for it to be raised; `wakeup` ends the guest's blocking
    poll_oneoff and has its next host call stop it. With `epochs` (code compiled with epoch
    checks) the store gets a deadline callback, so that compute stops too; without, the
    store's deadline and callback are left as they are. A guest on the main thread blocked in
    any other host call (a read of stdin, an accept) is woken by a SIGINT sent to that
    thread: `_SignalWatcher`'s handler then raises the reason to stop instead of calling the
    program's own handler."""

    def __init__(self, store: wasmtime.Store, engine: wasmtime.Engine,
                 on_stop: Callable[[BaseException], str],
                 wakeup: Callable[[], None], *, epochs: bool) -> None:
        self._engine = engine
        self._on_stop = on_stop
        self._wakeup = wakeup
        self._reason: BaseException | None = None
        # What a signal handler raised where it could not propagate (see the module's text):
        # raised once, by the next check.
        self._signalled: BaseException | None = None
        self._deadline: float | None = None
        self._timeout = 0.0
        self._on_main_thread = False
        if epochs:
            _WATCHDOGS[id(self)] = self  # until wasmtime drops the store (`_forget`)
            _DEADLINE.install(store, id(self))

    def tick(self) -> int:
        """The deadline callback's verdict: 0 to carry on, else the error to stop with."""
        try:
            reason = self.reason_to_stop()
        except BaseException as error:  # another signal's handler, run mid-way
            reason = error
        if reason is None:
            return 0
        tag = self._on_stop(reason)
        return ffi.new_error(f"guest stopped: {reason} {tag}")

    def reason_to_stop(self) -> BaseException | None:
        """Why the guest must stop now, if it must: what a signal handler raised (given
        once: every caller raises it), `stop`'s reason, or its timeout passed."""
        signalled, self._signalled = self._signalled, None
        if signalled is not None:
            return signalled
        if self._reason is None and self._deadline is not None \
                and time.monotonic() >= self._deadline:
            return GuestTimeout(
                f"wasm trap: interrupt: the guest ran longer than its {self._timeout:g} s timeout",
                "INTERRUPT")
        return self._reason

    def stop(self, reason: BaseException | None = None) -> None:
        """Stop the guest at its next loop or call (or its current blocking wait), and at
        every later call: an interrupted guest is left half-way through its work."""
        self._reason = reason or GuestInterrupted(
            "wasm trap: interrupt: the guest was interrupted by the host", "INTERRUPT")
        self._wake()

    def stop_once(self, reason: BaseException) -> None:
        """Stop the running call with `reason` at its next check, and only that call."""
        self._signalled = reason
        self._wakeup()

    def nudge(self) -> None:
        """End the guest's blocking wait (and have its next host call look), without a
        reason to stop: a signal handler pending on the main thread runs as soon as that
        thread is back in Python code, but a signal that came just before the thread entered
        its wait does not end that wait by itself."""
        self._wakeup()

    @contextlib.contextmanager
    def running(self, timeout: float | None) -> Iterator[None]:
        """The guest runs in this block, on this thread; stop it with `GuestTimeout` if the
        block lasts longer than `timeout` seconds."""
        on_main_thread = threading.current_thread() is threading.main_thread()
        self._on_main_thread = on_main_thread
        outer = signal_watcher.guest if on_main_thread else None  # a nested call's
        if on_main_thread:
            signal_watcher.guest = self
        try:
            if timeout is None:
                yield
                return
            self._timeout = timeout
            self._deadline = time.monotonic() + timeout
            with timer(timeout, self._wake):  # no SIGINT of its own comes after the block
                yield
        finally:
            self._deadline = None
            self._on_main_thread = False
            if on_main_thread:
                signal_watcher.guest = outer

    def _wake(self) -> None:
        """Get the guest to look at `reason_to_stop`, wherever it is."""
        self._engine.increment_epoch()
        self._wakeup()
        if self._on_main_thread:
            signal_watcher.interrupt_main_thread(self.reason_to_stop)


class _SignalWatcher:
    """The thread that turns a signal arriving while wasm runs into an epoch tick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: tuple[int, int] | None = None
        self._forward_to = -1
        self._guarding = False
        self._forced: Callable[[], BaseException | None] | None = None
        self.engines: list[wasmtime.Engine] = []
        # The watchdog of the guest running on the main thread (innermost), if one is.
        self.guest: Watchdog | None = None
        # Codes of the Python functions wasmtime calls as C callbacks: a handler's exception
        # at their first instruction would be dropped, so it goes to `guest` instead.
        self.entries: set[CodeType] = set()
        # Called on the watcher's thread when SIGINT arrives during a guest call: for guests
        # compiled without epoch checks, which nothing can stop from within (the CLI's).
        self.on_interrupt: Callable[[], None] | None = None

    def interrupt_main_thread(self, reason: Callable[[], BaseException | None]) -> None:
        """End a blocking host call on the main thread (EINTR) and have the SIGINT handler
        raise `reason()` there, if the handler is ours (see `watching`)."""
        if self._guarding:
            self._forced = reason
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def _guarded(self, handler: Callable[[int, FrameType | None], Any]) -> SignalHandler:
        """`handler`, except that on entry to a function wasmtime calls as a C callback (where
        CPython may run it, and where an exception could not be caught: the callback would drop
        it) what it raises is handed to the main thread's guest, which raises it at once."""

        def run_handler(signum: int, frame: FrameType | None) -> Any:
            forced, self._forced = self._forced, None
            reason = forced() if forced is not None else None
            if reason is not None:
                raise reason
            return handler(signum, frame)

        def guarded(signum: int, frame: FrameType | None) -> Any:
            guest = self.guest
            if guest is None or frame is None or frame.f_code not in self.entries:
                return run_handler(signum, frame)
            try:
                return run_handler(signum, frame)
            except BaseException as error:
                guest.stop_once(error)
                return None

        return guarded

    def _start(self) -> int:
        """The write end of the watcher's pipe, starting its thread the first time."""
        with self._lock:
            if self._pipe is None:
                read_end, write_end = os.pipe2(os.O_CLOEXEC)
                os.set_blocking(write_end, False)
                self._pipe = read_end, write_end
                threading.Thread(target=self._watch, name="pywasi-signal-watcher",
                                 daemon=True).start()
            return self._pipe[1]

    def _watch(self) -> None:
        assert self._pipe is not None
        while True:
            signals = os.read(self._pipe[0], 64)
            if signal.SIGINT in signals and self.on_interrupt is not None:
                self.on_interrupt()
            for engine in self.engines:
                engine.increment_epoch()
            guest = self.guest
            if guest is not None:  # its handler is pending: have the main thread run it
                guest.nudge()
            if self._forward_to >= 0:
                with contextlib.suppress(OSError):
                    os.write(self._forward_to, signals)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Watch for signals during this block, if on the main thread (else do nothing)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        write_end = self._start()
        try:
            previous = signal.set_wakeup_fd(write_end)
        except ValueError:  # not the main interpreter
            yield
            return
        if previous == write_end:  # a nested call: the outer one restores
            yield
            return
        self._forward_to = previous
        handler = _signal.getsignal(signal.SIGINT)
        if callable(handler):
            _signal.signal(signal.SIGINT, self._guarded(handler))
            self._guarding = True
        try:
            yield
        finally:
            self._guarding = False
            if callable(handler):
                _signal.signal(signal.SIGINT, handler)
            signal.set_wakeup_fd(previous)
            self._forward_to = -1


signal_watcher: Final = _SignalWatcher()
_WATCHDOGS: Final[dict[int, Watchdog]] = {}


def _verdict(data: int) -> int:
    # Python code on the guest's thread: a pending SIGINT handler has just run, on entry
    # (see `_SignalWatcher._guarded`), and what it raised is waiting for `tick` to take.
    return _WATCHDOGS[data].tick()


def _forget(data: int) -> None:
    _WATCHDOGS.pop(data, None)


_DEADLINE: Final = ffi.DeadlineCallback(_verdict, _forget)
signal_watcher.entries.add(_DEADLINE.code)
