"""The call path of a guest's system calls: the layers a WASI object puts around them.

Innermost first: reproducible runs (determinism, record or replay), the trace, then fuel (so
the trace and the record see what the guest saw, and fuel pays for what ran). Each is there
only when asked for: the default path is the bare system calls, which engines call below
their normalising ``__call__``. Every layer wraps in the one shape of
`syscalls.wrap_system_calls`; this module is the one place that chooses and orders them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .abi.signatures import Signature
from .engine.base import FuelTank
from .syscalls import HostFunction, ImportObject

if TYPE_CHECKING:
    from .reproducible import Layer
    from .trace import TraceSink


def layered_imports(import_object: ImportObject, signatures: Mapping[str, Signature], *,
                    reproducible: Sequence[Layer], trace: TraceSink | None,
                    fuel: FuelTank | None) -> ImportObject:
    """`import_object` with the layers asked for around its system calls (each module is
    imported only when its layer is)."""
    layered: Mapping[str, Mapping[str, HostFunction]] = import_object
    if reproducible:
        from .reproducible import wrapped_imports

        layered = wrapped_imports(layered, signatures, list(reproducible))
    if trace is not None:
        from .trace import traced_imports

        layered = traced_imports(layered, signatures, trace)
    if fuel is not None:  # host calls pay for their work
        from .fuel import fueled_imports

        layered = fueled_imports(layered, signatures, fuel)
    return layered
