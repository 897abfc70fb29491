"""What the `WASI` class needs from an engine's instance: the seam for a second engine."""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

from ..memory import GuestMemory

ExportKind = Literal["func", "memory", "table", "global", "tag"]


@runtime_checkable
class BoundInstance(Protocol):
    """An instantiated module, together with whatever its engine needs to run it."""

    def export_kind(self, name: str) -> ExportKind | None:
        """What the export `name` is, or None when there is no such export."""

    def guest_memory(self, memory: object | None = None) -> GuestMemory | None:
        """Access to `memory` (default: the `memory` export); None if it is not a memory."""

    def call(self, name: str) -> None:
        """Call the exported function `name` with no arguments.

        A `ProcExit` or other exception raised inside a host call comes out as itself; a trap
        as `GuestTrap`.
        """


@runtime_checkable
class GuestCallHooks(Protocol):
    """What an engine calls around every call into the guest (`WASI` has both): buffers the
    host must flush first, and errors the host kept for after the call."""

    def before_guest_call(self) -> None: ...

    def after_guest_call(self) -> None: ...


class AroundGuestCall:
    """``with AroundGuestCall(hooks):`` around a call into the guest. An error `after_guest_call`
    raises has what the call raised as its context; a KeyboardInterrupt or SystemExit goes on
    as it is (the kept error waits for the next call)."""

    __slots__ = ("_hooks",)

    def __init__(self, hooks: GuestCallHooks) -> None:
        self._hooks = hooks

    def __enter__(self) -> None:
        self._hooks.before_guest_call()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None or issubclass(kind, Exception):
            self._hooks.after_guest_call()
