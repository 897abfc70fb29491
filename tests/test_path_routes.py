"""Host path lookups by openat2: taken where it is safe, and left to the walk (whose answers
are the reference) wherever it could differ. The other path tests run on both routes
(conftest's `resolution`); these check the choice of route itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pywasi.abi.errno import WasiErrno
from pywasi.abi.types import Errno
from pywasi.sandbox import guard, resolver
from pywasi.sandbox.host import HostDir

pytestmark = pytest.mark.one_path  # no guest: the host-call paths do not matter here
needs_openat2 = pytest.mark.skipif(resolver.openat2 is None,
                                   reason="no openat2 on this kernel")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("inside")
    (tmp_path / "link").symlink_to("a")
    (tmp_path / "out").symlink_to("/")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def refused(*_: object) -> None:
    raise AssertionError("walked, though openat2 could resolve the path")


@pytest.fixture
def walking_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolver.HostTree, "enter", refused)


def read(root_fd: int, path: bytes) -> str:
    with resolver.resolve(root_fd, path, follow=True) as where:
        fd = os.open(where.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=where.dir)
    with os.fdopen(fd) as file:
        return file.read()


def errno_of(root_fd: int, path: bytes) -> int:
    with pytest.raises(WasiErrno) as raised:
        read(root_fd, path)
    return raised.value.errno


@needs_openat2
def test_directories_are_opened_by_the_kernel(root: int, walking_refused: None,
                                              resolution: str) -> None:
    if resolution == "walk":
        pytest.skip("the walk route never asks the kernel")
    assert read(root, b"a/b/f") == "inside"
    assert read(root, b"a/./b/../b//f") == "inside"


def test_a_link_on_the_way_is_walked_with_the_walks_rules(root: int) -> None:
    assert read(root, b"link/b/f") == "inside"
    assert errno_of(root, b"out/etc/passwd") == Errno.NOTCAPABLE  # not the kernel's EXDEV


def test_an_escape_is_the_walks_error(root: int) -> None:
    assert errno_of(root, b"a/../../x/f") == Errno.NOTCAPABLE
    assert errno_of(root, b"/a/b/f") == Errno.NOTCAPABLE


@needs_openat2
def test_beneath_a_protected_directory_every_lookup_walks(
        tmp_path: Path, root: int, walking_refused: None, monkeypatch: pytest.MonkeyPatch,
        resolution: str) -> None:
    """The guard must see each directory entered: the kernel would not show them."""
    if resolution == "walk":
        pytest.skip("the walk route always walks")
    # As guard.protect would, without protecting this directory for the rest of the process.
    monkeypatch.setattr(guard, "_protected", guard._entries_of(str(tmp_path / "a" / "b")))
    assert resolver.open_beneath(root, b"a/b/f", os.O_RDONLY) == -1
    with pytest.raises(AssertionError, match="walked"):
        read(root, b"a/b/f")


@needs_openat2
def test_a_file_is_opened_whole_by_the_kernel(root: int, walking_refused: None,
                                              resolution: str) -> None:
    if resolution == "walk":
        pytest.skip("the walk route never asks the kernel")
    for path in (b"a/b/f", b"a/./b/../b//f"):
        fd = resolver.open_beneath(root, path, os.O_RDONLY | os.O_NOFOLLOW)
        assert fd >= 0
        with os.fdopen(fd) as file:
            assert file.read() == "inside"


@pytest.mark.parametrize("flags", [os.O_RDONLY | os.O_NOFOLLOW, os.O_PATH],
                         ids=["nofollow", "path"])
@pytest.mark.parametrize("path", [b"link/b/f", b"link", b"out", b"out/etc/passwd", b"a/../../x",
                                  b"/a/b/f", b"a/b/.", b"a/b/..", b"a/b/", b"", b"a/missing"])
@needs_openat2
def test_the_kernel_opens_nothing_whose_answer_is_the_walks(root: int, path: bytes,
                                                            flags: int, resolution: str) -> None:
    """A link anywhere (the last name too, even with O_PATH), an escape, a last name the walk
    gives a meaning, an error: all are left to the walk."""
    if resolution == "walk":
        pytest.skip("the walk route never asks the kernel: -1 whatever the path")
    assert resolver.open_beneath(root, path, flags) == -1


@needs_openat2
def test_a_directory_protected_later_is_walked_beneath(
        tmp_path: Path, root: int, monkeypatch: pytest.MonkeyPatch, resolution: str) -> None:
    """A host directory keeps its identity for the kernel's lookups, not their verdict."""
    if resolution == "walk":
        pytest.skip("the walk route always walks")
    directory = HostDir(os.dup(root))
    try:
        assert directory.stat_at(b"a/b/f", True).size == len("inside")
        monkeypatch.setattr(guard, "_protected", guard._entries_of(str(tmp_path / "a" / "b")))
        monkeypatch.setattr(resolver.HostTree, "enter", refused)
        for lookup in (lambda: directory.stat_at(b"a/b/f", True),
                       lambda: directory.open_at(b"a/b/f", True, 0, 0, True, False)):
            with pytest.raises(AssertionError, match="walked"):
                lookup()
    finally:
        directory.close()
