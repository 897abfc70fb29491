import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pywasi.engine import host_calls as host_call_module
from pywasi.sandbox import resolver

sys.path.insert(0, str(Path(__file__).parent))

HOST_CALL_PATHS = ["c", "python"] if host_call_module.trampoline is not None else ["python"]
# Host path lookups have two routes (see sandbox.resolver): the tests of paths run on both.
RESOLUTION_ROUTES = ["openat2", "walk"] if resolver.openat2 is not None else ["walk"]
ROUTED_MODULES = {"test_sandbox", "test_conformance_fs", "test_fs_calls", "test_redteam",
                  "test_hostile_arguments", "test_cache", "test_path_routes",
                  "test_trailing_slash"}

# A test that can hang (a guest spinning on EAGAIN, a poll that never wakes) must fail within
# this, not burn CI's time; the quick tests get the default of [tool.pytest.ini_options].
SLOW_TEST_TIMEOUT = 1800

# Compiled modules go to a cache of the test run's own, in this process and in every `pywasi
# run` it starts, never to the user's ~/.cache. Set at import, before any test can compile.
_CACHE_HOME = tempfile.TemporaryDirectory(prefix="pywasi-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME.name
os.environ["PYWASI_CACHE_DIR"] = os.path.join(_CACHE_HOME.name, "pywasi")


# The Ctrl-C tests need SIGINT to be delivered: a run started in the background by a
# non-interactive shell inherits it ignored (POSIX), and so would every `pywasi run` it
# starts. Python's own handler is what an interactive start gives; children get the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the C guests before any test's clock starts: the first compilation on a
    machine also builds zig's wasi-libc, which can take minutes and is no hang."""
    from guest import C_SOURCES, build_c

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(build_c, sorted(source.stem for source in C_SOURCES.glob("*.c"))))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every quick test that reaches a host call runs on both host-call paths: the C
    trampoline and pure Python."""
    definition = metafunc.definition
    if metafunc.module.__name__ in ROUTED_MODULES:
        metafunc.parametrize("resolution", RESOLUTION_ROUTES, indirect=True)
    if definition.get_closest_marker("slow") or definition.get_closest_marker("one_path"):
        return
    metafunc.parametrize("host_calls", HOST_CALL_PATHS, indirect=True)


# Threads that live as long as the process, by design: pywasi's signal watcher, and the pools
# Dask's client keeps for a module-scoped cluster (tests/test_batch.py).
_LIFELONG_THREADS = ("pywasi-signal-watcher", "Dask-", "IO loop", "TCP-Executor")


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Every thread a test starts ends with it (tests/background.py): joined, for at most
    `JOIN_SECONDS` in all, then any still running fails the test instead of outliving it."""
    from background import JOIN_SECONDS

    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + JOIN_SECONDS
    started = [thread for thread in threading.enumerate()
               if thread not in before and not thread.name.startswith(_LIFELONG_THREADS)]
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [thread for thread in started if thread.is_alive()]
    assert not left, f"threads still running {JOIN_SECONDS} s after the test: {left}"


def _turn_off(monkeypatch: pytest.MonkeyPatch, module: ModuleType, accelerator: str,
              variable: str) -> None:
    """Run without `module.accelerator`, here and in `pywasi run` subprocesses (`variable`=0)."""
    monkeypatch.setattr(module, accelerator, None)
    monkeypatch.setenv(variable, "0")


@pytest.fixture(autouse=True)
def resolution(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    route: str = getattr(request, "param", RESOLUTION_ROUTES[0])
    if route == "walk":
        _turn_off(monkeypatch, resolver, "openat2", "PYWASI_OPENAT2")
    return route


@pytest.fixture(autouse=True)
def host_calls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    path: str = getattr(request, "param", HOST_CALL_PATHS[0])
    if path == "python":
        _turn_off(monkeypatch, host_call_module, "trampoline", "PYWASI_TRAMPOLINE")
    if request.node.get_closest_marker("one_path"):
        # The marker's promise, kept: linking a host function would mean the other path
        # goes untested.
        def refuse(*args: Any, **kwargs: Any) -> Any:
            pytest.fail("a test marked one_path links a host call: remove the marker")

        monkeypatch.setattr(host_call_module.HostCalls, "callback", refuse)
    return path
