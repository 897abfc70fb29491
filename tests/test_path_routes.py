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

pytestmark = pytest.mark.one_path  # no guest: the host-call paths do not matter here
needs_openat2 = pytest.mark.skipif(resolver.open_directory is None,
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


@pytest.fixture
def walking_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object) -> None:
        raise AssertionError("walked, though openat2 could resolve the path")

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
    with pytest.raises(AssertionError, match="walked"):
        read(root, b"a/b/f")
