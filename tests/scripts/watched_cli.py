"""`pywasi ARG...`, the command as a user runs it, with a thread that writes a line to
descriptor FD once the main thread's innermost Python frame is FUNCTION's: for
tests/test_stopping.py, so that the SIGINT it then sends lands there (in the guest's wasm,
``call_unchecked``, or the host call it blocks in), not on the way.

    python tests/scripts/watched_cli.py FD FUNCTION ARG...
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
from background import wait_until_in  # noqa: E402 - tests/, not installed


def main(fd: int, function: str, args: list[str]) -> None:
    def report() -> None:
        wait_until_in(threading.main_thread(), function)
        os.write(fd, b"there\n")

    threading.Thread(target=report, daemon=True).start()
    sys.argv = ["pywasi", *args]
    from pywasi.__main__ import console

    console()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
