"""`WASI(replay=log)`: every system call answered from a recording, none by the host.

Each call must be the one the log holds next, with the same integers, paths and data (by
hash); the host's recorded bytes are written into guest memory and its errno returned. What
the guest wrote to stdout and stderr is written again, so a replay shows the same output.
The first call that differs stops the run with `ReplayDiverged`, and so does a run that ends
with calls of the log left unused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from ..abi.layouts import U32, U32_PAIR
from ..abi.signatures import Signature
from ..errors import ProcExit, PyWasiError
from ..syscalls import SystemCall, WasiContext
from . import logformat
from .record import guest_inputs

_OUTPUTS = {"fd_write": 3, "fd_pwrite": 4}  # the argument holding where nwritten goes


class ReplayDiverged(PyWasiError):
    """The guest asked for a call the recording does not hold next."""

    code = "ERR_PYWASI_REPLAY_DIVERGED"


def describe(name: str, args: list[int], inputs: list[dict[str, str]]) -> str:
    """A call as the divergence message shows it: ``name(1, 2) with [{"path": "a"}]``."""
    text = f"{name}({', '.join(map(str, args))})"
    return text + (f" with {json.dumps(inputs)}" if inputs else "")


class Replayer:
    """Answers one instance's calls from a log, in order."""

    def __init__(self, log: str | Path | IO[str] | IO[bytes]) -> None:
        head, self.calls = logformat.read_log(log)
        self.abi: str = head.get("abi", "preview1")
        self.keep_writes = bool(head.get("keep_writes"))
        self.next = 0
        self.diverged = False
        # The guest's descriptors that are the recorded run's stdout and stderr (a guest may
        # close them, or renumber them and files over them), to the replay's own.
        self.stdio = {1: 1, 2: 2}

    def _follow_stdio(self, name: str, args: tuple[int, ...]) -> None:
        """Move `stdio` as the successful call `name` moved the guest's descriptors."""
        if name == "fd_close":
            self.stdio.pop(args[0], None)
        elif name == "fd_renumber":
            moved = self.stdio.pop(args[0], None)
            self.stdio.pop(args[1], None)
            if moved is not None:
                self.stdio[args[1]] = moved

    def close(self) -> None:
        """The run is over (`start()` ended, or `close()` of a reactor): `ReplayDiverged` if
        the guest made fewer calls than the log holds. A replay holds no host resource."""
        if self.diverged or self.next >= len(self.calls):
            return
        self.diverged = True  # said once, however often the run is closed
        expected: Any = self.calls[self.next]
        wanted = describe(expected["call"], expected["args"], expected.get("in", []))
        raise ReplayDiverged(f"replay diverged at call {self.next}: the guest made no more "
                             f"calls, but the log expected {wanted} and "
                             f"{len(self.calls) - self.next - 1} more")

    def wrap(self, system_call: SystemCall, signature: Signature) -> SystemCall:
        """A `SystemCall` answering `system_call`'s calls from the log."""
        name = system_call.__name__

        def implementation(ctx: WasiContext, *args: int) -> int:
            index = self.next
            self.next += 1
            inputs = guest_inputs(name, ctx.memory, args, self.keep_writes)
            if index >= len(self.calls):
                self.diverged = True
                raise ReplayDiverged(f"replay diverged at call {index}: the guest called "
                                     f"{describe(name, list(args), inputs)}, but the log "
                                     f"ends after {len(self.calls)} calls")
            expected: Any = self.calls[index]
            if (expected["call"], expected["args"], expected.get("in", [])) \
                    != (name, list(args), inputs):
                self.diverged = True
                wanted = describe(expected["call"], expected["args"], expected.get("in", []))
                raise ReplayDiverged(f"replay diverged at call {index}: the guest called "
                                     f"{describe(name, list(args), inputs)}, but the log "
                                     f"expected {wanted}")
            for ptr, data in expected.get("out", []):
                ctx.memory.write(ptr, logformat.decode(data))
            if "errno" not in expected:
                _end(expected, index)
            if expected["errno"] == 0:
                if name in _OUTPUTS and args[0] in self.stdio:
                    _show_output(ctx, self.stdio[args[0]], args, _OUTPUTS[name])
                self._follow_stdio(name, args)
            return int(expected["errno"])

        wrapped = SystemCall(system_call.context, name, implementation, signature)
        wrapped.enable()
        return wrapped


def _end(expected: Any, index: int) -> None:
    """The recorded run ended in this call: end the replay the same way."""
    if expected.get("raised") == "ProcExit":
        raise ProcExit(int(expected["exit"]))
    raise PyWasiError(f"the recorded run ended at call {index} ({expected['call']}) with "
                      f"{expected.get('raised')}; the replay stops there too")


def _show_output(ctx: WasiContext, fd: int, args: tuple[int, ...], nwritten_at: int) -> None:
    """Write again to the replay's stdout or stderr (`fd`) what the guest wrote to its own."""
    memory = ctx.memory
    (left,) = memory.unpack(U32, args[nwritten_at])
    data = bytearray()
    for index in range(args[2]):
        ptr, length = memory.unpack(U32_PAIR, args[1] + 8 * index)
        data += memory.read(ptr, min(length, left - len(data)))
    try:
        file = ctx.fds.get(fd).file
    except KeyError:  # the guest moved its stdio away: nothing of ours to show it on
        return
    file.write([memoryview(bytes(data))])
