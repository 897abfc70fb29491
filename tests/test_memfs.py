"""In-memory trees (`MemoryDir`) beyond what the conformance guests check: the embedder's view
of the tree, host and memory preopens in one instance, copies to and from real directories and
archives, cookies that survive changes, sizes, and a `WasiFile` of the embedder's own."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from guest import Run, build_c, run_guest
from pywasi import (
    WASI,
    Dirent,
    Errno,
    Filestat,
    Filetype,
    MemoryDir,
    MemoryFile,
    MemoryNode,
    MemorySymlink,
    PreopenError,
    WasiErrno,
    WasiFile,
    Whence,
)
from pywasi.sandbox.memfs import FILE_SIZE_MAX, TreeQuota
from pywasi.sandbox.memfs_open import OpenMemoryDir, OpenMemoryFile

Node = TypeVar("Node", bound=MemoryNode)


def at(tree: MemoryDir, path: str, kind: type[Node]) -> Node:
    node = tree[path]
    assert isinstance(node, kind)
    return node


def guest(args: Sequence[str], preopens: dict[str, object]) -> Run:
    return run_guest(build_c("memfs"), args, preopens=preopens)


def test_a_tree_built_from_python_is_read_back_after_the_run() -> None:
    tree = MemoryDir({"in": {"a.txt": "héllo"}, "out": {}})
    run = guest(["copy", "/data/in/a.txt", "/data/out/result.txt"], {"/data": tree})
    assert run.out == "PASS\n"
    assert tree.file("out/result.txt").read_bytes() == "héllo".encode()
    assert tree.to_dict() == {"in": {"a.txt": "héllo".encode()},
                              "out": {"result.txt": "héllo".encode()}}


def test_host_and_memory_preopens_mix(tmp_path: Path) -> None:
    (tmp_path / "from-host").write_bytes(b"host bytes")
    tree = MemoryDir({"from-memory": b"memory bytes"})
    preopens: dict[str, object] = {"/host": str(tmp_path), "/mem": tree}
    assert guest(["copy", "/host/from-host", "/mem/copy"], preopens).out == "PASS\n"
    assert guest(["copy", "/mem/from-memory", "/host/copy"], preopens).out == "PASS\n"
    assert tree.file("copy").read_bytes() == b"host bytes"
    assert (tmp_path / "copy").read_bytes() == b"memory bytes"
    # Entries move between trees of one kind only, as between file systems: EXDEV.
    for call in ("rename", "link"):
        assert guest([call, "/mem/copy", "/host/moved"], preopens).out == f"{Errno.XDEV}\n"
        assert guest([call, "/host/copy", "/mem/moved"], preopens).out == f"{Errno.XDEV}\n"
    assert guest(["rename", "/mem/copy", "/mem/moved"], preopens).out == "0\n"
    assert sorted(tree) == ["from-memory", "moved"]


class Countdown(WasiFile):
    """A read-only file generated on the fly: "3\\n2\\n1\\nliftoff\\n", nothing stored."""

    filetype = Filetype.REGULAR_FILE
    read_only = True

    def __init__(self) -> None:
        self.position = 0

    def contents(self) -> bytes:
        return b"".join(f"{n}\n".encode() for n in range(3, 0, -1)) + b"liftoff\n"

    def read(self, bufs: Sequence[memoryview]) -> int:
        data = self.contents()
        total = 0
        for buf in bufs:
            chunk = data[self.position : self.position + len(buf)]
            buf[: len(chunk)] = chunk
            self.position += len(chunk)
            total += len(chunk)
        return total

    def seek(self, offset: int, whence: Whence) -> int:
        base = {Whence.SET: 0, Whence.CUR: self.position, Whence.END: len(self.contents())}
        self.position = base[whence] + offset
        return self.position

    def stat(self) -> Filestat:
        return Filestat(0, 0, self.filetype, 1, len(self.contents()), 0, 0, 0)

    def close(self) -> None:
        self.position = 0


def test_a_wasi_file_of_ones_own() -> None:
    tree = MemoryDir({"countdown": Countdown()})
    assert guest(["copy", "/data/countdown", "/data/copy"], {"/data": tree}).out == "PASS\n"
    assert tree.file("copy").read_bytes() == b"3\n2\n1\nliftoff\n"
    assert guest(["write", "/data/countdown"], {"/data": tree}).out == f"{Errno.ROFS}\n"


def names(listing: Iterable[Dirent]) -> list[bytes]:
    return [entry.name for entry in listing]


def test_readdir_cookies_stay_valid_while_the_directory_changes() -> None:
    tree = MemoryDir({f"f{index}": b"" for index in range(6)})
    directory = OpenMemoryDir(tree)
    first = list(directory.readdir(0))[:4]
    assert names(first) == [b".", b"..", b"f0", b"f1"]
    del tree["f0"], tree["f2"]  # one already listed, one not yet
    tree["new"] = b""
    tree["f1"] = b"replaced"  # a new entry under an old name is listed again, at the end
    rest = list(directory.readdir(first[-1].next))
    assert names(rest) == [b"f3", b"f4", b"f5", b"new", b"f1"]
    assert list(directory.readdir(rest[-1].next)) == []
    assert list(directory.readdir(2**64 - 1)) == []


def test_the_embedders_view_of_a_tree() -> None:
    tree = MemoryDir({"sub": {"deep": {"x": b"1"}}, "link": MemorySymlink("sub")})
    assert tree.file("sub/deep/x").read_bytes() == b"1"
    assert tree["link/deep/x"] is tree["sub/deep/x"]  # links on the way are followed
    assert isinstance(tree["link"], MemorySymlink)  # but not a last one
    tree["sub/deep/y"] = "text"
    assert tree.file("sub/deep/y").read_text() == "text"
    del tree["sub/deep/x"]
    assert list(at(tree, "sub/deep", MemoryDir)) == ["y"]
    for missing in ("nothing", "sub/nothing/x", "../sub", "/sub", "", "sub/.."):
        with pytest.raises(KeyError):
            tree[missing]
    with pytest.raises(ValueError, match="not a file name"):
        tree["sub/a\0b"] = b""
    with pytest.raises(ValueError, match="one directory"):
        tree["again"] = tree["sub"]
    with pytest.raises(ValueError, match="inside itself"):
        tree["sub/deep/sub"] = tree["sub"]
    with pytest.raises(ValueError, match="inside itself"):
        tree["sub/deep/loop"] = tree
    tree["sub"] = tree["sub"]  # the same place again is fine
    with pytest.raises(TypeError, match="must be bytes, str, a mapping"):
        MemoryDir({"bad": 42})  # type: ignore[dict-item]


def test_copies_to_and_from_a_real_directory(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file").write_bytes(b"contents")
    os.link(source / "sub" / "file", source / "hard")
    (source / "link").symlink_to("sub/file")
    os.utime(source / "sub" / "file", ns=(1_000_000_001, 2_000_000_002))
    tree = MemoryDir.from_path(source)
    assert tree["hard"] is tree["sub/file"] and tree["hard"].nlink == 2
    assert tree["sub/file"].mtime_ns == 2_000_000_002
    assert at(tree, "link", MemorySymlink).target == b"sub/file"
    copy = tmp_path / "copy"
    tree.save(copy)
    assert (copy / "hard").stat().st_ino == (copy / "sub" / "file").stat().st_ino
    assert os.readlink(copy / "link") == "sub/file"
    st = (copy / "sub" / "file").stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_001, 2_000_000_002)
    assert MemoryDir.from_path(copy).to_dict().keys() == tree.to_dict().keys()
    os.mkfifo(source / "fifo")
    with pytest.raises(ValueError, match="neither a file"):
        MemoryDir.from_path(source)


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tar.xz"])
def test_archives_round_trip(tmp_path: Path, kind: str) -> None:
    tree = MemoryDir({"a.txt": b"a", "sub": {"b.txt": b"b", "empty": {}}})
    if kind != "zip":
        tree["sub/link"] = MemorySymlink("b.txt")
        tree["hard"] = tree["a.txt"]
    for node in (tree["sub"], tree["a.txt"]):
        node.mtime_ns = 1_700_000_000_000_000_000
    path = tmp_path / f"tree.{kind}"
    tree.to_archive(path)
    back = MemoryDir.from_archive(path)
    assert back.to_dict().keys() == tree.to_dict().keys()
    for name in ("sub", "a.txt"):  # zip keeps local time in 2-second steps
        assert abs(back[name].mtime_ns - 1_700_000_000_000_000_000) <= 2 * 10**9
    assert back.file("sub/b.txt").read_bytes() == b"b"
    assert at(back, "sub/empty", MemoryDir).to_dict() == {}
    if kind != "zip":
        assert at(back, "sub/link", MemorySymlink).target == b"b.txt"
        assert back["hard"] is back["a.txt"]
    buffer = io.BytesIO()
    tree.to_archive(buffer, kind)
    assert MemoryDir.from_archive(buffer).to_dict().keys() == tree.to_dict().keys()


def test_archive_members_outside_the_tree_are_refused(tmp_path: Path) -> None:
    evil_tar = io.BytesIO()
    with tarfile.open(fileobj=evil_tar, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("../escape"), io.BytesIO(b""))
    evil_zip = io.BytesIO()
    with zipfile.ZipFile(evil_zip, "w") as archive:
        archive.writestr("/etc/passwd", b"")
    for evil in (evil_tar, evil_zip):
        with pytest.raises(ValueError, match="outside the tree"):
            MemoryDir.from_archive(evil)
    with pytest.raises(ValueError, match="cannot hold the symbolic link"):
        MemoryDir({"l": MemorySymlink("x")}).to_archive(tmp_path / "t.zip")


def test_sizes_holes_and_the_size_limit() -> None:
    node = MemoryFile(b"abc")
    file = OpenMemoryFile(node, 0, readable=True, writable=True)
    file.set_size(1 << 30)  # a gigabyte of zeros takes no memory until written
    assert node.size == 1 << 30 and node.stored_bytes == 3
    buf = bytearray(5)
    assert file.pread([memoryview(buf)], 1) == 5 and bytes(buf) == b"bc\0\0\0"
    assert file.pwrite([memoryview(b"z")], 10) == 1
    assert node.stored_bytes == 11
    file.set_size(12)
    assert node.read_bytes() == b"abc" + bytes(7) + b"z\0"
    file.set_size(2)
    file.allocate(4, 2)
    assert node.read_bytes() == b"ab\0\0\0\0"
    for too_big in (lambda: file.set_size(FILE_SIZE_MAX + 1),
                    lambda: file.pwrite([memoryview(b"x")], FILE_SIZE_MAX),
                    lambda: file.allocate(FILE_SIZE_MAX, 1)):
        with pytest.raises(WasiErrno) as error:
            too_big()
        assert error.value.errno == Errno.FBIG
    assert file.seek(-1, Whence.END) == 5
    with pytest.raises(WasiErrno):
        file.seek(-10, Whence.CUR)


CALLS = [
    ("rename", "dir", "dir/sub/x"),  # beneath itself: EINVAL
    ("rename", "dir", "file"),  # a directory over a file: ENOTDIR
    ("rename", "file", "dir"),  # a file over a directory: EISDIR
    ("rename", "dir", "empty"),  # over an empty directory: done
    ("rename", "file", "hard"),  # onto another link to itself: nothing happens
    ("rename", "link", "moved"),  # the link itself moves
    ("rename", ".", "x"),  # the preopen itself
    ("link", "dir", "x"),  # no hard links to directories: EPERM
    ("link", "missing", "file"),  # ENOENT before EEXIST
    ("link", "link", "x"),  # the symbolic link itself
    ("write", "dir", ""),  # opening a directory to write: EISDIR
]


def errno_tree(tmp_path: Path, backing: str) -> str | MemoryDir:
    if backing == "memory":
        tree = MemoryDir({"dir": {"sub": {}}, "file": b"f", "empty": {},
                          "link": MemorySymlink("file")})
        tree["hard"] = tree["file"]
        return tree
    root = tmp_path / backing
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "file").write_bytes(b"f")
    os.link(root / "file", root / "hard")
    (root / "link").symlink_to("file")
    return str(root)


def listing_of(tree: str | MemoryDir) -> object:
    if isinstance(tree, MemoryDir):
        return flatten_names(tree)
    return sorted(str(path.relative_to(tree)) for path in Path(tree).rglob("*"))


def flatten_names(tree: MemoryDir, prefix: str = "") -> list[str]:
    names = []
    for name, node in tree.items():
        names.append(prefix + name)
        if isinstance(node, MemoryDir):
            names += flatten_names(node, prefix + name + "/")
    return sorted(names)


@pytest.mark.parametrize("call", CALLS, ids="-".join)
def test_errno_and_result_match_a_host_directory(tmp_path: Path, call: tuple[str, ...]) -> None:
    """Beyond the conformance guests: corner cases of rename, link and open, memory against
    host, through wasi-libc."""
    outcomes = []
    for backing in ("host", "memory"):
        tree = errno_tree(tmp_path, backing)
        args = [call[0], *(f"/d/{path}".rstrip("/") for path in call[1:] if path)]
        outcomes.append((guest(args, {"/d": tree}).out, listing_of(tree)))
    assert outcomes[0] == outcomes[1]


def test_exclusive_creation_never_follows_a_last_symbolic_link() -> None:
    tree = MemoryDir({"dangling": MemorySymlink("target")})
    assert guest(["create", "/d/dangling"], {"/d": tree}).out == f"{Errno.EXIST}\n"
    assert sorted(tree) == ["dangling"]
    assert guest(["create", "/d/new"], {"/d": tree}).out == "0\n"
    assert guest(["create", "/d/new"], {"/d": tree}).out == f"{Errno.EXIST}\n"


def test_directory_wasi_files_of_ones_own_are_preopens() -> None:
    tree = MemoryDir({"in": {"a": b"own"}})
    run = guest(["copy", "/d/in/a", "/d/b"], {"/d": OpenMemoryDir(tree)})
    assert run.out == "PASS\n" and tree.file("b").read_bytes() == b"own"
    with pytest.raises(PreopenError, match="is not a directory"):
        WASI(version="preview1", preopens={"/f": Countdown()})


def test_a_full_quota_is_enospc_for_the_guest() -> None:
    node = MemoryFile(b"ab")
    file = OpenMemoryFile(node, 0, readable=True, writable=True, quota=TreeQuota(10))
    with pytest.raises(WasiErrno) as error:
        file.pwrite([memoryview(b"x" * 20)], 100)
    assert error.value.errno == Errno.NOSPC and node.size == 2


def test_save_never_writes_through_a_link_left_by_an_earlier_save(tmp_path: Path) -> None:
    """Issue 16 item 1: run 1 leaves l -> ../outside, run 2 makes l a directory."""
    (tmp_path / "outside").mkdir()
    MemoryDir({"l": MemorySymlink("../outside")}).save(tmp_path / "d")
    tree = MemoryDir.from_path(tmp_path / "d")
    del tree["l"]
    tree["l"] = {"pwned": b"x"}
    tree.save(tmp_path / "d")
    assert list((tmp_path / "outside").iterdir()) == []
    assert (tmp_path / "d" / "l" / "pwned").read_bytes() == b"x"
    assert not (tmp_path / "d" / "l").is_symlink()


def test_readdir_costs_what_it_lists() -> None:
    tree = MemoryDir({f"f{index}": b"" for index in range(5)})
    listed = list(OpenMemoryDir(tree).readdir(4))
    assert names(listed) == [b"f2", b"f3", b"f4"]
