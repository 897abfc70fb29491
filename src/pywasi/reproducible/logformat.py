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

The binary framing (``record_format="binary"``, CLI ``-S record-format=binary``) holds the
same records without base64, for large runs. It starts with the 24 bytes of `BINARY_MAGIC`
(``\\0pywasi-record binary 1\\n``: the framing's version is its last digit); then come
frames, the header first, each call after it, appended as the calls end:

    frame := u64 size | u32 n | n bytes of compact JSON | blob*       (little-endian; size
    blob  := u32 length | length raw bytes                           counts what follows it)

The JSON is the call's JSON line with each byte string moved out of line: an `out` run's
bytes and an `in` entry's ``"vec"`` and ``"data"`` are the index of their blob instead
(``"in"`` entries first, then ``"out"``, in order). Readers tell the formats apart by the first
bytes, so replay, trace and diff take either, and `read_log` gives both the same `Call`s.
A frame that runs past the end of the file is the torn tail of a run that died mid-write: it
is left out with a `RuntimeWarning`; any other damage is an `InvalidArgValueError`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import warnings
from pathlib import Path
from typing import IO, Any, Final, TypedDict, cast

from ..errors import InvalidArgValueError

VERSION: Final = 1
MAGIC: Final = "pywasi-record"
BINARY_MAGIC: Final = b"\0pywasi-record binary 1\n"
FORMATS: Final = ("json", "binary")
_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_LINE: Final = json.JSONEncoder(separators=(",", ":")).encode  # one encoder for every call


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


def encode(data: bytes | memoryview) -> str:
    return base64.b64encode(data).decode("ascii")


def decode(text: str) -> bytes:
    return base64.b64decode(text)


def path_text(data: bytes) -> str:
    """A guest path as JSON text, any bytes kept (undecodable ones as surrogates)."""
    return data.decode("utf-8", "surrogateescape")


def path_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class LogWriter:
    """Appends calls to a log in one of `FORMATS`; a call's `out` holds raw bytes."""

    def __init__(self, target: str | os.PathLike[str] | IO[Any], record_format: str,
                 head: str) -> None:
        self.binary = record_format == "binary"
        self._own = isinstance(target, (str, os.PathLike))
        stream: IO[Any]
        if isinstance(target, (str, os.PathLike)):
            stream = cast(IO[Any], open(target, "wb") if self.binary  # noqa: SIM115
                          else open(target, "w", encoding="utf-8"))  # noqa: SIM115
        elif self.binary == isinstance(target, io.TextIOBase):
            raise InvalidArgValueError(
                f"The option 'record' must be a {'binary' if self.binary else 'text'} stream "
                f"for record_format={record_format!r} (open it with "
                f"{'wb' if self.binary else 'w'!r}), or a path")
        else:
            stream = target
        self.stream = stream
        if self.binary:
            self.stream.write(BINARY_MAGIC + _frame(head.encode(), []))
        else:
            self.stream.write(head + "\n")

    def write(self, entry: dict[str, Any]) -> None:
        """Append one call (`entry` is the caller's to drop: this changes it)."""
        out: list[list[Any]] = entry.get("out", [])
        if not self.binary:
            entry["out"] = [[ptr, encode(data)] for ptr, data in out]
            self.stream.write(_LINE(entry) + "\n")
            return
        blobs: list[bytes] = []
        if "in" in entry:
            entry["in"] = [_lift(given, blobs) for given in entry["in"]]
        entry["out"] = [[ptr, len(blobs) + index] for index, (ptr, _) in enumerate(out)]
        blobs.extend(data for _, data in out)
        self.stream.write(_frame(_LINE(entry).encode(), blobs))

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        if self._own:
            self.stream.close()
        else:
            self.stream.flush()


def _lift(given: dict[str, Any], blobs: list[bytes]) -> dict[str, Any]:
    """An `in` entry with its base64 bytes moved to `blobs`, their index left in place."""
    lifted = dict(given)
    for key in ("vec", "data"):
        if key in lifted:
            blobs.append(decode(lifted[key]))
            lifted[key] = len(blobs) - 1
    return lifted


def _frame(text: bytes, blobs: list[bytes]) -> bytes:
    parts = [_U32.pack(len(text)), text]
    for blob in blobs:
        parts += [_U32.pack(len(blob)), blob]
    body = b"".join(parts)
    return _U64.pack(len(body)) + body


def read_log(source: str | Path | IO[str] | IO[bytes]) -> tuple[dict[str, Any], list[Call]]:
    """A log's header and calls, of either format; `InvalidArgValueError` if it is no pywasi
    recording (or a damaged one)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as stream:
            return read_log(stream)
    data = source.read()
    if isinstance(data, bytes) and data.startswith(BINARY_MAGIC):
        return _read_frames(data, getattr(source, "name", "the log"))
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = text.splitlines()
    try:
        head = json.loads(lines[0])
    except (IndexError, json.JSONDecodeError):
        head = None
    if not isinstance(head, dict) or head.get(MAGIC) != VERSION:
        raise InvalidArgValueError(
            f"not a pywasi recording of format {VERSION} (its first line must be a "
            f'{{"{MAGIC}": {VERSION}, ...}} header, or its first bytes {BINARY_MAGIC!r}): '
            "record one with WASI(record=...)")
    return head, _json_calls(lines, torn=not text.endswith("\n"),
                             name=getattr(source, "name", "the log"))


def _json_calls(lines: list[str], torn: bool, name: str) -> list[Call]:
    """The calls of a JSON-lines log, lines[0] being its header. A last line cut short (no
    newline after it: the recording run ended while writing it) is left out, with a warning,
    as a binary log's torn frame; any other line that is no call is damage."""
    calls: list[Any] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            call = json.loads(line)
        except json.JSONDecodeError as error:
            if torn and number == len(lines):
                warnings.warn(f"{name}: its last line, line {number}, is torn (the recording "
                              f"run ended while writing it): read the {len(calls)} calls "
                              "before it", RuntimeWarning, stacklevel=4)
                break
            raise InvalidArgValueError(
                f"{name} is a damaged pywasi recording: line {number} does not decode "
                f"({error}); record the run again") from None
        if not isinstance(call, dict):
            raise InvalidArgValueError(
                f"{name} is a damaged pywasi recording: line {number} is no call; record the "
                "run again")
        calls.append(call)
    return calls


def _read_frames(data: bytes, name: str) -> tuple[dict[str, Any], list[Call]]:
    """The header and calls of a binary log (`data`, the whole file: every length read is
    checked against it before anything is sliced, so no claim allocates)."""
    records: list[Any] = []
    at = len(BINARY_MAGIC)
    while at < len(data):
        size = _U64.unpack_from(data, at)[0] if len(data) - at >= 8 else None
        if size is None or size > len(data) - at - 8:
            if not records:
                break
            warnings.warn(f"{name}: its last frame, at byte {at}, is torn (the recording run "
                          f"ended while writing it): read the {len(records) - 1} calls before "
                          "it", RuntimeWarning, stacklevel=3)
            return records[0], records[1:]
        try:
            records.append(_decode_frame(memoryview(data)[at + 8 : at + 8 + size]))
        except (ValueError, TypeError, KeyError, IndexError, struct.error) as error:
            raise InvalidArgValueError(
                f"{name} is a damaged pywasi recording: frame {len(records)} at byte {at} "
                f"does not decode ({error}); record the run again") from None
        at += 8 + size
    if not records or not isinstance(records[0], dict) or records[0].get(MAGIC) != VERSION:
        raise InvalidArgValueError(
            f"{name} is no complete pywasi binary recording of format {VERSION}: its header "
            "frame is missing or wrong; record one with WASI(record=..., "
            "record_format='binary')")
    return records[0], records[1:]


def _decode_frame(body: memoryview) -> Any:
    """One frame's record, its blobs put back as base64 text (as the JSON lines hold them)."""
    (length,) = _U32.unpack_from(body, 0)
    if length > len(body) - 4:
        raise ValueError(f"its JSON claims {length} bytes of {len(body) - 4}")
    record = json.loads(bytes(body[4 : 4 + length]))
    blobs, at = [], 4 + length
    while at < len(body):
        (size,) = _U32.unpack_from(body, at)
        if size > len(body) - at - 4:
            raise ValueError(f"a blob claims {size} bytes of {len(body) - at - 4}")
        blobs.append(encode(body[at + 4 : at + 4 + size]))
        at += 4 + size
    if not isinstance(record, dict):
        raise TypeError("its JSON is no object")
    for given in record.get("in", []):
        for key in ("vec", "data"):
            if key in given:
                given[key] = blobs[_index(given[key])]
    if "out" in record:
        record["out"] = [[ptr, blobs[_index(blob)]] for ptr, blob in record["out"]]
    return record


def _index(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"a blob index is {value!r}")
    return value
