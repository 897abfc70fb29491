"""Issue 16's memory-tree items, as a hostile guest and a careful embedder would try them:
saves that never write outside their target (item 1), the cache's key never copied into a
tree (item 2), holes that cost no host memory and a bound on what trees store (item 4), and
readdir cookies that stay valid and cost what they list (item 5)."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import sys
import tarfile
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from random import Random
from typing import Any

import pytest

import pywasi
from guest import Run, build_c, run_guest
from pywasi import WASI, Errno, Limits, MemoryDir, MemoryFile, MemorySymlink, WasiErrno, errors
from pywasi.sandbox.memfs import CHUNK, TreeQuota
from pywasi.sandbox.memfs_open import OpenMemoryDir, OpenMemoryFile

GIB = 1 << 30


def ops(preopens: Mapping[str, object], *words: str, **wasi_options: Any) -> list[str]:
    """What tests/c/memtree_ops.c printed for `words`, one line per operation."""
    run: Run = run_guest(build_c("memtree_ops"), words, preopens=preopens, **wasi_options)
    assert run.exit_code == 0, run
    return run.out.splitlines()


def files_in(directory: Path) -> dict[str, bytes | None]:
    """Everything beneath `directory`, links not followed: path -> contents (None: not a file)."""
    found: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            relative = str(path.relative_to(directory))
            found[relative] = path.read_bytes() if path.is_file() and not path.is_symlink() \
                else None
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the save target, with one file a guest would like to overwrite."""
    place = tmp_path / "outside"
    place.mkdir()
    (place / "victim").write_bytes(b"the host's own")
    return place


# -- item 1: save writes nothing outside its target -----------------------------------------

def test_two_runs_cannot_make_save_write_through_a_link_the_first_left(
        tmp_path: Path, outside: Path) -> None:
    """Run 1 leaves l -> ../outside, saved; run 2 replaces l with a directory holding pwned
    and the tree is saved again: pwned lands in d/l, a real directory, and nothing outside
    changes."""
    target = tmp_path / "d"
    first = MemoryDir()
    assert ops({"/d": first}, "symlink", "../outside", "/d/l") == ["0"]
    first.save(target)
    assert os.readlink(target / "l") == "../outside"
    second = MemoryDir.from_path(target)
    assert ops({"/d": second}, "unlink", "/d/l", "mkdir", "/d/l",
               "put", "/d/l/pwned", "x") == ["0", "0", "0"]
    second.save(target)
    assert files_in(outside) == {"victim": b"the host's own"}
    assert not (target / "l").is_symlink()
    assert (target / "l" / "pwned").read_bytes() == b"x"


def test_two_runs_cannot_make_save_overwrite_a_host_file_through_a_link(
        tmp_path: Path, outside: Path) -> None:
    target = tmp_path / "d"
    first = MemoryDir()
    assert ops({"/d": first}, "symlink", "../outside/victim", "/d/l") == ["0"]
    first.save(target)
    second = MemoryDir.from_path(target)
    assert ops({"/d": second}, "unlink", "/d/l", "put", "/d/l", "pwned") == ["0", "0"]
    second.save(target)
    assert files_in(outside) == {"victim": b"the host's own"}
    assert (target / "l").read_bytes() == b"pwned" and not (target / "l").is_symlink()


def test_save_replaces_whatever_the_target_holds_in_the_way(
        tmp_path: Path, outside: Path) -> None:
    """The target pre-seeded by someone else: links where the tree has a directory, a file
    or a deeper path, a hard link to a host file, a directory where the tree has a file and a
    file where it has a directory. Each is replaced, never followed or written through."""
    target = tmp_path / "d"
    target.mkdir()
    (target / "sub").symlink_to("../outside")
    (target / "file").symlink_to("../outside/victim")
    (target / "deep").symlink_to(outside)  # absolute
    os.link(outside / "victim", target / "hard")
    (target / "was_dir").mkdir()
    (target / "was_dir" / "inner").symlink_to("../../outside/victim")
    (target / "was_file").write_bytes(b"old")
    (target / "kept").write_bytes(b"not in the tree: left alone")
    tree = MemoryDir({"sub": {"pwned": b"1"}, "file": b"2", "deep": {"a": {"b": b"3"}},
                      "hard": b"4", "was_dir": b"5", "was_file": {"x": b"6"},
                      "link": MemorySymlink("../outside")})
    tree.save(target)
    assert files_in(outside) == {"victim": b"the host's own"}
    assert files_in(target) == {
        "sub": None, "sub/pwned": b"1", "file": b"2", "deep": None, "deep/a": None,
        "deep/a/b": b"3", "hard": b"4", "was_dir": b"5", "was_file": None,
        "was_file/x": b"6", "link": None, "kept": b"not in the tree: left alone"}
    assert os.readlink(target / "link") == "../outside"  # the tree's own link, as it is
    tree.save(target)  # and again over its own copy, with the link now in the way of nothing
    assert files_in(outside) == {"victim": b"the host's own"}


def test_a_target_changed_during_the_save_is_refused_with_nothing_written_outside(
        tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone swaps the directory save has just made for a link to outside: the save stops
    with SaveRefusedError, and nothing lands outside."""
    real_mkdir = os.mkdir

    def racing_mkdir(path: str | bytes, *args: object, **kwargs: object) -> None:
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.fsencode(path).endswith(b"sub"):
            os.rmdir(path, dir_fd=kwargs.get("dir_fd"))  # type: ignore[arg-type]
            os.symlink(str(outside), path, dir_fd=kwargs.get("dir_fd"))  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    with pytest.raises(errors.SaveRefusedError, match="changed while being written"):
        MemoryDir({"sub": {"pwned": b"x"}}).save(tmp_path / "d")
    assert files_in(outside) == {"victim": b"the host's own"}


def tar_of(*members: tuple[str, str, str]) -> io.BytesIO:
    """A tar archive of (name, kind, link target or contents) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data, info.size = io.BytesIO(value.encode()), len(value)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = value
            archive.addfile(info, data)
    buffer.seek(0)
    return buffer


def zip_of(*names: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"pwned")
    buffer.seek(0)
    return buffer


HOSTILE_ARCHIVES: dict[str, Callable[[], io.BytesIO]] = {
    "tar-dotdot": lambda: tar_of(("../escape", "file", "x")),
    "tar-a-dotdot-dotdot": lambda: tar_of(("a/../../escape", "file", "x")),
    "tar-absolute": lambda: tar_of(("/tmp/escape", "file", "x")),
    "tar-link-out-by-dotdot": lambda: tar_of(("a/l", "symlink", "../../outside")),
    "tar-link-absolute": lambda: tar_of(("l", "symlink", "/etc")),
    # Named as `tar -C dir .` names members: "./l" lies in the root, not beneath a directory.
    "tar-link-out-from-dot-slash": lambda: tar_of(("./l", "symlink", "../outside")),
    "tar-link-out-from-a-double-slash": lambda: tar_of(("a//l", "symlink", "../../outside")),
    "tar-member-beneath-a-link": lambda: tar_of(("l", "symlink", "sub"),
                                                ("l/pwned", "file", "x")),
    "tar-member-beneath-a-file": lambda: tar_of(("f", "file", "x"), ("f/pwned", "file", "x")),
    "tar-hard-link-to-outside": lambda: tar_of(("h", "hardlink", "../outside/victim")),
    "zip-dotdot": lambda: zip_of("../escape"),
    "zip-absolute": lambda: zip_of("/tmp/escape"),
    "zip-a-dotdot-dotdot": lambda: zip_of("a/../../escape"),
}


@pytest.mark.one_path
@pytest.mark.parametrize("kind", HOSTILE_ARCHIVES)
def test_hostile_archives_are_refused(kind: str, tmp_path: Path, outside: Path) -> None:
    with pytest.raises(ValueError, match="outside the tree|not a directory|missing member"):
        MemoryDir.from_archive(HOSTILE_ARCHIVES[kind]())
    assert files_in(outside) == {"victim": b"the host's own"}


@pytest.mark.one_path
def test_an_archive_with_links_inside_saves_inside(tmp_path: Path, outside: Path) -> None:
    tree = MemoryDir.from_archive(tar_of(("sub", "dir", ""), ("sub/f", "file", "x"),
                                         ("sub/up", "symlink", "../sub/f"),
                                         ("./sub/same", "symlink", "./../sub/f"),
                                         ("h", "hardlink", "sub/f")))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "sub").symlink_to(outside)  # left there by someone
    tree.save(tmp_path / "d")
    assert files_in(outside) == {"victim": b"the host's own"}
    assert os.readlink(tmp_path / "d" / "sub" / "up") == "../sub/f"
    assert (tmp_path / "d" / "h").stat().st_ino == (tmp_path / "d" / "sub" / "f").stat().st_ino


# -- item 2: from_path leaves the compiled-module cache out ----------------------------------

def test_from_path_of_home_leaves_the_cache_and_its_key_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    (home / "work" / "notes").write_bytes(b"mine")
    cache = home / ".cache" / "pywasi"
    monkeypatch.setenv("PYWASI_CACHE_DIR", str(cache))
    wasi = WASI(version="preview1")
    wasi.start(pywasi.instantiate(wasi, b"(module (memory (export \"memory\") 1) "
                                        b"(func (export \"_start\")))"))
    assert (cache / "key").stat().st_size == 32  # a real cache, key and all
    (home / "to-cache").symlink_to(".cache/pywasi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = MemoryDir.from_path(home)
    left_out = [w for w in caught if "compiled-module cache" in str(w.message)]
    assert len(left_out) == 1, [str(w.message) for w in caught]
    assert tree.file("work/notes").read_bytes() == b"mine"
    cached = tree[".cache"]
    assert isinstance(cached, MemoryDir) and list(cached) == []
    # Nor can a guest reach it, by its path or by the link beside it.
    assert ops({"/home": tree}, "pread", "/home/.cache/pywasi/key", "0", "64",
               "pread", "/home/to-cache/key", "0", "64") == [str(Errno.NOENT)] * 2


# -- item 4: holes cost nothing; the trees' stored bytes are bounded --------------------------

# (what the guest does, what it prints, the file's size after)
SPARSE = {
    "pwrite-1-byte-at-1GiB-2": (
        ("pwrite", "/d/f", str(GIB - 2), "z", "pread", "/d/f", str(GIB - 6), "8"),
        ["0", "5 000000007a"], GIB - 1),
    "allocate-1GiB": (
        ("allocate", "/d/f", "0", str(GIB), "pread", "/d/f", str(GIB // 2), "4"),
        ["0", "4 00000000"], GIB),
    "set_size-1GiB-write-at-512MiB": (
        ("truncate", "/d/f", str(GIB), "pwrite", "/d/f", str(GIB // 2), "z",
         "pread", "/d/f", str(GIB // 2 - 2), "4", "pread", "/d/f", str(GIB - 4), "8"),
        ["0", "0", "4 00007a00", "4 00000000"], GIB),
    "offsets-at-4GiB": (
        ("pwrite", "/d/f", str(4 * GIB - 1), "z", "pread", "/d/f", str(4 * GIB - 3), "4",
         "pwrite", "/d/f", str(4 * GIB), "z", "truncate", "/d/f", str(4 * GIB + 1)),
        ["0", "3 00007a", str(Errno.FBIG), str(Errno.FBIG)], 4 * GIB),
}


@pytest.fixture
def python_allocations() -> Iterator[Callable[[], int]]:
    """The most the host's Python allocated at once (tracemalloc's peak), while the test ran."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("case", SPARSE)
def test_holes_cost_the_host_nothing_and_read_as_zeros(
        case: str, python_allocations: Callable[[], int]) -> None:
    words, printed, size = SPARSE[case]
    tree = MemoryDir()
    assert ops({"/d": tree}, *words) == printed
    assert python_allocations() < 32 << 20  # the gigabytes were never allocated
    node = tree.file("f")
    assert node.size == size
    assert node.stored_bytes <= 2 * (1 << 16)  # at most the two pieces written (or none)


def test_trees_store_at_most_max_memory_tree_bytes() -> None:
    """One bound over all of a guest's trees: a write past it is ENOSPC (after a short
    write), and what the guest removes is given back."""
    limits = Limits(max_memory_tree_bytes=1 << 20)
    trees = {"/a": MemoryDir(), "/b": MemoryDir()}
    printed = ops(trees, "fill", "/a/f", str(700_000), "fill", "/b/g", str(700_000),
                  "unlink", "/a/f", "fill", "/b/h", str(600_000), limits=limits)
    assert printed[0] == "700000 0"
    written, errno = map(int, printed[1].split())
    assert errno == Errno.NOSPC and 300_000 < written <= (1 << 20) - 700_000
    assert printed[2:] == ["0", "600000 0"]  # /a/f's bytes were given back
    unbounded = MemoryDir()
    assert ops({"/d": unbounded}, "fill", "/d/f", str(3 << 20),
               limits=Limits(max_memory_tree_bytes=None)) == [f"{3 << 20} 0"]


def held_until_full(step: Callable[[int], object], most: int) -> tuple[int, int]:
    """(how many `step(n)` calls worked before ENOSPC, the Python memory they hold)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        done = 0
        with contextlib.suppress(WasiErrno):
            for done in range(most):
                step(done)
            done = most
        return done, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.one_path
def test_scattered_one_byte_writes_cannot_hold_the_host_past_the_bound() -> None:
    """A byte at the start of every piece of a 4 GiB file charges one byte each, but each
    piece costs the host a hundred times that in Python objects: the charge must cover it."""
    bound, most = 1 << 20, 4 * GIB // CHUNK
    file = OpenMemoryFile(MemoryFile(), 0, readable=True, writable=True,
                          quota=TreeQuota(bound))
    pieces, held = held_until_full(
        lambda index: file.pwrite([memoryview(b"x")], index * CHUNK), most)
    assert 0 < pieces < most  # the bound, not the file size, stopped it
    assert held <= bound, (pieces, held)


@pytest.mark.one_path
def test_empty_directories_cannot_hold_the_host_past_the_bound() -> None:
    bound, most = 1 << 20, 100_000
    directory = OpenMemoryDir(MemoryDir(), quota=TreeQuota(bound))
    made, held = held_until_full(lambda index: directory.mkdir_at(b"d%d" % index), most)
    assert 0 < made < most
    assert held <= bound, (made, held)


@pytest.mark.one_path
def test_the_tree_bound_by_default() -> None:
    assert Limits().max_memory_tree_bytes == GIB
    with pytest.raises(pywasi.InvalidArgValueError, match="max_memory_tree_bytes"):
        Limits(max_memory_tree_bytes=-1)


# -- item 5: readdir cookies, and what a call costs -----------------------------------------

@pytest.mark.one_path
def test_entries_present_throughout_a_listing_are_listed_once_whatever_changes() -> None:
    """POSIX: an entry added or removed during a listing may or may not be listed; every
    other entry is listed exactly once, and nothing twice unless it was removed (and made
    again) in between. Entries are read one at a time by cookie, as a guest with a small
    buffer does, while names come and go, and come back (enough to compact the directory's
    cookie lists more than once mid-listing)."""
    random = Random(16)
    stable = [f"s{index}".encode() for index in range(300)]
    random.shuffle(stable)  # added in no order of their names
    tree = MemoryDir({name.decode(): b"" for name in stable})
    directory = OpenMemoryDir(tree)
    pool = [f"t{index}".encode() for index in range(60)]
    present: list[bytes] = []
    removed_when: dict[bytes, list[int]] = {}  # name -> how many were listed at each removal
    seen: list[bytes] = []
    cookie = 0
    while len(seen) < 100 * len(stable):  # a listing that never ends fails, not hangs
        entry = next(iter(directory.readdir(cookie)), None)
        if entry is None:
            break
        seen.append(entry.name)
        cookie = entry.next
        for _ in range(random.randrange(10)):
            if present and (random.random() < 0.5 or len(present) == len(pool)):
                name = present.pop(random.randrange(len(present)))
                del tree[name.decode()]
                removed_when.setdefault(name, []).append(len(seen))
            else:
                name = random.choice([name for name in pool if name not in present])
                present.append(name)
                tree[name.decode()] = b""
    assert sorted(name for name in seen if name in set(stable)) == sorted(stable)  # once each
    for name in set(seen):
        places = [index for index, listed in enumerate(seen) if listed == name]
        for earlier, later in itertools.pairwise(places):
            assert any(earlier < when <= later for when in removed_when.get(name, ())), name
    removals = sum(map(len, removed_when.values()))
    assert removals > 2 * len(tree)  # so the cookie lists were compacted, more than once


def lines_run(call: Callable[[], object]) -> int:
    """How many lines of Python `call` executed: the work it did, whatever the clock says."""
    count = 0

    def tracer(frame: object, event: str, arg: object) -> Callable[..., object]:
        nonlocal count
        count += event == "line"
        return tracer

    sys.settrace(tracer)  # type: ignore[arg-type]
    try:
        call()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.one_path
def test_a_readdir_call_costs_what_it_lists_not_what_came_before() -> None:
    def one_entry_near_the_end(size: int) -> int:
        directory = OpenMemoryDir(MemoryDir({f"f{index}": b"" for index in range(size)}))
        cookie = next(entry.next for entry in directory.readdir(size - 5))
        return lines_run(lambda: next(iter(directory.readdir(cookie))))

    small, large = one_entry_near_the_end(20), one_entry_near_the_end(20_000)
    assert large <= small + 5, (small, large)
