"""Real programs reproducibly (tests/reproducible_real.py): CPython, QuickJS and yosys run twice
in deterministic mode give the same bytes and the same recording, and a recorded run on the
host's own clocks replays to the same output with its directories gone."""

from __future__ import annotations

import pytest

from reproducible_real import Outcome, RealProgram, real_programs, run
from test_real_programs import pywasi_cache  # noqa: F401 - its compiled code, shared

# What shows that the deterministic run saw the virtual clock (2000-01-01) and sorted listings.
_SIGNS = {
    "cpython": [b"time 946684800.", b"listdir ['alpha.txt', 'script.js', 'script.py', "
                b"'zeta.txt']", b"after sleep 946684800.2"],
    "quickjs": [b"date 946684800", b"2000-01-01T00:00:00", b'readdir [".","..","alpha.txt",'
                b'"script.js","script.py","zeta.txt"]', b"after sleep 946684800"],
    "yosys": [b"Yosys 0.70"],
}


def _program(name: str) -> RealProgram:
    return next(program for program in real_programs() if program.name == name)


def _seen(outcome: Outcome) -> tuple[int, bytes, bytes]:
    return outcome.exit_code, outcome.stdout, outcome.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_SIGNS))
def test_two_deterministic_runs_are_identical(name: str) -> None:
    program = _program(name)
    first, second = run(program, deterministic=True), run(program, deterministic=True)
    assert first.exit_code == 0, first.stderr.decode(errors="replace")[-3000:]
    assert _seen(first) == _seen(second)
    assert first.files == second.files
    assert first.log == second.log
    for sign in _SIGNS[name]:
        assert sign in first.stdout
    if name == "yosys":
        assert b'"SB_CARRY"' in (first.files["counter.json"] or b"")
        assert first.files["yosys.log"] == second.files["yosys.log"]  # CPU times too
    else:
        assert (first.files["out.txt"] or b"").startswith(b"written at 946684800")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_SIGNS))
def test_a_recorded_run_replays_without_its_directories(name: str) -> None:
    program = _program(name)
    recorded = run(program)
    assert recorded.exit_code == 0, recorded.stderr.decode(errors="replace")[-3000:]
    assert b"946684800" not in recorded.stdout  # the host's own clock this time
    assert _seen(run(program, replay=recorded.log)) == _seen(recorded)
