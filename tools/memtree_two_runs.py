"""Issue 16 item 1, end to end: can a guest make `MemoryDir.save` write outside its target?

    python tools/memtree_two_runs.py [--keep]

Run 1: a guest makes the symbolic link ``l -> ../outside`` in its memory tree, and the
embedder saves the tree to ``d``. Run 2: the embedder loads ``d`` again
(`MemoryDir.from_path`), the guest replaces ``l`` with a directory holding ``pwned``, and
the embedder saves to ``d`` again. A save that follows host links puts ``pwned`` in
``outside``, beside ``d``; pywasi's replaces the link in ``d`` with the directory. The script
prints each step and what ``d`` and ``outside`` hold, and exits 0 only if nothing appeared in
or changed in ``outside``. The guests are .wat, so nothing needs compiling.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pywasi

_IMPORTS = """
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "../outside") (data (i32.const 16) "l") (data (i32.const 24) "l/pwned")
  (data (i32.const 40) "written by the guest\\0a")
  (func $check (param i32) (if (local.get 0) (then (call $exit (local.get 0)))))
"""
# Run 1: symlink("../outside", "l") in the preopen (fd 3).
RUN_1 = f"""(module {_IMPORTS}
  (func (export "_start")
    (call $check (call $symlink (i32.const 0) (i32.const 10) (i32.const 3) (i32.const 16)
      (i32.const 1)))))"""
# Run 2: unlink("l"), mkdir("l"), then "l/pwned" created (CREAT, FD_WRITE) and written.
RUN_2 = f"""(module {_IMPORTS}
  (func (export "_start")
    (call $check (call $unlink (i32.const 3) (i32.const 16) (i32.const 1)))
    (call $check (call $mkdir (i32.const 3) (i32.const 16) (i32.const 1)))
    (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 24) (i32.const 7)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 100)))
    (i32.store (i32.const 104) (i32.const 40)) (i32.store (i32.const 108) (i32.const 21))
    (call $check (call $write (i32.load (i32.const 100)) (i32.const 104) (i32.const 1)
      (i32.const 112)))))"""


def run_guest(wat: str, tree: pywasi.MemoryDir) -> int:
    wasi = pywasi.WASI(version="preview1", preopens={"/work": tree})
    return wasi.start(pywasi.instantiate(wasi, wat.encode()))


def show(label: str, directory: Path) -> list[str]:
    """Print and return what `directory` holds, links shown as links, never followed."""
    entries = []
    for root, dirs, files in os.walk(directory):
        for name in sorted(dirs + files):
            path = Path(root, name)
            relative = path.relative_to(directory)
            if path.is_symlink():
                entries.append(f"{relative} -> {os.readlink(path)}")
            elif path.is_dir():
                entries.append(f"{relative}/")
            else:
                entries.append(f"{relative} ({path.read_bytes()!r})")
    print(f"    {label}: {', '.join(entries) or '(empty)'}")
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="memtree-two-runs-"))
    target, outside = scratch / "d", scratch / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"the host's own\n")
    print(f"pywasi from {Path(pywasi.__file__).parent}, scratch {scratch}")
    before = show("outside at the start", outside)

    print("run 1: the guest makes l -> ../outside; the embedder saves the tree to d")
    first = pywasi.MemoryDir()
    print(f"    guest exit code {run_guest(RUN_1, first)}")
    first.save(target)
    show("d", target)

    print("run 2: from_path(d); the guest replaces l with a directory holding pwned; "
          "save to d again")
    second = pywasi.MemoryDir.from_path(target)
    print(f"    guest exit code {run_guest(RUN_2, second)}; the tree: {second!r}")
    try:
        second.save(target)
        print("    save: done")
    except OSError as error:  # SaveRefusedError is an OSError
        print(f"    save refused: {type(error).__name__}: {error}")
    show("d", target)
    after = show("outside", outside)

    escaped = after != before
    print("RESULT: " + ("ESCAPED: the save wrote outside its target" if escaped else
                        "outside is untouched; d/l is " +
                        ("a symbolic link" if (target / "l").is_symlink() else "a directory")))
    if not options.keep:
        shutil.rmtree(scratch)
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
