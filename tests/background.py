"""Threads for tests, that end with their test: each is a daemon (a test that fails while one
still waits or spins cannot keep the run from exiting), and conftest's
`no_thread_outlives_its_test` fails a test that leaves one running past `JOIN_SECONDS`."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

JOIN_SECONDS: Final = 10.0
"""How long a test's thread may take to end once the test is done (joins wait this long)."""


def in_background(target: Callable[..., object], *args: Any) -> threading.Thread:
    """`target(*args)` running on a daemon thread."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def later(seconds: float, action: Callable[..., object], *args: Any) -> threading.Timer:
    """`action(*args)` in `seconds`, on a daemon timer thread (`cancel()` to call it off)."""
    timer = threading.Timer(seconds, action, args)
    timer.daemon = True
    timer.start()
    return timer


def wait_until_in(thread: threading.Thread, function: str) -> None:
    """Wait (at most `JOIN_SECONDS`) until `thread`'s innermost Python frame is `function`'s:
    for a guest's thread, ``call_unchecked`` (the export's call, in the shim: wasm runs, in no
    host call) or the host call it blocks in, so that a stop sent now lands there and not on
    the way."""
    deadline = time.monotonic() + JOIN_SECONDS
    while True:
        frame = sys._current_frames().get(thread.ident or 0)
        if frame is not None and frame.f_code.co_name == function:
            return
        if time.monotonic() > deadline:
            where = frame.f_code.co_name if frame is not None else "nowhere"
            raise AssertionError(f"{thread.name} never reached {function}(): it is in {where}()")
        time.sleep(0.005)
