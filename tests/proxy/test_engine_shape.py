"""The engine stays readable: small functions, honest types, and modules that do not import each other
in a circle (counting the imports made for type checking only: a circle there is a circle in the
design)."""

from __future__ import annotations

import ast
from pathlib import Path

import oidcgate.proxy

PROXY = Path(oidcgate.proxy.__file__).parent
MAX_FUNCTION_LINES = 60
MAX_TYPE_IGNORES = 10


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PROXY.glob("*.py"))}


def lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def test_no_function_is_longer_than_sixty_lines() -> None:
    long = [f"{name}.{node.name}: {lines(node)} lines" for name, tree in modules().items() for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and lines(node) > MAX_FUNCTION_LINES]
    assert long == []


def test_type_ignores_are_few() -> None:
    count = sum(path.read_text().count("# type: ignore") for path in PROXY.glob("*.py"))
    assert count <= MAX_TYPE_IGNORES


def imports(tree: ast.Module, names: set[str]) -> set[str]:
    """The proxy modules a module imports, wherever the import is (TYPE_CHECKING blocks included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "oidcgate.proxy":
                found |= {alias.name for alias in node.names} & names
            elif node.module.startswith("oidcgate.proxy."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[2] for alias in node.names if alias.name.startswith("oidcgate.proxy.")}
    return found


def test_no_import_circle_among_the_engines_modules() -> None:
    trees = modules()
    graph = {name: imports(tree, set(trees)) - {name} for name, tree in trees.items()}
    circles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        for following in sorted(graph[name]):
            if following in path:
                circles.append([*path[path.index(following):], following])
            elif len(path) < len(graph):
                visit(following, [*path, following])

    for start in graph:
        visit(start, [start])
    assert circles == []
