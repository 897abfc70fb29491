import sys
from pathlib import Path

import pytest

from pywasi.engine import wasmtime_engine

sys.path.insert(0, str(Path(__file__).parent))

HOST_CALL_PATHS = ["c", "python"] if wasmtime_engine.trampoline is not None else ["python"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every quick test runs on both host-call paths: the C trampoline and pure Python."""
    if metafunc.definition.get_closest_marker("slow") is None:
        metafunc.parametrize("host_calls", HOST_CALL_PATHS, indirect=True)


@pytest.fixture(autouse=True)
def host_calls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    path: str = getattr(request, "param", HOST_CALL_PATHS[0])
    if path == "python":
        monkeypatch.setattr(wasmtime_engine, "trampoline", None)
        monkeypatch.setenv("PYWASI_TRAMPOLINE", "0")  # for pywasi run in a subprocess
    return path
