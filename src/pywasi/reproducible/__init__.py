"""Reproducible runs: a deterministic mode, and record and replay of every system call.

All of it sits above the system calls: each layer wraps the `SystemCall`s of an import object
before an engine links them (as `pywasi.trace` does), so a run without these options takes
exactly the host-call path it always took. The layers, innermost first: `Deterministic`,
which changes what the host answers; `Recorder`, which logs it; or `Replayer`, which answers
from a log instead of the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..abi.signatures import Signature
from ..syscalls import HostFunction, ImportObject, SystemCall, wrap_system_calls
from .determinism import Determinism, Deterministic
from .record import Recorder
from .replay import ReplayDiverged, Replayer

__all__ = ["Determinism", "Deterministic", "Layer", "Recorder", "ReplayDiverged", "Replayer",
           "wrapped_imports"]


class Layer(Protocol):
    def wrap(self, system_call: SystemCall, signature: Signature) -> SystemCall: ...

    def close(self) -> None: ...


def wrapped_imports(
    import_object: ImportObject,
    signatures: Mapping[str, Signature],
    layers: list[Layer],
) -> dict[str, dict[str, HostFunction]]:
    """`import_object` with each pywasi system call wrapped by each of `layers` in turn."""
    wrapped = {module: dict(functions) for module, functions in import_object.items()}
    for layer in layers:
        wrapped = wrap_system_calls(wrapped, signatures, layer.wrap)
    return wrapped
