"""The control guest's pure spin loop (no system call) on this process's main thread, asked to
stop, for tests/test_stopping.py: a guest that may not stop must spin in a process the test
can kill, not in pytest's.

    python tests/scripts/spin_and_stop.py MODE STOP CONTROL_WASM

MODE is "default", "uninterruptible", "interruptible" (the `Limits.interruptible` value) or
"timeout" (an hour's, which compiles epoch checks);
STOP is "interrupt" (`instance.interrupt()` from another thread, once a line arrives on stdin)
or "ctrl-c" (the test sends SIGINT). This prints "spinning" once the guest spins (its thread
is in wasm, past its last system call); if its call ends, "stopped: <exception>".
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from pywasi import WASI, Limits, instantiate

sys.path.insert(0, str(Path(__file__).parent.parent))
from background import wait_until_in  # noqa: E402 - tests/, not installed

LIMITS = {"default": None, "uninterruptible": Limits(interruptible=False),
          "interruptible": Limits(interruptible=True), "timeout": Limits(timeout=3600.0)}


def main(mode: str, stop: str, module: str) -> None:
    started = threading.Event()
    wasi = WASI(version="preview1", args=["control", "compute"], limits=LIMITS[mode],
                stdout=lambda data: started.set())
    instance = instantiate(wasi, module)

    def stop_when_spinning() -> None:
        started.wait()
        wait_until_in(threading.main_thread(), "call_unchecked")
        print("spinning", flush=True)
        if stop == "interrupt":
            sys.stdin.readline()
            instance.interrupt()

    threading.Thread(target=stop_when_spinning, daemon=True).start()
    try:
        wasi.start(instance)
    except BaseException as error:  # noqa: BLE001 - what stopped it is the answer
        print(f"stopped: {type(error).__name__}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
