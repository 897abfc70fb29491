"""Bounds on what one guest may use, in the names `wasmtime run` gives them (``-W``/``-S``).

    wasi = WASI(version="preview1", limits=Limits(fuel=10**9, timeout=5.0))
    wasi.start(instantiate(wasi, "program.wasm"))

Each limit reached raises its own `LimitExceeded` subclass (see `pywasi.errors`), except where
WASI has an errno for it: a guest over `max_resources` gets EMFILE from the call that would
open one more descriptor, and a guest over `max_memory_size` sees `memory.grow` fail (malloc
returns NULL), as wasmtime does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Final

from .errors import InvalidArgValueError


@dataclass(frozen=True, slots=True)
class Limits:
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

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise InvalidArgValueError(
                    f"Limits.{item.name} must be a number >= 0 (or None for no limit), "
                    f"not {value!r}"
                )


_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|h)?\s*")
_SECONDS_PER_UNIT: Final = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0,
}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``10s``, ``250ms``, ``1.5m`` or ``2`` (seconds)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}: expected a number with a unit "
                         "(ns, us, ms, s, m, h), such as 10s or 250ms")
    return float(match[1]) * _SECONDS_PER_UNIT[match[2]]
