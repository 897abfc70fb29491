"""Every fd_* and path_* call, through a C guest using the raw imports (tests/c/fs_calls.c),
over a real host directory and over a `MemoryDir` alike, with the host side of each case
checked here: a memory tree is built from the directory the test prepared and saved back
into it after the run, so the same checks read what the guest left."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

import pywasi
from guest import Run, build_c, run_guest
from pywasi import MemoryDir, MemoryNode


class Sandbox:
    """The guest's /sandbox: host directory `root` itself, or a memory copy of it."""

    def __init__(self, root: Path, backing: str) -> None:
        self.root = root
        self.backing = backing
        self.tree = MemoryDir()

    def preopen(self) -> str | MemoryDir:
        if self.backing == "host":
            return str(self.root)
        self.tree = MemoryDir.from_path(self.root)
        return self.tree

    def finish(self) -> None:
        """Leave in `root` what the guest left, for the checks to read."""
        if self.backing == "memory":
            shutil.rmtree(self.root)
            self.tree.save(self.root)

    def run(self, case: str, *args: str) -> Run:
        run = run_guest(build_c("fs_calls"), [case, *args], preopens={"/sandbox": self.preopen()})
        self.finish()
        return run

    def listing(self, name: str) -> list[tuple[str, int, int]]:
        """What fd_readdir must report for directory `name`: (name, inode, type) with . and
        .., from the directory itself (whose inodes saving a memory tree does not keep)."""
        if self.backing == "host":
            return listing(self.root / name)
        directory = self.tree[name]
        assert isinstance(directory, MemoryDir)
        nodes: list[tuple[str, MemoryNode]] = [(".", directory), ("..", self.tree),
                                               *directory.items()]
        return sorted((entry, node.ino, node.filetype) for entry, node in nodes)


@pytest.fixture(params=["host", "memory"])
def sandbox(root: Path, request: pytest.FixtureRequest) -> Sandbox:
    return Sandbox(root, request.param)


def passes(run: Run) -> str:
    """The case's own output, after checking that it ran to its PASS line."""
    assert run.exit_code == 0, run.out
    assert run.out.endswith("PASS\n"), run.out
    return run.out.removesuffix("PASS\n")


def open_fds() -> dict[str, str]:
    """This process's descriptors and what they name, but for wasmtime's memory images
    (cached per compiled module, not per run)."""
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the descriptor listdir itself used
            continue
        if not target.startswith("/memfd:wasm-memory-image"):
            fds[fd] = target
    return fds


def listing(directory: Path) -> list[tuple[str, int, int]]:
    """What fd_readdir must report: (name, inode, WASI file type) with . and .."""
    types = {stat.S_IFDIR: 3, stat.S_IFREG: 4, stat.S_IFLNK: 7}
    entries = [(".", directory.stat().st_ino, 3), ("..", directory.parent.stat().st_ino, 3)]
    for path in directory.iterdir():
        st = path.lstat()
        entries.append((path.name, st.st_ino, types[stat.S_IFMT(st.st_mode)]))
    return sorted(entries)


def parse_listing(output: str) -> list[tuple[str, int, int]]:
    rows = [line.rsplit(" ", 2) for line in output.splitlines()]
    return sorted((name, int(ino), int(kind)) for name, ino, kind in rows)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = tmp_path / "root"
    directory.mkdir()
    return directory


@pytest.mark.parametrize("bufsize", [24, 37, 64, 300, 4096])
def test_readdir_lists_everything_once_with_real_inodes(sandbox: Sandbox, bufsize: int) -> None:
    target = sandbox.root / "dir"
    target.mkdir()
    for index in range(40):
        (target / f"file-with-a-longish-name-{index:03}").write_text("x")
    (target / "sub").mkdir()
    (target / "link").symlink_to("sub")
    got = parse_listing(passes(sandbox.run("readdir", "dir", str(bufsize))))
    assert got == sandbox.listing("dir")


def test_readdir_large_directory(sandbox: Sandbox) -> None:
    target = sandbox.root / "big"
    target.mkdir()
    for index in range(3000):
        (target / f"entry{index}").touch()
    got = parse_listing(passes(sandbox.run("readdir", "big", "1000")))
    assert len(got) == 3002
    assert got == sandbox.listing("big")


def test_readdir_fills_buffer_and_cuts_last_entry(sandbox: Sandbox) -> None:
    (sandbox.root / "file").touch()
    (sandbox.root / "another-file").touch()
    passes(sandbox.run("readdir_cut"))


def test_times_keep_nanoseconds(sandbox: Sandbox) -> None:
    path = sandbox.root / "timed"
    path.touch()
    atim, mtim = 1_234_567_890_123_456_789, 1_300_000_000_987_654_321
    out = passes(sandbox.run("times", "timed", str(atim), str(mtim)))
    assert out == f"{atim} {mtim}\n"
    st = path.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (atim, mtim)


def test_fdstat_flags_and_rights(sandbox: Sandbox) -> None:
    passes(sandbox.run("fdstat"))
    assert (sandbox.root / "log").read_bytes() == b"ONEtwo"[:3] + b" two"


def test_path_edge_cases(sandbox: Sandbox) -> None:
    passes(sandbox.run("paths"))
    assert sorted(os.listdir(sandbox.root)) == ["dir", "dirlink", "file", "link"]


def test_directory_calls(sandbox: Sandbox) -> None:
    passes(sandbox.run("dirs"))
    root = sandbox.root
    assert sorted(os.listdir(root)) == ["d", "hard2", "moved", "sym"]
    assert (root / "hard2").read_text() == "data"
    assert os.readlink(root / "sym") == "d/e/f"


def test_reads_writes_and_bad_arguments(sandbox: Sandbox) -> None:
    passes(sandbox.run("rw"))
    data = (sandbox.root / "rw").read_bytes()
    assert data[:3] == b"hel" and data[3:] == bytes(4093)


def test_prestat(sandbox: Sandbox) -> None:
    passes(sandbox.run("prestat"))


def test_renumber_and_closing_stdio_leave_the_host_alone(sandbox: Sandbox) -> None:
    root = sandbox.root
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as inp:
        before = open_fds()
        wasi = pywasi.WASI(version="preview1", args=["guest", "renumber"],
                           preopens={"/sandbox": sandbox.preopen()},
                           stdin=inp.fileno(), stdout=out.fileno(), stderr=err.fileno())
        code = wasi.start(pywasi.instantiate(wasi, build_c("fs_calls")))
        sandbox.finish()
        assert code == 0
        assert open_fds() == before  # nothing leaked, and the host's stdio still open
        for host_file in (inp, out, err):
            os.fstat(host_file.fileno())
        out.seek(0)
        assert out.read() == b""  # the guest's writes to fd 1 went to its file
    assert (root / "a").read_bytes() == b"to a!? via 1"
    assert (root / "b").read_bytes() == b""


@pytest.mark.parametrize("count", [1000])  # all open at once, within the default cap of 1024
def test_thousands_of_files_and_no_leaked_descriptors(sandbox: Sandbox, count: int) -> None:
    before = open_fds()
    passes(sandbox.run("many", str(count)))
    assert open_fds() == before
    assert len(os.listdir(sandbox.root)) == count


def test_fifo_is_a_stream(root: Path) -> None:
    fifo = root / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        passes(Sandbox(root, "host").run("fifo"))
        assert os.read(reader, 100) == b"through the fifo"
    finally:
        os.close(reader)
