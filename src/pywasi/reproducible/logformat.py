"""The recording's format: JSON lines, versioned, append-only.

The first line is the header ``{"pywasi-record": 1, "abi": "preview1", "keep_writes": false}``;
each later line is one system call, in the order the guest made them:

    {"n": 0, "call": "fd_write", "args": [1, 1024, 1, 1040],
     "in": [{"vec": "<b64>", "sha": "<hex>"}], "errno": 0, "out": [[1040, "<b64>"]]}

`args` are the guest's raw integers; `in` holds, per (pointer, length) parameter, what the guest
gave: a path as text (``"path"``), an iovec array as base64 (``"vec"``) with the data it points
to as a sha256 prefix (``"sha"``), or in full (``"data"``, base64) with ``keep_writes``; `out`
is every run of guest memory the host changed, as [address, base64 bytes]; `errno` is absent
when the call raised, and then `raised` names what (``"ProcExit"`` with its `exit` code).
A log is therefore as large as what the host gave the guest, not what the guest wrote.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final, TypedDict

from ..errors import InvalidArgValueError

VERSION: Final = 1
MAGIC: Final = "pywasi-record"


class Call(TypedDict, total=False):
    """One line of a log (see the module docstring)."""

    n: int
    call: str
    args: list[int]
    errno: int
    out: list[list[Any]]
    raised: str
    exit: int


def header(abi: str, keep_writes: bool) -> str:
    return json.dumps({MAGIC: VERSION, "abi": abi, "keep_writes": keep_writes})


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text)


def path_text(data: bytes) -> str:
    """A guest path as JSON text, any bytes kept (undecodable ones as surrogates)."""
    return data.decode("utf-8", "surrogateescape")


def path_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def read_log(source: str | Path | IO[str]) -> tuple[dict[str, Any], list[Call]]:
    """A log's header and calls; `InvalidArgValueError` if it is no pywasi recording."""
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as stream:
            return read_log(stream)
    lines: Iterator[str] = iter(source)
    try:
        head = json.loads(next(lines))
    except (StopIteration, json.JSONDecodeError):
        head = None
    if not isinstance(head, dict) or head.get(MAGIC) != VERSION:
        raise InvalidArgValueError(
            f"not a pywasi recording of format {VERSION} (its first line must be a "
            f'{{"{MAGIC}": {VERSION}, ...}} header): record one with WASI(record=...)')
    return head, [json.loads(line) for line in lines if line.strip()]
