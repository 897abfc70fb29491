"""A hostile guest against the host's limits, and the red team's cases, each answered as the
spec and POSIX say (see the README's "Limits" and src/pywasi/limits.py).

Most cases call the system calls through `wasi.wasi_import` on a module that only has memory,
so each can aim one argument precisely; the ones whose answer depends on the host-call path or
the command line run real guests.
"""

from __future__ import annotations

import fcntl
import os
import resource
import select
import struct
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import wasmtime

import pywasi
from background import JOIN_SECONDS, later
from pywasi import cli, cli_options, limits
from pywasi.abi.errno import WasiErrno
from pywasi.abi.types import Errno, Fdflags, Filetype, Lookupflags, Oflags, Rights
from pywasi.memory import GuestMemory
from pywasi.sandbox import resolver
from pywasi.sandbox.fdtable import Descriptor
from pywasi.sandbox.files import WasiFile
from pywasi.sandbox.resolver import MAX_DEPTH, MAX_LINK_TARGET, PATH_MAX, walk
from pywasi.syscalls import IMPLEMENTATIONS
from pywasi.syscalls import poll as poll_module
from test_poll import MONOTONIC, pipe

PAGE = 65536
MIB = 1 << 20
ALL_RIGHTS = int(Rights.ALL)


@dataclass
class Guest:
    """A bound WASI object over a module that is only memory, with a scratch preopen at 3."""

    wasi: pywasi.WASI
    root: Path
    instance: object  # keeps the store, and so the memory, alive
    calls: dict[str, Callable[..., int | None]] = field(init=False)

    def __post_init__(self) -> None:
        self.calls = self.wasi.wasi_import

    @property
    def memory(self) -> GuestMemory:
        return self.wasi._context.memory

    def put(self, ptr: int, data: bytes) -> tuple[int, int]:
        self.memory.write(ptr, data)
        return ptr, len(data)

    def u32(self, ptr: int) -> int:
        return int(struct.unpack("<I", self.memory.read(ptr, 4))[0])

    def u64(self, ptr: int) -> int:
        return int(struct.unpack("<Q", self.memory.read(ptr, 8))[0])

    def open(self, path: bytes, oflags: int = 0, dirflags: int = 0,
             rights: int = ALL_RIGHTS) -> tuple[int, int]:
        """path_open beneath the preopen: (errno, new fd)."""
        name, length = self.put(1024, path)
        errno = self.calls["path_open"](3, dirflags, name, length, oflags, rights, rights, 0, 0)
        return int(errno or 0), self.u32(0)


def make_guest(tmp_path: Path, pages: int = 1, *, stdin: int = 0, stdout: int = 1,
               stderr: int = 2, max_open_files: int | None = None) -> Guest:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    wasi = pywasi.WASI(version="preview1", preopens={"/sandbox": str(root)}, stdin=stdin,
                       stdout=stdout, stderr=stderr, max_open_files=max_open_files)
    instance = pywasi.instantiate(wasi, f'(module (memory (export "memory") {pages}))'.encode())
    wasi.finalize_bindings(instance)
    return Guest(wasi, root, instance)


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[Guest]:
    g = make_guest(tmp_path)
    yield g
    g.wasi.close()


def peak_allocation(action: Callable[[], object]) -> tuple[object, int]:
    """What `action` returns, and the most Python memory it held at once (tracemalloc)."""
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


# -- Limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [limits.IOV_MAX + 1, 2**31, 2**32 - 1])
@pytest.mark.parametrize("call", ["fd_write", "fd_read", "fd_pwrite", "fd_pread"])
def test_more_iovecs_than_iov_max_is_einval_before_any_is_read(
        guest: Guest, call: str, count: int) -> None:
    """EINVAL as readv(2) answers, even where the array would not fit memory (no EFAULT),
    and before the host builds anything for the buffers."""
    offset = (0,) if call in ("fd_pwrite", "fd_pread") else ()
    fd = guest.open(b"file", Oflags.CREAT)[1]
    errno, peak = peak_allocation(lambda: guest.calls[call](fd, 0, count, *offset, 16))
    assert errno == Errno.INVAL
    assert peak < 64 * 1024
    guest.put(0, struct.pack("<II", 512, 1) * limits.IOV_MAX)  # IOV_MAX is allowed
    assert guest.calls[call](fd, 0, limits.IOV_MAX, *offset, 60000) == 0


class Sink(WasiFile):
    """A file that takes whatever it is given (only counting it), as a Python file might."""

    filetype = Filetype.REGULAR_FILE

    def __init__(self) -> None:
        self.taken = 0

    def write(self, bufs: Sequence[memoryview]) -> int:
        moved = sum(len(buf) for buf in bufs)
        self.taken += moved
        return moved


def test_one_call_moves_at_most_io_bytes_max(tmp_path: Path) -> None:
    """Two 3 GiB buffers in a 4 GiB memory: the count returned must fit its u32, so the call
    is short, as Linux makes it (MAX_RW_COUNT), for every file, not only host descriptors."""
    guest = make_guest(tmp_path, pages=PAGE)  # 4 GiB, reserved but never touched
    sink = Sink()
    fd = guest.wasi._context.fds.add(Descriptor(sink, Rights.FD_WRITE, 0))
    three_gib = 3 << 30
    guest.put(0, struct.pack("<IIII", 16, three_gib, 32, three_gib))
    assert guest.calls["fd_write"](fd, 0, 2, 8) == 0
    assert guest.u32(8) == sink.taken == limits.IO_BYTES_MAX
    guest.wasi.close()


def test_readdir_with_a_4_gib_buffer_costs_only_the_listing(tmp_path: Path) -> None:
    guest = make_guest(tmp_path, pages=PAGE)
    for index in range(50):
        (guest.root / f"entry{index}").touch()
    used_out = 2**32 - 8
    errno, peak = peak_allocation(
        lambda: guest.calls["fd_readdir"](3, 0, 2**32 - 16, 0, used_out))
    assert errno == 0
    assert guest.u32(used_out) == sum(24 + len(name) for name in [".", ".."] + [
        f"entry{index}" for index in range(50)])
    assert peak < MIB
    guest.wasi.close()


def test_poll_subscriptions_beyond_the_cap_are_einval(tmp_path: Path) -> None:
    cap = limits.POLL_SUBSCRIPTIONS_MAX
    guest = make_guest(tmp_path, pages=1 + (cap + 1) * (48 + 32) // PAGE)
    events = (cap + 1) * 48
    assert guest.calls["poll_oneoff"](0, events, cap + 1, 0) == Errno.INVAL
    assert guest.calls["poll_oneoff"](0, events, 2**32 - 1, 0) == Errno.INVAL
    # The cap itself is fine: that many clocks that are already due.
    assert guest.calls["poll_oneoff"](0, events, cap, 0) == 0
    assert guest.u32(0) == cap
    guest.wasi.close()


def test_random_get_of_64_mib_holds_one_chunk_of_host_memory(tmp_path: Path) -> None:
    guest = make_guest(tmp_path, pages=64 * MIB // PAGE + 1)
    errno, peak = peak_allocation(lambda: guest.calls["random_get"](0, 64 * MIB))
    assert errno == 0
    assert peak < 2 * limits.RANDOM_CHUNK
    assert guest.memory.read(64 * MIB - 4096, 4096) != bytes(4096)  # filled to the end
    guest.wasi.close()


def pathological(length: int) -> bytes:
    """`d/../` repeated, then `./` repeated, `length` bytes in all: what made the old resolver
    quadratic (7.6 s for 64 KB)."""
    half = length // 2
    return (b"d/../" * (half // 5)).ljust(half, b"/") + b"./" * ((length - half) // 2)


def test_pathological_paths_resolve_or_are_refused_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH_MAX bytes of them resolve; past it, the path is refused before it is read from
    guest memory, and no lookup (the kernel's or the walk's) sees it. (That the walk is
    linear: the next test.)"""
    guest = make_guest(tmp_path, pages=2)
    (guest.root / "d").mkdir()
    lookups: list[bytes] = []
    real_enter, real_openat2 = resolver.HostTree.enter, resolver.openat2

    def enter(tree: resolver.HostTree, parent: int, name: bytes) -> int | bytes:
        lookups.append(name)
        return real_enter(tree, parent, name)

    monkeypatch.setattr(resolver.HostTree, "enter", enter)
    if real_openat2 is not None:
        def openat2(dir_fd: int, path: bytes, flags: int, mode: int) -> int:
            lookups.append(path)
            return real_openat2(dir_fd, path, flags, mode)

        monkeypatch.setattr(resolver, "openat2", openat2)
    path, size = guest.put(4096, pathological(PATH_MAX))
    assert guest.calls["path_filestat_get"](3, 0, path, size, 0) == 0
    assert lookups
    lookups.clear()
    path, size = guest.put(4096, pathological(64 * 1024))
    real_read = GuestMemory.read
    read: list[int] = []

    def recorded_read(memory: GuestMemory, ptr: int, length: int) -> bytes:
        read.append(length)
        return real_read(memory, ptr, length)

    monkeypatch.setattr(GuestMemory, "read", recorded_read)
    assert guest.calls["path_filestat_get"](3, 0, path, size, 0) == Errno.NAMETOOLONG
    assert (lookups, read) == ([], [])
    guest.wasi.close()


class MemoryTree:
    """A `Tree` of nested dicts, to time the resolver alone (no system calls) and to hold
    links a host file system could not store."""

    def __init__(self, root: dict[bytes, object]) -> None:
        self.root = root

    def enter(self, parent: dict[bytes, object], name: bytes) -> dict[bytes, object] | bytes:
        entry = parent.get(name)
        if entry is None:
            raise WasiErrno(Errno.NOENT)
        assert isinstance(entry, (dict, bytes))
        return entry

    def read_link(self, parent: dict[bytes, object], name: bytes) -> bytes | None:
        entry = parent.get(name)
        return entry if isinstance(entry, bytes) else None

    def leave(self, handle: dict[bytes, object]) -> None:
        pass

    def require_directory(self, parent: dict[bytes, object], name: bytes) -> None:
        pass


def test_the_resolver_is_linear_in_the_links_it_splices_in() -> None:
    """The most one lookup can walk: 40 links, each 4 KB of `d/../`, 160 KB in all (the
    quadratic resolver took 7.6 s for 64 KB); and a path past PATH_MAX is refused by the
    resolver too, whoever calls it."""
    tree = MemoryTree({b"d": {}, b"l": pathological(MAX_LINK_TARGET)})
    # This thread's CPU time, which other processes on a busy machine do not inflate: some
    # 20 ms, where the quadratic resolver took seconds (wall times: bench/path_calls.py).
    start = time.thread_time()
    with walk(tree, tree.root, b"l/" * 40 + b"d", follow=True) as where:
        assert where.name == b"d"
    assert time.thread_time() - start < 1.0
    with pytest.raises(WasiErrno) as error, walk(tree, tree.root, b"d" * (PATH_MAX + 1),
                                                 follow=True):
        pass
    assert error.value.errno == Errno.NAMETOOLONG


def test_a_48_mib_path_costs_nothing_like_its_size(tmp_path: Path) -> None:
    guest = make_guest(tmp_path, pages=49 * MIB // PAGE)
    size = 48 * MIB
    guest.memory.view(0, size)[:] = b"a/" * (size // 2)
    errno, peak = peak_allocation(lambda: guest.calls["path_filestat_get"](3, 0, 0, size, size))
    assert errno == Errno.NAMETOOLONG
    assert peak < MIB  # the path is never copied, let alone split
    guest.wasi.close()


def test_link_targets_longer_than_the_limit_are_enametoolong() -> None:
    """Each expansion is bounded, so one lookup splices at most MAX_SYMLINKS of them."""
    for target, fits in ((pathological(MAX_LINK_TARGET), True),
                         (pathological(MAX_LINK_TARGET) + b".", False)):
        tree = MemoryTree({b"d": {}, b"link": target})
        if fits:
            with walk(tree, tree.root, b"link/x", follow=True) as where:
                assert where.name == b"x"
        else:
            with pytest.raises(WasiErrno) as error, \
                    walk(tree, tree.root, b"link/x", follow=True):
                pass
            assert error.value.errno == Errno.NAMETOOLONG


def test_a_lookup_holds_at_most_max_depth_directories() -> None:
    """Each directory a lookup is inside holds a host descriptor until it ends."""
    tree = MemoryTree({})
    tree.root[b"d"] = tree.root
    with walk(tree, tree.root, b"d/" * MAX_DEPTH + b"x", follow=True) as where:
        assert where.name == b"x"
    with pytest.raises(WasiErrno) as error, walk(tree, tree.root,
                                                 b"d/" * (MAX_DEPTH + 1) + b"x", follow=True):
        pass
    assert error.value.errno == Errno.NAMETOOLONG
    # Going back up frees a level: depth, not length, is what counts.
    with walk(tree, tree.root, b"d/../" * (MAX_DEPTH + 1) + b"x", follow=True) as where:
        assert where.name == b"x"


# -- Red team -------------------------------------------------------------------------------

def test_timestamps_before_1970_clamp_to_zero(guest: Guest) -> None:
    old = guest.root / "old"
    old.write_bytes(b"x")
    os.utime(old, ns=(-10**9, -10**9))
    name, length = guest.put(1024, b"old")
    assert guest.calls["path_filestat_get"](3, 0, name, length, 0) == 0
    atim, mtim = guest.u64(40), guest.u64(48)
    assert (atim, mtim) == (0, 0)
    fd = guest.open(b"old")[1]
    assert guest.calls["fd_filestat_get"](fd, 0) == 0
    assert (guest.u64(40), guest.u64(48)) == (0, 0)


# A huge clock beside a pipe that becomes readable: test_poll.py's
# test_pipe_becoming_readable_beats_the_clock, through the host-call paths.


class FakeTime:
    """Stands in for `time` and `select` in the poll module: a clocks-only wait (a `select`
    on the stop signal alone) moves a clock forward at once."""

    def __init__(self) -> None:
        self.now = 0
        self.sleeps: list[float] = []

    def monotonic_ns(self) -> int:
        return self.now

    def select(self, readable: list[int], writable: list[int], failed: list[int],
               seconds: float | None) -> tuple[list[int], list[int], list[int]]:
        assert seconds is not None and seconds <= 2**31 / 1000  # the most poll(2) waits
        self.sleeps.append(seconds)
        self.now += int(seconds * 1e9)
        return [], [], []

    def __getattr__(self, name: str) -> Any:  # the rest of `select`: poll(), POLLIN...
        return getattr(select, name)


@pytest.mark.parametrize("timeout", [2**63, 2**64 - 1])
def test_huge_clock_timeouts_are_waited_out_in_pieces(guest: Guest, timeout: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock alone: the host sleeps as long as it can at once, again and again, until the
    deadline (584 years, on a clock that jumps)."""
    fake = FakeTime()
    monkeypatch.setattr(poll_module, "time", fake)
    monkeypatch.setattr(poll_module, "select", fake)
    guest.put(0, struct.pack("<QB7xIxxxxQQH6x", 7, 0, MONOTONIC, timeout, 0, 0))
    assert guest.calls["poll_oneoff"](0, 100, 1, 200) == 0
    assert guest.u32(200) == 1 and guest.u64(100) == 7  # one event, the clock's
    assert guest.memory.read(108, 3) == bytes([0, 0, 0])  # no error, type CLOCK
    assert fake.now >= timeout
    assert len(fake.sleeps) > 1000  # in pieces, each no longer than poll(2) takes


def cli_run(tmp_path: Path, wat_or_wasm: str | bytes,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    module = tmp_path / ("m.wat" if isinstance(wat_or_wasm, str) else "m.wasm")
    if isinstance(wat_or_wasm, str):
        module.write_text(wat_or_wasm)
    else:
        module.write_bytes(wat_or_wasm)
    status = cli.main(["run", "--no-cache", str(module)])
    return status, capsys.readouterr().err


def exit_module(code: int) -> str:
    return ('(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))'
            ' (memory (export "memory") 1)'
            f' (func (export "_start") (call $exit (i32.const {code - 2**32 * (code >= 2**31)}))))')


@pytest.mark.parametrize("code", [256, 512, 2**31, 2**32 - 1])
def test_exit_codes_the_host_cannot_report_are_an_error_status(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], code: int) -> None:
    status, err = cli_run(tmp_path, exit_module(code), capsys)
    assert status == 1
    assert f"exit status {code} does not fit" in err
    wasi = pywasi.WASI(version="preview1", return_on_exit=False)
    with pytest.raises(SystemExit) as exit_:
        wasi.start(pywasi.instantiate(wasi, exit_module(code).encode()))
    assert exit_.value.code == 1


@pytest.mark.parametrize("code", [0, 3, 125, 255])
def test_exit_codes_that_fit_pass_through(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          code: int) -> None:
    status, err = cli_run(tmp_path, exit_module(code), capsys)
    assert (status, err) == (code, "")


def test_trap_messages_escape_control_characters(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The module and function names in a trap's backtrace are the guest's: ESC and BEL in
    them must reach the terminal as text."""
    wasm = bytes(wasmtime.wat2wasm(
        '(module $MMMMMMMMMM (memory (export "memory") 1)'
        ' (func $FFFFFFFFFF (export "_start") unreachable))'))
    # Same lengths, so the name section stays valid: an OSC title, clear screen, red, bell,
    # and a C1 CSI (U+009B).
    wasm = wasm.replace(b"MMMMMMMMMM", b"\x1b]0;p\x07\x1b[2J").replace(
        b"FFFFFFFFFF", b"\x1b[31m\x07\xc2\x9bAA")
    status, err = cli_run(tmp_path, wasm, capsys)
    assert status == cli_options.TRAP_EXIT_STATUS
    assert "unreachable" in err
    assert not any(char in err for char in "\x1b\x07\x9b")
    assert "\\x1b]0;p\\x07\\x1b[2J" in err and "\\x1b[31m\\x07\\x9bAA" in err


@contextmanager
def unblocked_after(seconds: float, unblock: Callable[[], object]) -> Iterator[None]:
    """Run `unblock` if the body is still running after `seconds`: a call that should not
    wait, but does, then returns (and fails its test) instead of hanging."""
    timer = later(seconds, unblock)
    try:
        yield
    finally:
        timer.cancel()
        timer.join(JOIN_SECONDS)


def test_load_errors_escape_control_characters(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """An import's names are the guest's too, and a link error quotes them."""
    status, err = cli_run(tmp_path, '(module (import "env\\1b]0;x\\07" "f\\1b[2J" (func))'
                                    ' (memory (export "memory") 1) (func (export "_start")))',
                          capsys)
    assert status == 1
    assert "unknown import" in err and "\x1b" not in err and "\x07" not in err
    assert "env\\x1b]0;x\\x07" in err


def host_flags(fd: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_GETFL)


def test_nonblocking_stdin_is_eagain_when_empty_and_leaves_the_host_fd_alone(
        tmp_path: Path) -> None:
    with pipe() as (read_end, write_end):
        before = host_flags(read_end)
        guest = make_guest(tmp_path, stdin=read_end)
        guest.put(0, struct.pack("<II", 64, 16))
        assert guest.calls["fd_fdstat_set_flags"](0, Fdflags.SYNC) == Errno.NOTSUP
        assert guest.calls["fd_fdstat_set_flags"](0, Fdflags.NONBLOCK) == 0
        with unblocked_after(2, lambda: os.write(write_end, b"!")):  # fails, never hangs
            assert guest.calls["fd_read"](0, 0, 1, 8) == Errno.AGAIN
        assert host_flags(read_end) == before  # the embedder's descriptor is untouched
        os.write(write_end, b"now")
        assert guest.calls["fd_read"](0, 0, 1, 8) == 0
        assert guest.u32(8) == 3 and guest.memory.read(64, 3) == b"now"
        # Blocking again: the read waits for the data.
        assert guest.calls["fd_fdstat_set_flags"](0, 0) == 0
        writer = later(0.2, os.write, write_end, b"later")
        assert guest.calls["fd_read"](0, 0, 1, 8) == 0
        writer.join(JOIN_SECONDS)
        assert guest.memory.read(64, 5) == b"later"
        guest.wasi.close()


def test_nonblocking_stdout_is_eagain_when_the_pipe_is_full(tmp_path: Path) -> None:
    with pipe() as (read_end, write_end):
        before = host_flags(write_end)
        os.set_blocking(write_end, False)
        try:
            while True:
                os.write(write_end, bytes(65536))
        except BlockingIOError:
            pass
        os.set_blocking(write_end, True)
        guest = make_guest(tmp_path, stdout=write_end)
        guest.put(0, struct.pack("<II", 64, 16))
        assert guest.calls["fd_fdstat_set_flags"](1, Fdflags.NONBLOCK) == 0
        with unblocked_after(2, lambda: os.read(read_end, 65536)):
            assert guest.calls["fd_write"](1, 0, 1, 8) == Errno.AGAIN
        assert host_flags(write_end) == before
        os.read(read_end, 1 << 20)  # room again: a short write of at most PIPE_BUF
        guest.put(0, struct.pack("<II", 0, 60000))
        assert guest.calls["fd_write"](1, 0, 1, 8) == 0
        assert 0 < guest.u32(8) <= select.PIPE_BUF
        guest.wasi.close()


@pytest.mark.parametrize("dirflags", [Lookupflags.SYMLINK_FOLLOW, 0])
def test_create_exclusive_never_follows_a_dangling_link(guest: Guest, dirflags: int) -> None:
    os.symlink("target", guest.root / "link")
    errno, _ = guest.open(b"link", Oflags.CREAT | Oflags.EXCL, dirflags)
    assert errno == Errno.EXIST
    assert not (guest.root / "target").exists()
    assert os.readlink(guest.root / "link") == "target"


def test_instances_cannot_take_the_host_process_descriptors(tmp_path: Path) -> None:
    guest = make_guest(tmp_path, max_open_files=40)
    (guest.root / "file").touch()
    opened = []
    while (result := guest.open(b"file"))[0] == 0:
        opened.append(result[1])
    assert result[0] == Errno.MFILE
    assert len(opened) == 40 - 4  # stdio and the preopen count too
    with open(guest.root / "file") as mine:  # the embedder still opens files
        assert mine.read() == ""
    (tmp_path / "other").mkdir()
    second = make_guest(tmp_path / "other")
    assert second.open(b"file", Oflags.CREAT)[0] == 0  # so does another instance
    guest.wasi.close()
    second.wasi.close()


def test_the_default_cap_leaves_most_of_rlimit_nofile_to_the_process(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (400, hard))
    try:
        assert limits.default_max_open_files() == 100
        guest = make_guest(tmp_path)
        (guest.root / "file").touch()
        count = 0
        while guest.open(b"file")[0] == 0:
            count += 1
        assert count == 100 - 4
        guest.wasi.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert limits.default_max_open_files() == min(1024, soft // 4)


def test_max_open_files_below_what_the_options_need_is_refused(tmp_path: Path) -> None:
    with pytest.raises(pywasi.OutOfRangeError, match="max_open_files.*>= 4"):
        pywasi.WASI(version="preview1", preopens={"/": str(tmp_path)}, max_open_files=3)


def test_readlink_of_a_host_planted_absolute_link_reveals_nothing(guest: Guest) -> None:
    os.symlink(str(guest.root.parent / "secret-place"), guest.root / "abs")
    os.symlink("relative/target", guest.root / "rel")
    for name, expected in ((b"abs", Errno.NOTCAPABLE), (b"rel", 0)):
        path, length = guest.put(1024, name)
        guest.put(2048, bytes(256))
        assert guest.calls["path_readlink"](3, path, length, 2048, 256, 0) == expected
        assert b"secret" not in guest.memory.read(2048, 256)
    assert guest.memory.read(2048, guest.u32(0)) == b"relative/target"


def test_renumber_onto_a_number_that_is_not_open_is_ebadf(guest: Guest) -> None:
    fd = guest.open(b"f", Oflags.CREAT)[1]
    assert guest.calls["fd_renumber"](fd, 50) == Errno.BADF
    assert guest.calls["fd_fdstat_get"](50, 0) == Errno.BADF
    assert guest.calls["fd_fdstat_get"](fd, 0) == 0  # nothing moved
    assert guest.calls["fd_renumber"](fd, 3) == 0  # onto an open number, as before
    assert guest.calls["fd_fdstat_get"](fd, 0) == Errno.BADF


def test_the_number_released_last_is_handed_out_first(guest: Guest) -> None:
    """yosys's pattern: stdout renumbered onto a file, not moved back, files closed. The next
    file must not become fd 1, where the guest still writes its stdout (wasmtime's order)."""
    a, b = guest.open(b"a", Oflags.CREAT)[1], guest.open(b"b", Oflags.CREAT)[1]
    assert guest.calls["fd_renumber"](1, a) == 0  # 1 is released
    assert guest.calls["fd_close"](b) == 0  # and then b
    assert guest.open(b"c", Oflags.CREAT)[1] == b
    assert guest.open(b"d", Oflags.CREAT)[1] == 1


@pytest.mark.parametrize("back_two", [-2, 2**64 - 2], ids=["signed", "u64 bits"])
def test_fd_seek_takes_its_s64_offset_signed_or_as_u64_bits(guest: Guest, back_two: int) -> None:
    """However an engine hands over fd_seek's filedelta, -2 is two bytes back."""
    (guest.root / "f").write_bytes(b"0123456789")
    fd = guest.open(b"f")[1]
    assert guest.calls["fd_seek"](fd, 5, 0, 16) == 0
    assert guest.calls["fd_seek"](fd, back_two, 1, 16) == 0
    assert guest.u64(16) == 3


@pytest.mark.parametrize(("call", "args"), [
    ("fd_pread", (0, 1, 2**63, 100)), ("fd_pwrite", (0, 1, 2**64 - 1, 100)),
    ("fd_advise", (2**63, 1, 0)), ("fd_advise", (0, 2**63, 0)),
    ("fd_allocate", (2**63, 1)), ("fd_allocate", (0, 2**64 - 1)),
    ("fd_filestat_set_size", (2**63,)),
])
def test_offsets_past_off_t_are_einval_not_a_python_error(guest: Guest, call: str,
                                                          args: tuple[int, ...]) -> None:
    """The implementation itself raises EINVAL: only WASI's own errors may become errnos."""
    fd = guest.open(b"f", Oflags.CREAT)[1]
    guest.put(0, struct.pack("<II", 64, 4))
    with pytest.raises(WasiErrno) as error:
        IMPLEMENTATIONS[call](guest.wasi._context, fd, *args)
    assert error.value.errno == Errno.INVAL


SEEK_RIGHTS = Rights.FD_SEEK | Rights.FD_TELL


def rights_of(guest: Guest, fd: int) -> int:
    assert guest.calls["fd_fdstat_get"](fd, 0) == 0
    return guest.u64(8)


def test_character_devices_that_can_seek_get_seek_rights(tmp_path: Path) -> None:
    """/dev/urandom and /dev/null, opened through a preopen of /dev (as svg-flatten does):
    seek and tell answer 0, as on Linux, in wasmtime and in Node."""
    root = tmp_path / "root"
    root.mkdir()
    wasi = pywasi.WASI(version="preview1", preopens={"/dev": "/dev"})
    instance = pywasi.instantiate(wasi, b'(module (memory (export "memory") 1))')
    wasi.finalize_bindings(instance)
    guest = Guest(wasi, root, instance)
    for device in (b"urandom", b"null"):
        errno, fd = guest.open(device, rights=Rights.FD_READ | SEEK_RIGHTS)
        assert errno == 0
        assert rights_of(guest, fd) & SEEK_RIGHTS == SEEK_RIGHTS
        assert guest.calls["fd_seek"](fd, 0, 1, 16) == 0 and guest.u64(16) == 0
        assert guest.calls["fd_tell"](fd, 16) == 0 and guest.u64(16) == 0
    wasi.close()


def test_stdio_gets_seek_rights_where_the_host_can_seek(tmp_path: Path) -> None:
    with pipe() as (read_end, _), open(os.devnull, "wb") as null, \
            tempfile.TemporaryFile() as file:
        guest = make_guest(tmp_path, stdin=read_end, stdout=null.fileno(),
                           stderr=file.fileno())
        assert rights_of(guest, 0) & SEEK_RIGHTS == 0  # a pipe
        assert rights_of(guest, 1) & SEEK_RIGHTS == SEEK_RIGHTS  # /dev/null
        assert rights_of(guest, 2) & SEEK_RIGHTS == SEEK_RIGHTS  # a regular file
        guest.wasi.close()
