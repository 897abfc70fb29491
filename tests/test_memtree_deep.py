"""Memory trees a guest nests deeper than Python's recursion limit or the host's descriptor
limit: everything that shows, copies, saves or carries a tree still works (issue 16, from
the deep-tree review); and `from_path` refuses a file swapped for another kind mid-copy."""

from __future__ import annotations

import copy
import errno
import io
import os
import pickle
import resource
import subprocess
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import pywasi
from guest import build_c, run_guest
from pywasi import MemoryDir, MemoryFile
from pywasi.batch import check_travel, run_job
from pywasi.sandbox.dirstack import DIRECTORY, KEEP_OPEN, DirectoryStack

DEPTH = 5000  # far past Python's recursion limit (1000), and past 1024 descriptors
SHOWN = "{'d': " * DEPTH + "{'end': b'bottom'" + "}" * (DEPTH + 1)
"""The repr of the guest's tree as a dict: d/d/.../d/end, holding b"bottom"."""


def nest(tree: MemoryDir, depth: int = DEPTH) -> None:
    """Have the guest nest `depth` directories in `tree` (or go into those there)."""
    run = run_guest(build_c("deep_dirs"), ["/out", str(depth)], preopens={"/out": tree})
    assert (run.exit_code, run.out) == (0, f"{depth} 0\n")


@pytest.fixture(scope="module")
def deep() -> MemoryDir:
    """The guest's tree, DEPTH deep (no test changes it)."""
    tree = MemoryDir()
    nest(tree)
    return tree


def bottom(tree: Mapping[str, Any]) -> Any:
    for _ in range(DEPTH):
        tree = tree["d"]
    return tree


@pytest.mark.one_path
def test_a_deep_tree_is_shown_and_exported(deep: MemoryDir) -> None:
    assert repr(deep) == f"MemoryDir({SHOWN})"
    assert bottom(deep.to_dict()) == {"end": b"bottom"}


@pytest.fixture
def few_descriptors() -> Iterator[None]:
    """This process may open only KEEP_OPEN + 40 more descriptors than it has open: one
    held per level of a deep tree would run out long before its bottom."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (len(os.listdir("/proc/self/fd")) + KEEP_OPEN + 40, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def host_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for a deep save, removed after the test by rm (pytest's own clean-up of
    old temporary directories is shutil.rmtree, which recurses)."""
    place = tmp_path / "saved"
    yield place
    subprocess.run(["rm", "-rf", str(place)], check=True)


@pytest.mark.one_path
def test_save_and_from_path_take_any_depth_with_few_descriptors(
        deep: MemoryDir, host_dir: Path, few_descriptors: None) -> None:
    deep.save(host_dir)
    assert repr(MemoryDir.from_path(host_dir)) == f"MemoryDir({SHOWN})"
    deep.save(host_dir)  # again, over what the first save made
    assert repr(MemoryDir.from_path(host_dir)) == f"MemoryDir({SHOWN})"
    MemoryDir({"d": b"a file now"}).save(host_dir)  # the deep host directory replaced
    assert MemoryDir.from_path(host_dir).to_dict() == {"d": b"a file now"}


@pytest.mark.one_path
@pytest.mark.parametrize("kind", ["save", "from_path"])
def test_a_deep_walk_allocates_what_the_depth_takes_not_its_square(
        deep: MemoryDir, host_dir: Path, kind: str) -> None:
    """A path of names kept for each of 5000 levels would be 12.5 million names (100 MB as
    tuples): the walk allocates far less (from_path: the tree it makes, ~7 MB)."""
    if kind == "from_path":
        deep.save(host_dir)
    tracemalloc.start()
    try:
        if kind == "save":
            deep.save(host_dir)
        else:
            MemoryDir.from_path(host_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


@pytest.mark.one_path
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archives_take_any_depth(deep: MemoryDir, kind: str) -> None:
    archive = io.BytesIO()
    deep.to_archive(archive, kind)
    archive.seek(0)
    assert repr(MemoryDir.from_archive(archive)) == f"MemoryDir({SHOWN})"


@pytest.mark.one_path
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_copies_take_any_depth(deep: MemoryDir, how: str) -> None:
    copied = pickle.loads(pickle.dumps(deep)) if how == "pickle" else copy.deepcopy(deep)
    assert repr(copied) == f"MemoryDir({SHOWN})"
    assert copied.parent is None
    end = bottom(copied)["end"]
    assert isinstance(end, MemoryFile) and end is not bottom(deep)["end"]
    directory, levels = bottom(copied), 0
    while directory.parent is not None:  # each directory's parent is the copy's own
        directory, levels = directory.parent, levels + 1
    assert directory is copied and levels == DEPTH


@pytest.mark.one_path
def test_equality_and_construction_take_any_depth() -> None:
    nested: dict[str, Any] = {}
    inner = nested
    for _ in range(DEPTH):
        inner["d"] = inner = {}
    one, two = MemoryDir(nested), MemoryDir(nested)
    assert one == two and one == nested
    bottom(two)["x"] = {}
    assert one != two and two != nested


def test_a_batch_result_and_its_next_job_take_any_depth() -> None:
    wasm = build_c("deep_dirs")
    result = run_job(pywasi.Job(wasm, args=["guest", "/out", str(DEPTH)], files={"/out": {}}))
    assert result.ok, result.stdout
    assert bottom(result.files["/out"]) == {"end": b"bottom"}
    assert f"files={{'/out': {SHOWN}}}" in repr(result)
    assert pickle.loads(pickle.dumps(result)) == result  # as a process pool sends it back
    output = result.files["/out"]
    for files in (output, MemoryDir(output)):  # a dict, and a tree the worker copies (pickle)
        job = pywasi.Job(wasm, args=["guest", "/out", str(DEPTH)], files={"/out": files})
        check_travel(job)  # as run_batch checks every job
        for again in (run_job(job), run_job(pickle.loads(pickle.dumps(job)))):
            assert again.ok and again.stdout == f"{DEPTH} 0\n".encode()


# -- the descriptors of a deep walk ---------------------------------------------------------

@pytest.mark.one_path
def test_a_walk_coming_back_up_refuses_a_directory_moved_elsewhere(tmp_path: Path) -> None:
    """With one level held, a walk down r/a/b/c reopens b and a as `..` of what it holds on
    the way back: a moved beside r meanwhile, `..` of b is no longer a, and it stops."""
    (tmp_path / "r/a/b/c").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    root = os.open(tmp_path / "r", DIRECTORY)
    levels = DirectoryStack(root, keep=1)
    try:
        for name in ("a", "b", "c"):
            levels.push(os.open(name, DIRECTORY, dir_fd=levels.top))
        os.rename(tmp_path / "r/a/b", tmp_path / "elsewhere/b")
        levels.pop()  # back in b: the very directory, moved with c
        with pytest.raises(OSError) as refused:
            levels.pop()  # .. of b is now "elsewhere", not a
        assert refused.value.errno == errno.ESTALE
    finally:
        levels.close()
        os.close(root)


# -- from_path and files swapped mid-copy ---------------------------------------------------

@pytest.mark.one_path
def test_from_path_refuses_a_fifo_it_finds(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match="'pipe' is neither a file, a directory nor"):
        MemoryDir.from_path(tmp_path)


@pytest.mark.one_path
def test_from_path_refuses_a_fifo_swapped_in_after_it_looked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lstat sees a regular file; before the open, someone puts a FIFO in its place. The
    FIFO opens (non-blocking), and must not be copied as an empty file."""
    (tmp_path / "victim").write_bytes(b"a file")
    real_open = os.open

    def swapping_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if path == "victim":
            os.unlink("victim", dir_fd=kwargs["dir_fd"])
            os.mkfifo("victim", dir_fd=kwargs["dir_fd"])
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swapping_open)
    with pytest.raises(ValueError, match="'victim' changed while being copied .*a FIFO"):
        MemoryDir.from_path(tmp_path)
