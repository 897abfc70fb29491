"""Read-only preopens (`ReadOnly`, ``pywasi run --dir-ro``), host-backed and memory-backed:
every write path is refused, by rights first (tests/c/readonly.c) and by the read-only
objects themselves when rights would let a call through (defence in depth)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from guest import build_c, run_guest
from pywasi import (
    Errno,
    MemoryDir,
    MemorySymlink,
    Oflags,
    Preopen,
    ReadOnly,
    WasiErrno,
    WasiFile,
)
from pywasi.sandbox.host import HostDir
from pywasi.sandbox.memfs_open import OpenMemoryDir
from pywasi.sandbox.readonly import ReadOnlyFile, read_only
from test_cli import pywasi
from test_memfs import Countdown

BACKINGS = ["host", "memory"]


def make_ro(tmp_path: Path, backing: str) -> Path | MemoryDir:
    """The read-only tree the guest sees: file = "data", sub/inner, link -> file."""
    if backing == "memory":
        return MemoryDir({"file": b"data", "sub": {"inner": b"x"},
                          "link": MemorySymlink("file")})
    root = tmp_path / "ro"
    (root / "sub").mkdir(parents=True)
    (root / "file").write_bytes(b"data")
    (root / "sub" / "inner").write_bytes(b"x")
    (root / "link").symlink_to("file")
    return root


def make_rw(tmp_path: Path, backing: str) -> Path | MemoryDir:
    if backing == "memory":
        return MemoryDir({"w": b"mine"})
    root = tmp_path / "rw"
    root.mkdir()
    (root / "w").write_bytes(b"mine")
    return root


def snapshot(tree: Path | MemoryDir) -> object:
    """Everything a write could change: names, contents, link targets and times."""
    if isinstance(tree, MemoryDir):
        return tree.to_dict(), [(node.ino, node.mtime_ns) for node in tree.values()]
    return sorted(
        (str(path.relative_to(tree)), path.lstat().st_mtime_ns,
         os.readlink(path) if path.is_symlink() else path.is_file() and path.read_bytes())
        for path in [tree, *tree.rglob("*")]
    )


def preopen(tree: Path | MemoryDir) -> str | MemoryDir:
    return str(tree) if isinstance(tree, Path) else tree


@pytest.mark.parametrize("rw_backing", BACKINGS)
@pytest.mark.parametrize("ro_backing", BACKINGS)
def test_every_write_path_is_refused(tmp_path: Path, ro_backing: str, rw_backing: str) -> None:
    ro, rw = make_ro(tmp_path, ro_backing), make_rw(tmp_path, rw_backing)
    before = snapshot(ro), snapshot(rw)
    run = run_guest(build_c("readonly"), preopens={"/ro": ReadOnly(preopen(ro)),
                                                   "/rw": Preopen(preopen(rw))})
    assert (run.exit_code, run.out) == (0, "PASS\n")
    assert (snapshot(ro), snapshot(rw)) == before


@pytest.mark.parametrize("spelling", ["fs_mutable", "nested"])
def test_wasmtime_py_spelling_and_nesting(tmp_path: Path, spelling: str) -> None:
    ro = make_ro(tmp_path, "memory")
    source = (Preopen(preopen(ro), fs_mutable=False) if spelling == "fs_mutable"
              else Preopen(ReadOnly(preopen(ro))))  # read-only stays read-only
    run = run_guest(build_c("readonly"), preopens={"/ro": source,
                                                   "/rw": make_rw(tmp_path, "memory")})
    assert (run.exit_code, run.out) == (0, "PASS\n")


def test_command_line_dir_ro(tmp_path: Path) -> None:
    ro, rw = make_ro(tmp_path, "host"), make_rw(tmp_path, "host")
    before = snapshot(ro)
    result = pywasi("run", "--dir-ro", f"{ro}::/ro", "--dir", f"{rw}::/rw",
                    str(build_c("readonly")))
    assert (result.returncode, result.stdout) == (0, "PASS\n")
    assert snapshot(ro) == before


def open_directory(tree: Path | MemoryDir) -> WasiFile:
    return HostDir.open(str(tree)) if isinstance(tree, Path) else OpenMemoryDir(tree)


def refused(call: Callable[[], object]) -> Errno:
    with pytest.raises(WasiErrno) as error:
        call()
    return error.value.errno


@pytest.mark.parametrize("backing", BACKINGS)
def test_read_only_objects_refuse_even_with_rights(tmp_path: Path, backing: str) -> None:
    """Called directly, as a descriptor holding every right would reach them."""
    ro_tree, rw_tree = make_ro(tmp_path, backing), make_rw(tmp_path, backing)
    before = snapshot(ro_tree), snapshot(rw_tree)
    ro, rw = read_only(open_directory(ro_tree)), open_directory(rw_tree)
    file = ro.open_at(b"file", False, 0, 0, True, False)
    try:
        assert file.read_only and ro.read_only
        rofs: list[Callable[[], object]] = [
            lambda: ro.open_at(b"file", False, 0, 0, True, True),
            lambda: ro.open_at(b"file", False, Oflags.TRUNC, 0, True, False),
            lambda: ro.open_at(b"new", False, Oflags.CREAT, 0, True, False),
            lambda: ro.open_at(b"sub/inner", False, 0, 0, False, True),
            lambda: ro.mkdir_at(b"dir"),
            lambda: ro.unlink_at(b"file"),
            lambda: ro.rmdir_at(b"sub"),
            lambda: ro.symlink_at(b"file", b"newlink"),
            lambda: ro.set_times_at(b"file", False, 1, 1),
            lambda: ro.set_times(1, 1),
            lambda: ro.rename_at(b"file", ro, b"renamed"),
            lambda: ro.rename_at(b"file", rw, b"stolen"),
            lambda: ro.link_at(b"file", rw, b"hardlink"),
            lambda: file.write([memoryview(b"evil")]),
            lambda: file.writer().one(memoryview(b"evil")),
            lambda: file.pwrite([memoryview(b"evil")], 0),
            lambda: file.set_size(0),
            lambda: file.allocate(0, 100),
            lambda: file.set_times(1, 1),
        ]
        assert [refused(call) for call in rofs] == [Errno.ROFS] * len(rofs)
        # A writable directory moves and links entries only among its own kind.
        assert refused(lambda: rw.rename_at(b"w", ro, b"planted")) == Errno.XDEV
        assert refused(lambda: rw.link_at(b"w", ro, b"planted")) == Errno.XDEV
        # A directory opened beneath is read-only too; reading works.
        sub = ro.open_at(b"sub", False, Oflags.DIRECTORY, 0, True, False)
        assert sub.read_only and refused(lambda: sub.mkdir_at(b"x")) == Errno.ROFS
        sub.close()
        buf = bytearray(8)
        assert file.read([memoryview(buf)]) == 4 and buf[:4] == b"data"
    finally:
        file.close()
        ro.close()
        rw.close()
    assert (snapshot(ro_tree), snapshot(rw_tree)) == before


def test_one_view_of_a_file_opened_twice() -> None:
    """A WasiFile in a memory tree is one object however often it is opened: its read-only
    view is one too, so the fd table closes it once, after its last descriptor."""
    class Writable(Countdown):
        read_only = False

    countdown = Writable()
    ro = read_only(OpenMemoryDir(MemoryDir({"c": countdown})))
    first = ro.open_at(b"c", False, 0, 0, True, False)
    assert ro.open_at(b"c", False, 0, 0, True, False) is first
    assert isinstance(first, ReadOnlyFile) and first.inner is countdown
