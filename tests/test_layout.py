"""The package's layers, read from its source: the client library (finshard/__init__, errors,
sharding_logic, db, router/) imports neither the operations (finshard/ops) nor the local lab
(finshard/local); operations do not import the lab; and no finshard modules import each other
in a cycle, counting imports inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "finshard"
CLIENT = ("finshard.errors", "finshard.sharding_logic", "finshard.db", "finshard.router")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The finshard modules ``name`` imports anywhere in its source. ``from a import b`` counts as
    importing a.b when that is a module, else a; a package's __init__ is not counted for its
    submodules, as Python runs it before any of them."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _in(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def _client(name: str) -> bool:
    return name == "finshard" or any(_in(name, layer) for layer in CLIENT)


def _cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return groups


def test_the_graph_sees_the_layers() -> None:
    # A parser that found nothing would pass every test below.
    assert "finshard.local.cluster" in GRAPH["finshard.cli"]
    assert "finshard.local.postgres" in GRAPH["finshard.local.cluster"]
    assert "finshard.errors" in GRAPH["finshard.router"]
    assert {"finshard.ops.installer", "finshard.local.cluster"} <= set(MODULES)


def test_no_finshard_modules_import_each_other_in_a_cycle() -> None:
    assert _cycles() == []


def test_the_client_library_imports_neither_operations_nor_the_lab() -> None:
    client = [m for m in MODULES if _client(m)]
    assert {"finshard", "finshard.router.aio", "finshard.sharding_logic"} <= set(client)
    wrong = {m: sorted(i for i in GRAPH[m] if not _client(i)) for m in client}
    assert {m: deps for m, deps in wrong.items() if deps} == {}


def test_operations_do_not_import_the_lab_or_the_cli() -> None:
    wrong = {m: sorted(i for i in GRAPH[m] if _in(i, "finshard.local") or i == "finshard.cli")
             for m in MODULES if _in(m, "finshard.ops")}
    assert {m: deps for m, deps in wrong.items() if deps} == {}


def test_only_the_cli_imports_the_cli() -> None:
    assert [m for m, deps in GRAPH.items() if "finshard.cli" in deps] == []


def _driver_use(path: Path) -> tuple[bool, bool]:
    """(imports psycopg or psycopg_pool, calls psycopg.connect or an AsyncConnection's connect)."""
    imports = connects = False
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imports |= any(a.name.split(".")[0] in ("psycopg", "psycopg_pool") for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports |= (node.module or "").split(".")[0] in ("psycopg", "psycopg_pool")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            connects |= ast.unparse(node.func.value) in ("psycopg", "psycopg.AsyncConnection", "AsyncConnection",
                                                         "psycopg.Connection")
    return imports, connects


def test_connections_are_made_in_db_and_the_driver_imported_only_there_and_in_the_router() -> None:
    use = {m: _driver_use(path) for m, path in MODULES.items()}
    assert use["finshard.db"] == (True, True)
    assert [m for m, (_i, connects) in use.items() if connects] == ["finshard.db"]
    importers = {m for m, (imports, _c) in use.items() if imports}
    assert sorted(m for m in importers if not _in(m, "finshard.router")) == ["finshard.db"]
