"""The compiled hot path (oidcgate.compiled): the tests run what `make compiled` built, a stale build is
refused, and the compiled modules avoid what mypyc would silently get wrong."""

from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

import pytest

from oidcgate.compiled import MANIFEST, PACKAGE, StaleBuild, compiled_sources, verify


def manifest_for(tmp_path: Path, source: Path, digest: str) -> Path:
    manifest = tmp_path / "compiled.manifest"
    manifest.write_text(f"{digest}  {source.name}\n")
    return manifest


def test_a_source_that_matches_its_build_passes(tmp_path: Path) -> None:
    source = tmp_path / "hot.py"
    source.write_text("x = 1\n")
    verify(manifest_for(tmp_path, source, hashlib.sha256(b"x = 1\n").hexdigest()))


def test_a_source_changed_after_its_build_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "hot.py"
    source.write_text("x = 2\n")
    with pytest.raises(StaleBuild, match=r"hot\.py changed after it was compiled to C: run `make compiled`"):
        verify(manifest_for(tmp_path, source, hashlib.sha256(b"x = 1\n").hexdigest()))


def test_a_removed_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StaleBuild, match=r"gone\.py changed"):
        verify(manifest_for(tmp_path, tmp_path / "gone.py", "0" * 64))


def test_without_a_build_nothing_is_checked(tmp_path: Path) -> None:
    assert compiled_sources(tmp_path / "compiled.manifest") == {}
    verify(tmp_path / "compiled.manifest")


def built() -> dict[Path, str]:
    sources = compiled_sources()
    assert sources, f"no compiled build ({MANIFEST.name} is missing): run `make compiled` (`make test` does)"
    return sources


def module_name(source: Path) -> str:
    return "oidcgate." + ".".join(source.relative_to(PACKAGE).with_suffix("").parts)


def test_the_listed_modules_run_compiled() -> None:
    interpreted = [name for name in map(module_name, built())
                   if not (importlib.import_module(name).__file__ or "").endswith(".so")]
    assert interpreted == []


def members(annotation: ast.expr) -> int:
    """How many types the top-level `|` of an annotation joins."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return members(annotation.left) + members(annotation.right)
    return 1


def none_defaults_of_unions(tree: ast.Module) -> list[str]:
    """Class-level `name: A | B | None = None` defaults: mypyc (2.4) drops a None default unless the type
    is one type or None, leaving the attribute undefined at runtime."""
    found = []
    for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
        for stmt in cls.body:
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.value, ast.Constant) and stmt.value.value is None
                    and members(stmt.annotation) > 2 and isinstance(stmt.target, ast.Name)):
                found.append(f"{cls.name}.{stmt.target.id}: {ast.unparse(stmt.annotation)}")
    return found


def test_compiled_classes_have_no_none_default_that_mypyc_would_drop() -> None:
    offending = {source.name: found for source in built()
                 if (found := none_defaults_of_unions(ast.parse(source.read_text())))}
    assert offending == {}


def test_the_union_check_finds_what_it_looks_for() -> None:
    tree = ast.parse("class A:\n    x: list[int] | tuple[()] | None = None\n    y: int | None = None\n"
                     "    z: tuple[int, bytes | None] | None = None\n")
    assert none_defaults_of_unions(tree) == ["A.x: list[int] | tuple[()] | None"]
