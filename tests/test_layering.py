"""Which package may import which: the layers stay a stack, so each can be read and changed on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

_IDP_ABOVE_STORAGE = ("oidcgate.idp.grants", "oidcgate.idp.http", "oidcgate.idp.provider", "oidcgate.idp.service",
                      "oidcgate.idp.sign_in", "oidcgate.idp.tokens")
# (package, what it must not import, why)
FORBIDDEN: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("oidcgate.config", ("oidcgate.plugins",), "plugins build on config; the loader is handed their schemas"),
    ("oidcgate.idp.protocol", (*_IDP_ABOVE_STORAGE, "oidcgate.idp.storage", "sqlalchemy", "starlette", "httpx"),
     "the RFC modules are pure protocol rules: no storage, no HTTP, nothing that uses them"),
    ("oidcgate.idp.storage", _IDP_ABOVE_STORAGE, "storage knows nothing of what uses it"),
    ("oidcgate.idp.grants", ("oidcgate.idp.http", "oidcgate.idp.provider"), "the provider serves the grants"),
    ("oidcgate.jwt", ("oidcgate.plugins", "oidcgate.proxy"),
     "JWT verification is a part of its own: the plugin and the CLI use it, it uses neither"),
    ("oidcgate.tokens", ("oidcgate.plugins",),
     "`oidcgate token` verifies with oidcgate.jwt, not by reaching into the openid-connect plugin"),
)


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module `path` imports, relative imports resolved, including those inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from oidcgate import plugins`
    return found


def modules_of(package: str) -> list[tuple[Path, str]]:
    folder = SRC.joinpath(*package.split("."))
    return [(path, ".".join(path.relative_to(SRC).parent.parts)) for path in sorted(folder.rglob("*.py"))]


@pytest.mark.parametrize(("package", "forbidden", "why"), FORBIDDEN, ids=[package for package, _, _ in FORBIDDEN])
def test_no_module_imports_a_layer_above_it(package: str, forbidden: tuple[str, ...], why: str) -> None:
    offenders = [f"{path.relative_to(SRC)} imports {name}"
                 for path, owner in modules_of(package)
                 for name in sorted(imported_modules(path, owner))
                 if any(name == other or name.startswith(other + ".") for other in forbidden)]
    assert modules_of(package), f"{package} has no modules: the rule checks nothing"
    assert not offenders, f"{why}:\n" + "\n".join(offenders)


def test_importing_config_loads_no_plugin() -> None:
    """The same rule at run time, transitive imports included."""
    code = ("import sys, oidcgate.config, oidcgate.config.plugin_schemas; "
            "print(sorted(m for m in sys.modules if m.startswith('oidcgate.plugins')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
