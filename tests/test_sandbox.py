"""The sandbox: a hostile guest, the resolver against random trees (hypothesis), and the
resolver while another thread races to swap directories for links out of the preopen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guest import build_c, run_guest
from pywasi.abi.errno import WasiErrno
from pywasi.abi.types import Errno
from pywasi.sandbox import host, resolver
from pywasi.sandbox.host import HostDir
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
@pytest.mark.one_path
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
@pytest.mark.one_path
def test_resolver_errors(sandbox: tuple[Path, int], guest_path: str, errno: Errno) -> None:
    root, root_fd = sandbox
    (root / "a").mkdir()
    (root / "f").touch()
    (root / "up").symlink_to("..")
    (root / "loop").symlink_to("loop")
    with pytest.raises(WasiErrno) as raised, resolve(root_fd, guest_path.encode(), follow=True):
        pass
    assert raised.value.errno == errno


@pytest.mark.one_path
def test_resolver_returns_parent_and_last_name(sandbox: tuple[Path, int]) -> None:
    root, root_fd = sandbox
    (root / "a" / "b").mkdir(parents=True)
    (root / "ln").symlink_to("a/b")
    with resolve(root_fd, b"ln/../b/", follow=False) as where:
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a")
        assert (where.name, where.must_be_dir) == (b"b", True)
    with resolve(root_fd, b"ln/../b/.", follow=False) as where:  # "b" entered: itself
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a" / "b")
        assert (where.name, where.must_be_dir) == (b".", True)
    with resolve(root_fd, b"a/b/..", follow=False) as where:
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a")
        assert (where.name, where.must_be_dir) == (b".", True)
    with resolve(root_fd, b"ln", follow=False) as where:
        assert (where.dir, where.name) == (root_fd, b"ln")
    with resolve(root_fd, b"ln", follow=True) as where:
        assert os.path.realpath(f"/proc/self/fd/{where.dir}") == str(root / "a")
        assert where.name == b"b"


class Race:
    """Another process renaming `root/a` between every two file-system calls the resolver
    makes: before call number i, `a` becomes `schedule[i]` (one of `STATES`)."""

    # What `a` can be: a directory holding the inside `x`; a directory whose `x` is a link out
    # of the preopen; a relative and an absolute link to the outside directory; nothing.
    STATES = ("real", "trap", "rel", "abs", "gone")

    def __init__(self, root: Path, schedule: tuple[str, ...]) -> None:
        self.root = root
        self.schedule = schedule
        self.calls = 0
        self.become("real")

    def become(self, state: str) -> None:
        current = next((name for name in self.STATES
                        if name != "gone" and not (self.root / name).is_symlink()
                        and not (self.root / name).exists()), "gone")
        if current == state:
            return
        if current != "gone":
            os.rename(self.root / "a", self.root / current)
        if state != "gone":
            os.rename(self.root / state, self.root / "a")

    def step(self) -> None:
        if self.calls < len(self.schedule):
            self.become(self.schedule[self.calls])
        self.calls += 1


class RacedOs:
    """The `os` module as the resolver sees it, with the race's next rename before every
    call that looks a name up."""

    def __init__(self, race: Race) -> None:
        self._race = race

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def open(self, *args: Any, **kwargs: Any) -> int:
        self._race.step()
        return os.open(*args, **kwargs)

    def readlink(self, *args: Any, **kwargs: Any) -> Any:
        self._race.step()
        return os.readlink(*args, **kwargs)

    def stat(self, *args: Any, **kwargs: Any) -> os.stat_result:
        self._race.step()
        return os.stat(*args, **kwargs)


def read_through(directory: HostDir, path: bytes) -> str:
    """What a guest's open of `path` for reading (`HostDir.open_at` itself, route choice
    and all) gives: the file's text, or "refused"."""
    try:
        file = directory.open_at(path, True, 0, 0, True, False)
    except (WasiErrno, OSError):
        return "refused"
    try:
        host_fd = file.fileno()
        assert host_fd is not None
        return os.read(host_fd, 100).decode()
    except OSError:  # a directory
        return "refused"
    finally:
        file.close()


@pytest.mark.one_path
@pytest.mark.parametrize("guest_path", [b"a/x", b"a/../a/x", b"stay/../a/x"])
def test_host_side_races_cannot_make_a_path_escape(tmp_path: Path, guest_path: bytes,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every interleaving of renames with the resolver's calls, not a sample of them: each
    call and each rename is atomic, so a racing process can only ever produce one of these
    orders. `root/a` is swapped, between any two lookups, for a directory, links out of the
    preopen, a directory whose `x` leads out, or nothing; reading must only ever see the
    inside file, or fail."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    for directory in (root / "real", root / "trap", root / "stay", outside):
        directory.mkdir(parents=True)
    (root / "real" / "x").write_text("inside")
    (root / "trap" / "x").symlink_to("../../outside/x")
    (outside / "x").write_text("outside")
    (root / "rel").symlink_to("../outside")
    (root / "abs").symlink_to(outside)
    preopen = HostDir.open(str(root))
    seen: dict[tuple[str, ...], str] = {}
    kernel_lookup = resolver.openat2  # on the openat2 route: more raced calls

    def explore(schedule: tuple[str, ...]) -> None:
        race = Race(root, schedule)
        for module in (resolver, host):  # the walk's lookups, and the open after it
            monkeypatch.setattr(module, "os", RacedOs(race))
        if kernel_lookup is not None:
            def raced_lookup(dir_fd: int, path: bytes, flags: int, mode: int) -> int:
                race.step()
                return kernel_lookup(dir_fd, path, flags, mode)

            monkeypatch.setattr(resolver, "openat2", raced_lookup)
        outcome = read_through(preopen, guest_path)
        if race.calls <= len(schedule):  # every call had its state chosen: one interleaving
            seen[schedule] = outcome
            return
        assert len(schedule) < 12, "the resolver makes more calls than this path needs"
        for state in Race.STATES:
            explore((*schedule, state))

    try:
        explore(())
    finally:
        preopen.close()
    assert {outcome for outcome in seen.values()} == {"inside", "refused"}
    assert all(outcome == "inside" for schedule, outcome in seen.items()
               if set(schedule) == {"real"})
    assert len(seen) >= len(Race.STATES) ** 2  # renames raced at least two calls
