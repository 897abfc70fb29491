"""The sandbox: a hostile guest, the resolver against random trees (hypothesis), and the
resolver while another thread races to swap directories for links out of the preopen."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guest import build_c, run_guest
from pywasi.abi.errno import WasiErrno
from pywasi.abi.types import Errno
from pywasi.sandbox.resolver import resolve

SECRET = b"the secret outside the preopen\n"


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    """Everything outside the preopen that a guest must not touch: names, times, contents.
    (Read before stat: our own read may move atime once, under relatime.)"""
    found = {}
    for path in directory.iterdir():
        if path.name != "root":
            content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            st = path.lstat()
            found[path.name] = (st.st_mtime_ns, st.st_ctime_ns, content)
    return found


def test_hostile_guest_cannot_leave_the_preopen(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "file").write_text("inside\n")
    links = {
        "sub/back": "..", "inside": "sub", "up": "..", "etc": "/etc",
        "secretlink": "../secret.txt", "deep": "sub/../../secret.txt",
        "loop1": "loop2", "loop2": "loop1", "self": "self",
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    os.utime(secret, ns=(1_000_000_001, 2_000_000_002))
    before = snapshot(tmp_path)

    run = run_guest(build_c("hostile"), preopens={"/sandbox": str(root)})

    assert run.exit_code == 0, run.out
    assert run.out.endswith("PASS\n")
    assert "secret" not in run.out
    # Only the four opens that stay inside succeeded, and they read the inside file.
    assert run.out.count("opened ") == 4
    assert run.out.count(": inside\n") == 4
    assert snapshot(tmp_path) == before
    assert secret.read_bytes() == SECRET
    assert not (root / "hardlink").exists() and not (root / "stolen").exists()


# -- the resolver against random trees --------------------------------------------------------

NAMES = ["a", "b", "c", "..", "."]
LINK_TARGETS = st.lists(st.sampled_from(NAMES + ["", "/", "/etc", "/tmp"]), min_size=1,
                        max_size=5).map("/".join)
GUEST_PATHS = st.lists(st.sampled_from(NAMES + ["", "x"]), min_size=1, max_size=8).map("/".join)

TREE = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join),
        st.sampled_from(["dir", "file", "link"]),
        LINK_TARGETS,
    ),
    max_size=12,
)


def build_tree(root: Path, entries: list[tuple[str, str, str]]) -> None:
    """Create what can be created of `entries`; one below a link or a file is skipped, so
    the builder itself never follows a link out of the tree."""
    for relative, kind, target in entries:
        path = root / relative
        ancestors = [root / Path(*path.relative_to(root).parts[:depth])
                     for depth in range(1, len(path.relative_to(root).parts))]
        if any(a.is_symlink() or (a.exists() and not a.is_dir()) for a in ancestors):
            continue
        if path.is_symlink() or path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_text("inside")
        else:
            path.symlink_to(target or ".")


def inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    root = tmp_path / "p" / "root"
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield root, fd
    os.close(fd)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREE, guest_path=GUEST_PATHS, follow=st.booleans())
def test_resolver_never_leaves_the_root(sandbox: tuple[Path, int],
                                        tree: list[tuple[str, str, str]], guest_path: str,
                                        follow: bool) -> None:
    root, root_fd = sandbox
    for child in root.iterdir():  # a fresh tree per example
        _remove(child)
    build_tree(root, tree)
    real_root = os.path.realpath(root)
    fds_before = set(os.listdir("/proc/self/fd"))
    try:
        with resolve(root_fd, guest_path.encode(), follow=follow) as where:
            parent = os.path.realpath(f"/proc/self/fd/{where.dir}")
            assert inside(parent, real_root)
            assert b"/" not in where.name and where.name != b".."
            final = os.path.join(parent, os.fsdecode(where.name))
            if os.path.islink(final):
                # A last link is handed back only when not following (no trailing slash).
                assert not follow and not where.must_be_dir
            elif os.path.exists(final):
                assert inside(os.path.realpath(final), real_root)
    except WasiErrno as error:
        assert error.errno in (Errno.NOTCAPABLE, Errno.LOOP, Errno.NOENT, Errno.NOTDIR)
    except (FileNotFoundError, NotADirectoryError):
        pass
    assert set(os.listdir("/proc/self/fd")) == fds_before  # every step's descriptor closed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)
        path.rmdir()
    else:
        path.unlink()


@pytest.mark.parametrize(("guest_path", "errno"), [
    ("a/../..", Errno.NOTCAPABLE), ("/a", Errno.NOTCAPABLE), ("", Errno.NOENT),
    ("up/x", Errno.NOTCAPABLE), ("loop", Errno.LOOP), ("f/", Errno.NOTDIR),
])
def test_resolver_errors(sandbox: tuple[Path, int], guest_path: str, errno: Errno) -> None:
    root, root_fd = sandbox
    (root / "a").mkdir()
    (root / "f").touch()
    (root / "up").symlink_to("..")
    (root / "loop").symlink_to("loop")
    with pytest.raises(WasiErrno) as raised, resolve(root_fd, guest_path.encode(), follow=True):
        pass
    assert raised.value.errno == errno


def test_resolver_returns_parent_and_last_name(sandbox: tuple[Path, int]) -> None:
    root, root_fd = sandbox
    (root / "a" / "b").mkdir(parents=True)
    (root / "ln").symlink_to("a/b")
    with resolve(root_fd, b"ln/../b/.", follow=False) as where:
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a")
        assert (where.name, where.must_be_dir) == (b"b", True)
    with resolve(root_fd, b"a/b/..", follow=False) as where:
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a")
        assert (where.name, where.must_be_dir) == (b".", True)
    with resolve(root_fd, b"ln", follow=False) as where:
        assert (where.dir, where.name) == (root_fd, b"ln")
    with resolve(root_fd, b"ln", follow=True) as where:
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a")
        assert where.name == b"b"


def test_host_side_races_cannot_make_a_path_escape(tmp_path: Path) -> None:
    """Another thread keeps swapping `root/a` between a real directory and links out of the
    preopen; reading `a/x` must only ever see the inside file, or fail."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    (root / "real" / "x").write_text("inside")
    outside.mkdir()
    (outside / "x").write_text("outside")
    (root / "rel").symlink_to("../outside")
    (root / "abs").symlink_to(outside)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            for name in ("real", "rel", "abs"):
                os.rename(root / name, root / "a")
                os.rename(root / "a", root / name)

    thread = threading.Thread(target=swapper)
    thread.start()
    seen: set[str] = set()
    try:
        for _ in range(3000):
            try:
                with resolve(root_fd, b"a/x", follow=True) as where:
                    fd = os.open(where.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=where.dir)
                    seen.add(os.read(fd, 100).decode())
                    os.close(fd)
            except (WasiErrno, OSError):
                seen.add("refused")
    finally:
        stop.set()
        thread.join()
        os.close(root_fd)
    assert "outside" not in seen
    assert "inside" in seen
