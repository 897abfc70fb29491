"""A trailing slash on a path, a symbolic link's above all, in every path call: the errno and
what the call did, through a C guest (tests/c/trailing_slash.c) on a host directory (on both
lookup routes) and on a `MemoryDir`, against what this host's kernel answers for the same
call on a real directory. A slash after a link asks for a directory: lookups (open, stat,
readlink, the source of a hard link) follow the link to one; calls on the entry itself
(rmdir, unlink, rename, mkdir, the new name of a link) never do, so ``rmdir("l/")`` must
not remove what ``l`` points to (the shape of wasmtime's GHSA-vqjp-4c8c-hfgg)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from guest import build_c, run_guest
from pywasi import MemoryDir
from pywasi.abi.errno import HOST_TO_WASI
from pywasi.abi.types import Errno

NAMES = ("dir", "file", "ld", "lf", "ln", "nothere", "x", "t")
PATHS = ("ld/", "lf/", "ln/", "ld//", "dir/", "file/", "nothere/", "ld/.", "dir/.")
_TYPES = {0o040000: 3, 0o100000: 4, 0o120000: 7}

# Each guest operation as the host system call it stands for; `p` is the case's path, `at`
# its directory (holding the names "dir", "file" and the new name "x").
Op = Callable[[str, str], object]
OPS: dict[str, Op] = {
    "rmdir": lambda p, at: os.rmdir(p),
    "unlink": lambda p, at: os.unlink(p),
    "mkdir": lambda p, at: os.mkdir(p),
    "rename_from": lambda p, at: os.rename(p, f"{at}/x"),
    "rename_dir_to": lambda p, at: os.rename(f"{at}/dir", p),
    "rename_file_to": lambda p, at: os.rename(f"{at}/file", p),
    "link_from": lambda p, at: os.link(p, f"{at}/x", follow_symlinks=False),
    "link_to": lambda p, at: os.link(f"{at}/file", p, follow_symlinks=False),
    "symlink": lambda p, at: os.symlink("t", p),
    "readlink": lambda p, at: os.readlink(p),
    "stat": lambda p, at: os.lstat(p),
    "stat_follow": lambda p, at: os.stat(p),
    "utimes": lambda p, at: os.utime(p, follow_symlinks=False),
    "open": lambda p, at: os.close(os.open(p, os.O_RDONLY | os.O_NOFOLLOW)),
    "open_follow": lambda p, at: os.close(os.open(p, os.O_RDONLY)),
    "open_directory": lambda p, at: os.close(
        os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)),
    "open_create": lambda p, at: os.close(os.open(p, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW)),
}
CASES = [f"{op} {path}" for op in OPS for path in PATHS]
# Where WASI's conformance tests overrule the kernel: wasi-testsuite's
# path_symlink_trailing_slashes wants ENOTDIR for a new link's name "file/" (Linux: EEXIST),
# and pywasi answers so for every non-directory there, a symbolic link included.
NOT_LINUX = {f"{op} {path}": int(Errno.NOTDIR) for op in ("link_to", "symlink")
             for path in ("ld/", "lf/", "ln/", "ld//", "file/")}


def _fixture(at: Path) -> None:
    (at / "dir").mkdir(parents=True)
    (at / "file").touch()
    for target, name in (("dir", "ld"), ("file", "lf"), ("nothere", "ln")):
        (at / name).symlink_to(target)


def _kernel_row(root: Path, number: int, case: str) -> str:
    """The guest's output line for `case`, as the host kernel answers the same call."""
    op, path = case.split(" ")
    at = root / f"c{number}"
    _fixture(at)
    try:
        OPS[op](f"{at}/{path}", str(at))
        result = 0
    except OSError as error:
        result = HOST_TO_WASI[error.errno or 0]
    result = NOT_LINUX.get(case, result)
    row = [f"{number} {int(result)}"]
    for name in NAMES:
        try:
            row.append(f"{name}:{_TYPES[os.lstat(at / name).st_mode & 0o170000]}")
        except FileNotFoundError:
            row.append(f"{name}:-{int(HOST_TO_WASI[errno.ENOENT])}")
    return " ".join(row)


@pytest.mark.parametrize("backing", ["host", "memory"])
def test_trailing_slash_as_linux(tmp_path: Path, backing: str) -> None:
    kernel = tmp_path / "kernel"
    expected = [_kernel_row(kernel, number, case) for number, case in enumerate(CASES, 1)]
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    preopen: str | MemoryDir = str(sandbox) if backing == "host" else MemoryDir()
    run = run_guest(build_c("trailing_slash"), CASES, preopens={"/sandbox": preopen})
    assert run.exit_code == 0, run.out
    got = run.out.removesuffix("PASS\n").splitlines()
    assert len(got) == len(CASES), run.out
    wrong = [f"{case}: kernel {want!r}, guest {have!r}"
             for case, want, have in zip(CASES, expected, got, strict=True) if want != have]
    assert not wrong, "\n".join(wrong)
