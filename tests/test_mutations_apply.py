"""Every mutation of tools/mutate.py still finds the code it breaks, and names tests that
pytest collects: when the code changes, this fails at once instead of the mutation run going
stale."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.one_path


def load_mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate", REPO / "tools" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


MUTATE = load_mutate()


@pytest.mark.parametrize("mutation", MUTATE.MUTATIONS, ids=lambda mutation: mutation.name)
def test_the_mutation_applies(mutation: object) -> None:
    file, old = (getattr(mutation, name) for name in ("file", "old"))
    assert (REPO / file).read_text().count(old) == 1, f"update tools/mutate.py: {old!r}"


def test_every_test_id_a_mutation_names_is_collected() -> None:
    tests = sorted({test for mutation in MUTATE.MUTATIONS for test in mutation.tests})
    assert MUTATE.uncollected(tests) == [], "update the test ids in tools/mutate.py"


def test_an_id_with_a_suffix_pytest_does_not_make_is_not_collected() -> None:
    """The check itself is exact: the right function with a stale parametrized suffix fails."""
    function = "tests/test_mutations_apply.py::test_the_mutation_applies"
    assert MUTATE.uncollected([function, f"{function}[no such mutation]"]) == [
        f"{function}[no such mutation]"]
