"""Wall time of a guest looping on poll_oneoff (tests/c/fuel_poll.c) until its fuel runs out,
and how many calls it made: what a fuel limit bounds when host calls are charged (see
README "Fuel"). ``python bench/fuel_poll.py [FUEL] [SUBSCRIPTIONS...]``."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pywasi  # noqa: E402
from guest import build_c  # noqa: E402


def run(fuel: int, subscriptions: int) -> tuple[float, int]:
    calls: list[object] = []
    wasi = pywasi.WASI(version="preview1", args=["fuel_poll", str(subscriptions)],
                       limits=pywasi.Limits(fuel=fuel), trace=calls.append)
    instance = pywasi.instantiate(wasi, build_c("fuel_poll"))
    start = time.perf_counter()
    with contextlib.suppress(pywasi.OutOfFuel):
        wasi.start(instance)
    return time.perf_counter() - start, len(calls)


def main() -> None:
    fuel = int(sys.argv[1]) if len(sys.argv) > 1 else 10**9
    for subscriptions in [int(n) for n in sys.argv[2:]] or [256, 1]:
        seconds, calls = run(fuel, subscriptions)
        print(f"fuel={fuel} subscriptions={subscriptions}: {seconds:.2f} s, {calls} calls "
              f"({seconds / max(calls, 1) * 1e6:.1f} us a call)")


if __name__ == "__main__":
    main()
