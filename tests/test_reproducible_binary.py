"""Recordings in the binary framing (`pywasi.reproducible.logformat`, tests/c/reproducible.c)."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import pywasi
from guest import Run, build_c, run_guest
from pywasi.reproducible.commands import first_difference, trace_lines
from pywasi.reproducible.logformat import BINARY_MAGIC, read_log

MODULE = "reproducible"


def _record(tmp_path: Path, name: str, record_format: str, seed: int = 7) -> tuple[Run, Path]:
    """A deterministic run recorded in `record_format`, its preopen removed after."""
    directory = tmp_path / name
    directory.mkdir()
    for file in ("b.txt", "a.txt"):
        (directory / file).write_text(file)
    log = tmp_path / f"{name}.wasmrec"
    run = run_guest(build_c(MODULE), preopens={"/dir": str(directory)}, record=str(log),
                    record_format=record_format,
                    deterministic=pywasi.Determinism(random_seed=seed))
    shutil.rmtree(directory)
    return run, log


def _frames(log: Path) -> list[tuple[int, int]]:
    """(offset, size) of each frame of a binary log."""
    data, at, frames = log.read_bytes(), len(BINARY_MAGIC), []
    while at < len(data):
        (size,) = struct.unpack_from("<Q", data, at)
        frames.append((at, size))
        at += 8 + size
    return frames


def test_a_binary_recording_replays_identically(tmp_path: Path) -> None:
    recorded, log = _record(tmp_path, "run", "binary")
    assert log.read_bytes().startswith(BINARY_MAGIC)
    replayed = run_guest(build_c(MODULE), replay=str(log))
    assert (replayed.exit_code, replayed.stdout, replayed.stderr) \
        == (recorded.exit_code, recorded.stdout, recorded.stderr)
    assert recorded.exit_code == 3 and b"after sleep" in recorded.stdout


def test_json_and_binary_logs_of_one_run_hold_the_same_records(tmp_path: Path) -> None:
    _, json_log = _record(tmp_path, "json", "json")
    _, binary_log = _record(tmp_path, "binary", "binary")
    json_records, binary_records = read_log(json_log), read_log(binary_log)
    assert binary_records == json_records
    assert any(call.get("out") for call in binary_records[1])  # bytes went out of line
    assert trace_lines(str(binary_log)) == trace_lines(str(json_log))
    assert first_difference(str(json_log), str(binary_log)) is None


def test_the_cli_records_binary_and_trace_and_diff_read_it(tmp_path: Path) -> None:
    module = str(build_c(MODULE))
    logs = []
    for name, seed in (("one", 5), ("two", 6)):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "a.txt").write_text("a")
        logs.append(tmp_path / f"{name}.wasmrec")
        run = subprocess.run(
            [sys.executable, "-m", "pywasi", "run", f"--dir={directory}::/dir", "-S",
             f"deterministic,deterministic-random-seed={seed},record-format=binary",
             f"-S=record={logs[-1]}", module], capture_output=True, timeout=120)
        assert run.returncode == 3, run.stderr
        assert logs[-1].read_bytes().startswith(BINARY_MAGIC)
    difference = first_difference(str(logs[0]), str(logs[1]))
    assert difference is not None and "random_get(" in difference.splitlines()[1]
    traced = subprocess.run([sys.executable, "-m", "pywasi", "trace", str(logs[0])],
                            capture_output=True, text=True, timeout=120)
    assert traced.returncode == 0
    assert any(line.endswith("= ? (ProcExit)") for line in traced.stdout.splitlines())


def test_a_binary_log_goes_to_a_binary_stream_only(tmp_path: Path) -> None:
    stream = io.BytesIO()
    run_guest(build_c(MODULE), record=stream, record_format="binary",
              preopens={"/dir": str(tmp_path)},
              deterministic=pywasi.Determinism(random_seed=1))
    assert read_log(io.BytesIO(stream.getvalue()))[1][-1]["raised"] == "ProcExit"
    with pytest.raises(pywasi.InvalidArgValueError, match="binary stream"):
        pywasi.WASI(version="preview1", record=io.StringIO(), record_format="binary")
    with pytest.raises(pywasi.InvalidArgValueError, match="'json' or 'binary'"):
        pywasi.WASI(version="preview1", record=io.StringIO(), record_format="yaml")


def test_a_torn_last_frame_is_left_out_with_a_warning(tmp_path: Path) -> None:
    _, log = _record(tmp_path, "run", "binary")
    whole = read_log(log)[1]
    last_at, last_size = _frames(log)[-1]
    log.write_bytes(log.read_bytes()[: last_at + 8 + last_size // 2])
    with pytest.warns(RuntimeWarning, match=f"last frame, at byte {last_at}, is torn"):
        head, calls = read_log(log)
    assert calls == whole[:-1] and head["pywasi-record"] == 1


@pytest.mark.parametrize("damage", ["json", "blob index", "blob size", "header"])
def test_a_damaged_binary_log_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    _, log = _record(tmp_path, "run", "binary")
    data = bytearray(log.read_bytes())
    at, _ = next((at, size) for at, size in _frames(log)[1:]
                 if b'"out":[[' in data[at: at + 8 + size])
    (length,) = struct.unpack_from("<I", data, at + 8)
    text = bytes(data[at + 12: at + 12 + length])
    if damage == "json":
        data[at + 12] = ord("!")
    elif damage == "blob index":
        spot = text.index(b'"out":[[') + len(b'"out":[[')
        spot = text.index(b",", spot) + 1  # the run's blob index: make it out of range
        data[at + 12 + spot] = ord("9")
    elif damage == "blob size":  # a blob claiming 4 GiB inside a frame of some bytes
        struct.pack_into("<I", data, at + 12 + length, 0xFFFFFFFF)
    else:
        data[len(BINARY_MAGIC) + 12] = ord("!")
    log.write_bytes(bytes(data))
    with pytest.raises(pywasi.InvalidArgValueError, match="damaged|header frame"):
        read_log(log)
    with pytest.raises(pywasi.InvalidArgValueError):
        run_guest(build_c(MODULE), replay=str(log))


def test_a_frame_claiming_4_gib_allocates_nothing_of_the_kind(tmp_path: Path) -> None:
    _, log = _record(tmp_path, "run", "binary")
    data = bytearray(log.read_bytes())
    second, _ = _frames(log)[1]
    struct.pack_into("<Q", data, second, 4 << 30)
    log.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.warns(RuntimeWarning, match="torn"):
            head, calls = read_log(log)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert calls == [] and head["abi"] == "preview1"
    assert peak < 16 * len(data)  # bounded by the file, not by the claim


def test_a_json_log_still_reads_from_a_text_stream(tmp_path: Path) -> None:
    _, log = _record(tmp_path, "run", "json")
    with log.open(encoding="utf-8") as stream:
        from_stream: Any = read_log(stream)
    assert from_stream == read_log(log)


def test_a_torn_last_json_line_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """A JSON-lines log of a run that ended mid-write reads as its binary twin does; a line
    damaged elsewhere is a clear error, never a JSONDecodeError."""
    _, log = _record(tmp_path, "run", "json")
    whole = read_log(log)[1]
    text = log.read_text()
    log.write_text(text[: text.rstrip("\n").rfind("\n") + 20])
    with pytest.warns(RuntimeWarning, match="last line, line .*, is torn"):
        head, calls = read_log(log)
    assert calls == whole[:-1] and head["pywasi-record"] == 1
    lines = text.splitlines(keepends=True)
    log.write_text("".join([*lines[:2], "{not json\n", *lines[2:]]))
    with pytest.raises(pywasi.InvalidArgValueError, match="line 3 does not decode"):
        read_log(log)
    log.write_text("".join([*lines[:2], "[1, 2]\n", *lines[2:]]))
    with pytest.raises(pywasi.InvalidArgValueError, match="line 3 is no call"):
        read_log(log)
