"""Kong's secret references, `{vault://env/NAME}` (and `{vault://env/NAME/KEY}` for a JSON value).

The control plane stores and exports references unresolved, so secrets never sit in its
database or in pushed snapshots; each data plane resolves them from its own environment just
before validating a snapshot (`resolve_references`). As in Kong's env vault, the name is
upper-cased and dashes become underscores: `{vault://env/my-secret}` reads `MY_SECRET`.
Only the `env` vault exists here; any other vault name is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oidcgate.config.errors import ConfigError, FieldError

PREFIX = "{vault://"
_REFERENCE_RE = re.compile(r"^\{vault://(?P<vault>[a-z][a-z0-9_-]*)/(?P<name>[A-Za-z0-9_-]+)"
                           r"(?:/(?P<key>[^/{}\s]+))?/?\}$")
SUPPORTED_VAULTS = ("env",)


@dataclass(frozen=True, slots=True)
class Reference:
    vault: str
    name: str
    key: str | None

    @property
    def variable(self) -> str:
        return self.name.upper().replace("-", "_")


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def parse(value: str) -> Reference:
    """Parse one reference; ValueError explains what is wrong with it."""
    match = _REFERENCE_RE.match(value)
    if not match:
        raise ValueError(f"invalid vault reference '{value}': expected {{vault://env/NAME}}")
    if match["vault"] not in SUPPORTED_VAULTS:
        raise ValueError(f"unknown vault '{match['vault']}' in '{value}': only 'env' is supported")
    return Reference(match["vault"], match["name"], match["key"])


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every (path, string) in a JSON value, with declarative-style paths."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for key, child in value.items()
                for item in _strings(child, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [item for index, child in enumerate(value) for item in _strings(child, f"{path}[{index}]")]
    return []


def check_references(value: Any, path: str = "") -> list[FieldError]:
    """Syntax errors of the references inside `value` (what the control plane validates)."""
    errors = []
    for where, text in _strings(value, path):
        if is_reference(text):
            try:
                parse(text)
            except ValueError as exc:
                errors.append(FieldError(where, str(exc)))
    return errors


def resolve_references(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """A copy of `value` with every reference replaced by its secret; ConfigError lists every failure."""
    errors: list[FieldError] = []

    def resolve(node: Any, where: str) -> Any:
        if isinstance(node, dict):
            return {key: resolve(child, f"{where}.{key}" if where else str(key)) for key, child in node.items()}
        if isinstance(node, list):
            return [resolve(child, f"{where}[{index}]") for index, child in enumerate(node)]
        if not is_reference(node):
            return node
        try:
            return _lookup(parse(node), environ)
        except ValueError as exc:
            errors.append(FieldError(where, str(exc)))
            return node

    resolved = resolve(value, path)
    if errors:
        raise ConfigError(errors)
    return resolved


def _lookup(ref: Reference, environ: Mapping[str, str]) -> str:
    secret = environ.get(ref.variable)
    if secret is None:
        raise ValueError(f"vault reference: environment variable {ref.variable} is not set")
    if ref.key is None:
        return secret
    try:
        data = json.loads(secret)
    except ValueError:
        raise ValueError(f"vault reference: {ref.variable} is not a JSON object (key '{ref.key}' wanted)") from None
    if not isinstance(data, dict) or ref.key not in data or not isinstance(data[ref.key], str | int | float):
        raise ValueError(f"vault reference: {ref.variable} has no key '{ref.key}'")
    return str(data[ref.key])
