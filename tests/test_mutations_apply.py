"""Every mutation of tools/mutate.py still finds the code it breaks, and names tests that
exist: when the code changes, this fails at once instead of the mutation run going stale."""

from __future__ import annotations

import importlib.util
import re
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
    file, old, tests = (getattr(mutation, name) for name in ("file", "old", "tests"))
    assert (REPO / file).read_text().count(old) == 1, f"update tools/mutate.py: {old!r}"
    for test in tests:
        path, _, name = test.partition("::")
        assert (REPO / path).is_file(), test
        if name:
            function = re.sub(r"\[.*\]$", "", name)
            assert f"def {function}(" in (REPO / path).read_text(), test
