"""``pywasi replay``, ``pywasi trace`` and ``pywasi diff``: the command line around recordings."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ..abi.layouts import ABIS, U32_PAIR
from ..memory import GuestMemory
from ..trace import TraceEvent, _Decoder, _Shown
from . import logformat
from .replay import describe

USAGES = {
    "replay": "usage: pywasi replay LOG MODULE: run MODULE again, every system call answered "
              "from LOG (a recording by WASI(record=...) or -S record=LOG)",
    "trace": "usage: pywasi trace LOG: the --trace text of a recording",
    "diff": "usage: pywasi diff LOG_A LOG_B: the first call where two recordings differ",
}


def main(command: str, argv: Sequence[str]) -> int:
    """Run one of `USAGES`' commands; 2 for a command line that means nothing."""
    wanted = 2 if command in ("replay", "diff") else 1
    if len(argv) != wanted or argv[0] in ("-h", "--help"):
        sys.stderr.write(USAGES[command] + "\n")
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    if command == "replay":
        return replay(*argv)
    if command == "trace":
        for line in trace_lines(argv[0]):
            sys.stdout.write(line + "\n")
        return 0
    difference = first_difference(*argv)
    sys.stdout.write((difference or "the recordings hold the same calls") + "\n")
    return 1 if difference else 0


def replay(log: str, module: str) -> int:
    """Run `module` with every call answered from `log`; its exit code."""
    from .. import WASI, instantiate

    abi = logformat.read_log(log)[0].get("abi", "preview1")
    wasi = WASI(version=abi, replay=log)
    return wasi.start(instantiate(wasi, module))


class _Scratch:
    """A sparse stand-in for guest memory: what the log says was at each address."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.memory = GuestMemory(self._locate)

    def _locate(self) -> tuple[memoryview, int]:
        return memoryview(self.buffer), len(self.buffer)

    def put(self, ptr: int, data: bytes) -> None:
        if ptr + len(data) > len(self.buffer):  # a new buffer: the old one has views
            grown = bytearray(max(ptr + len(data) + 7 & ~7, 2 * len(self.buffer)))
            grown[: len(self.buffer)] = self.buffer
            self.buffer = grown
            self.memory.relocate()
        self.buffer[ptr : ptr + len(data)] = data


def trace_lines(log: str) -> list[str]:
    """Each recorded call as ``--trace`` shows it (no durations: a log holds none)."""
    head, calls = logformat.read_log(log)
    abi = ABIS[head.get("abi", "preview1")]
    scratch = _Scratch()
    lines = []
    for call in calls:
        name, args = call["call"], tuple(call["args"])
        decoder = _Decoder(name, abi.signatures[name])
        hashes = _place_inputs(scratch, args, call)
        shown = decoder.before(scratch.memory, abi.whence, args)
        shown = [(pname, _Shown(hashes.pop(0)) if pname == "data" and hashes else value)
                 for pname, value in shown]
        for ptr, data in call.get("out", []):
            scratch.put(ptr, logformat.decode(data))
        errno = call.get("errno")
        results = decoder.after(scratch.memory, args) if errno == 0 else []
        text = TraceEvent(name, tuple(shown), errno, tuple(results), 0.0,
                          call.get("raised")).text()
        lines.append(f"{call['n']}: {text.rsplit(' <', 1)[0]}")
    return lines


def _place_inputs(scratch: _Scratch, args: tuple[int, ...], call: Any) -> list[str]:
    """Put what the guest gave (paths, iovec arrays, kept data) where it gave it; the data
    only hashed is returned as text to show instead."""
    from .record import _PAIR_ARGS

    hashes = []
    for (at, _kind), given in zip(_PAIR_ARGS.get(call["call"], ()), call.get("in", []),
                                  strict=False):
        if "path" in given:
            scratch.put(args[at], logformat.path_bytes(given["path"]))
        if "vec" in given:
            vec = logformat.decode(given["vec"])
            scratch.put(args[at], vec)
            data = logformat.decode(given.get("data", ""))
            for index in range(len(vec) // 8):
                ptr, length = U32_PAIR.unpack_from(vec, 8 * index)
                scratch.put(ptr, data[:length] if "data" in given else bytes(length))
                data = data[length:]
            if "sha" in given:
                size = sum(U32_PAIR.unpack_from(vec, 8 * i)[1] for i in range(len(vec) // 8))
                hashes.append(f"<{size} bytes, sha256 {given['sha'][:16]}>")
    return hashes


def first_difference(first: str, second: str) -> str | None:
    """Where two recordings part: the call number and each side's call; None if alike."""
    calls_a, calls_b = logformat.read_log(first)[1], logformat.read_log(second)[1]
    for index, (a, b) in enumerate(zip(calls_a, calls_b, strict=False)):
        if a != b:
            return (f"call {index} differs:\n  {first}: {_summary(a)}\n"
                    f"  {second}: {_summary(b)}")
    if len(calls_a) != len(calls_b):
        shorter, longer = (first, second) if len(calls_a) < len(calls_b) else (second, first)
        return (f"call {min(len(calls_a), len(calls_b))}: {shorter} ends there, "
                f"{longer} goes on")
    return None


def _summary(call: Any) -> str:
    outcome = f"errno {call['errno']}" if "errno" in call else f"raised {call.get('raised')}"
    return (f"{describe(call['call'], call['args'], call.get('in', []))} = {outcome}, "
            f"wrote {call.get('out', [])}")
