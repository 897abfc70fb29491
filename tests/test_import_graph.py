"""The house drawn from its imports: src/pywasi's modules import each other without a cycle,
and the engine room stands apart from the system calls and the sandbox.

The graph is read statically (ast) from every module of src/pywasi: each import run when the
module or one of its functions runs is an arrow, relative imports resolved, ``from package
import module`` an arrow to that module. Imports under ``if TYPE_CHECKING:`` are for type
checkers only and are left out. `cycles` and the arrows out of engine/ are what the tests
assert; the self-tests below show that a cycle and a forbidden arrow are seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_path

SOURCE = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "pywasi"

Graph = Mapping[str, set[str]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, except those in ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def import_graph(sources: Mapping[str, str], is_package: Mapping[str, bool]) -> dict[str, set[str]]:
    """Arrows between the modules of `sources` (module name -> its text)."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, text in sources.items():
        package = name if is_package[name] else name.rpartition(".")[0]
        for node in _imports(ast.parse(text)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in sources
                           else base for alias in node.names]
            for target in targets:
                while target and target not in sources:  # a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _project() -> tuple[dict[str, str], dict[str, bool]]:
    paths = sorted((SOURCE / PACKAGE).rglob("*.py"))
    return ({_module_name(path): path.read_text() for path in paths},
            {_module_name(path): path.name == "__init__.py" for path in paths})


PROJECT = import_graph(*_project())


def arrows_out_of(graph: Graph, room: str, to: str) -> list[tuple[str, str]]:
    return sorted((source, target) for source, targets in graph.items()
                  if source.startswith(room) for target in targets
                  if target == to or target.startswith(to + "."))


def test_the_graph_is_read() -> None:
    assert "pywasi.engine.ffi" in PROJECT["pywasi.engine.exports"]
    assert "pywasi.syscalls" in PROJECT["pywasi.wasi"]
    assert len(PROJECT) > 60


def test_no_import_cycle() -> None:
    assert cycles(PROJECT) == []


def test_the_memory_trees_conversions_do_not_import_the_tree() -> None:
    """`MemoryDir`'s methods call them, handing them the node classes (`memfs.TreeKinds`)."""
    for module in ("pywasi.sandbox.memfs_host", "pywasi.sandbox.memfs_archive"):
        assert "pywasi.sandbox.memfs" not in PROJECT[module]


def test_the_engine_room_has_no_cycle() -> None:
    engine = {name: {target for target in targets if target.startswith("pywasi.engine")}
              for name, targets in PROJECT.items() if name.startswith("pywasi.engine")}
    assert cycles(engine) == []


def test_the_engine_does_not_import_the_system_calls() -> None:
    """It gets what it needs of the WASI object through `engine.base.WasiHost`."""
    assert arrows_out_of(PROJECT, "pywasi.engine.", "pywasi.syscalls") == []


def test_the_engine_does_not_import_the_sandbox() -> None:
    """The cache's protection is `pywasi.cache_policy`'s, which the cache asks."""
    assert arrows_out_of(PROJECT, "pywasi.engine.", "pywasi.sandbox") == []


def test_the_engine_does_not_import_the_call_path_layers() -> None:
    """Trace, fuel and reproducible runs wrap the calls in the WASI object's `layered_imports`."""
    for layer in ("pywasi.trace", "pywasi.fuel", "pywasi.reproducible", "pywasi.wasi"):
        assert arrows_out_of(PROJECT, "pywasi.engine.", layer) == []


def test_nothing_outside_the_engine_imports_the_shim() -> None:
    outside = [(source, target) for source, targets in PROJECT.items()
               if not source.startswith("pywasi.engine") for target in targets
               if target == "pywasi.engine.ffi"]
    assert outside == []


# The checks above would see a broken house: a cycle and a forbidden arrow, added.

def _with(extra: Mapping[str, str]) -> dict[str, set[str]]:
    sources, packages = _project()
    for name, text in extra.items():
        sources[name] = sources.get(name, "") + "\n" + text
        packages.setdefault(name, False)
    return import_graph(sources, packages)


def test_a_cycle_is_seen() -> None:
    graph = _with({"pywasi.engine.stores": "def later():\n    from .wasmtime_engine import x\n"})
    assert any({"pywasi.engine.stores", "pywasi.engine.wasmtime_engine"} <= set(component)
               for component in cycles(graph))


def test_an_arrow_into_the_system_calls_is_seen() -> None:
    graph = _with({"pywasi.engine.host_calls": "from ..syscalls import errno_of\n"})
    assert arrows_out_of(graph, "pywasi.engine.", "pywasi.syscalls") == [
        ("pywasi.engine.host_calls", "pywasi.syscalls")]


def test_type_checking_imports_are_no_arrows() -> None:
    graph = _with({"pywasi.engine.ffi": "if TYPE_CHECKING:\n    from ..syscalls import x\n"})
    assert arrows_out_of(graph, "pywasi.engine.", "pywasi.syscalls") == []
