"""What each walk of a deep memory tree costs: a chain of directories N deep, one file at
the bottom, as a guest makes it (path_create_directory, then path_open of the new one).

    python bench/memtree_deep.py [--depth N] [--no-archives]

Printed, in seconds: making the chain through the guest's file system calls, then `repr`,
`to_dict`, pickle there and back, `save` to a new host directory (in /dev/shm if there is
one), `from_path` of it, and a tar and a zip archive there and back (each member holds its
whole path, so an archive grows with depth squared: --no-archives past ~10,000). Every one
of these once raised RecursionError past ~1000 levels (and `save` held one descriptor per
level). Last, the process's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable

from pywasi import MemoryDir
from pywasi.abi.types import Oflags
from pywasi.sandbox.memfs import TreeQuota
from pywasi.sandbox.memfs_open import OpenMemoryDir


def chain(depth: int) -> MemoryDir:
    """The guest's chain: each level made and opened from the one above, by descriptor."""
    tree = MemoryDir()
    level = OpenMemoryDir(tree, quota=TreeQuota(None))
    for _ in range(depth):
        level.mkdir_at(b"d")
        opened = level.open_at(b"d", False, Oflags.DIRECTORY, 0, True, False)
        assert isinstance(opened, OpenMemoryDir)
        level = opened
    level.open_at(b"end", False, Oflags.CREAT, 0, False, True).write([memoryview(b"bottom")])
    return tree


def timed(label: str, work: Callable[[], object]) -> None:
    start = time.perf_counter()
    work()
    print(f"{label:<22} {time.perf_counter() - start:8.3f} s")


def archived(tree: MemoryDir, kind: str) -> MemoryDir:
    archive = io.BytesIO()
    tree.to_archive(archive, kind)
    archive.seek(0)
    return MemoryDir.from_archive(archive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=5000)
    parser.add_argument("--no-archives", action="store_true")
    arguments = parser.parse_args()
    depth = arguments.depth
    start = time.perf_counter()
    tree = chain(depth)
    print(f"{'made ' + str(depth) + ' deep':<22} {time.perf_counter() - start:8.3f} s")
    shown = repr(tree)
    timed("repr", lambda: repr(tree))
    timed("to_dict", tree.to_dict)
    timed("pickle there and back", lambda: pickle.loads(pickle.dumps(tree)))
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as scratch:
        target = os.path.join(scratch, "saved")
        try:
            timed("save", lambda: tree.save(target))
            timed("from_path", lambda: MemoryDir.from_path(target))
            assert repr(MemoryDir.from_path(target)) == shown
        finally:
            subprocess.run(["rm", "-rf", target], check=True)  # shutil.rmtree recurses
    for kind in () if arguments.no_archives else ("tar", "zip"):
        timed(f"{kind} there and back", lambda: archived(tree, kind))  # noqa: B023
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{'peak RSS':<22} {peak:8d} MB")


if __name__ == "__main__":
    main()
