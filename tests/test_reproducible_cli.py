"""``pywasi run -S deterministic / record=``, ``pywasi replay``, ``trace`` and ``diff``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from guest import build_c


def _pywasi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pywasi", *args], capture_output=True,
                          text=True, timeout=120)


def _directory(root: Path) -> Path:
    root.mkdir()
    (root / "a.txt").write_text("a")
    return root


def test_record_replay_trace_and_diff(tmp_path: Path) -> None:
    module = str(build_c("reproducible"))
    logs = []
    runs = []
    for name, settings in (("one", "deterministic,deterministic-random-seed=5"),
                           ("two", "deterministic,deterministic-random-seed=5"),
                           ("three", "deterministic,deterministic-random-seed=6")):
        directory = _directory(tmp_path / name)
        logs.append(tmp_path / f"{name}.wasmrec")
        runs.append(_pywasi("run", f"--dir={directory}::/dir", "-S", settings,
                            f"-S=record={logs[-1]}", module))
        assert runs[-1].returncode == 3, runs[-1].stderr
        shutil.rmtree(directory)
    assert runs[0].stdout == runs[1].stdout != runs[2].stdout
    replayed = _pywasi("replay", str(logs[0]), module)
    assert (replayed.returncode, replayed.stdout, replayed.stderr) \
        == (3, runs[0].stdout, runs[0].stderr)
    same = _pywasi("diff", str(logs[0]), str(logs[1]))
    assert (same.returncode, same.stdout) == (0, "the recordings hold the same calls\n")
    other = _pywasi("diff", str(logs[0]), str(logs[2]))
    assert other.returncode == 1 and other.stdout.startswith("call ")
    assert "random_get(" in other.stdout.splitlines()[1]
    traced = _pywasi("trace", str(logs[0])).stdout.splitlines()
    assert any('path_open(3, SYMLINK_FOLLOW, "out.txt", CREAT|TRUNC' in line for line in traced)
    assert any(line.endswith("= ? (ProcExit)") for line in traced)


def test_replay_of_no_recording_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wasmrec"
    bad.write_text("{}\n")
    result = _pywasi("replay", str(bad), str(build_c("reproducible")))
    assert result.returncode == 1
    assert "not a pywasi recording" in result.stderr
    assert _pywasi("replay").returncode == 2
