"""Kong's secret references, `{vault://env/NAME}` (and `{vault://env/NAME/KEY}` for a JSON value).

A reference is honoured only where it cannot leak: in a field its plugin schema marks referenceable
(`Field(json_schema_extra=REFERENCEABLE)`, Kong's `referenceable = true`), and only for variables
under the data plane's `vault_env_prefix`. Anywhere else it is refused when the config is validated,
with its path: resolving it would send the data plane's environment wherever that field goes (a
request-transformer query argument upstream, an error message to every client).

As in Kong's env vault, the prefix is put in front of the name, which is upper-cased with dashes
as underscores: with the default prefix `OIDCGATE_VAULT_`, `{vault://env/billing-secret}` reads
`OIDCGATE_VAULT_BILLING_SECRET`. The control plane stores and exports references unresolved, so
secrets never sit in its database or in pushed snapshots; each data plane resolves them from its own
environment (`EnvVault.resolve`). Only the `env` vault exists here; any other vault name is an error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from oidcgate.config.errors import ConfigError, FieldError

PREFIX = "{vault://"
_REFERENCE_RE = re.compile(r"^\{vault://(?P<vault>[a-z][a-z0-9_-]*)/(?P<name>[A-Za-z0-9_-]+)"
                           r"(?:/(?P<key>[^/{}\s]+))?/?\}$")
SUPPORTED_VAULTS = ("env",)
DEFAULT_ENV_PREFIX = "OIDCGATE_VAULT_"
_ENV_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Reference:
    vault: str
    name: str
    key: str | None


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


def env_prefix(value: str) -> str:
    """A valid `vault_env_prefix`, upper-cased; ValueError says why not. Empty is refused: it would let
    configuration authors read every variable of the data plane (cloud keys, the cluster key...)."""
    if not _ENV_PREFIX_RE.match(value):
        raise ValueError(f"invalid vault env prefix '{value}': use letters, digits and '_', starting with a "
                         f"letter (default {DEFAULT_ENV_PREFIX})")
    return value.upper()


# Where references may be: a walk of a raw config alongside its schema.

Visit = Callable[[str, str, bool], Any]  # (path, reference, allowed) -> the value to put in its place


def _marked(info: FieldInfo | None) -> bool:
    extra = info.json_schema_extra if info is not None else None
    return isinstance(extra, dict) and extra.get("referenceable") is True


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The schema of a nested record (`RemoveConfig`, `RemoveConfig | None`, `list[RemoveConfig]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _model_in(arg)) is not None), None)


def _map_references(model: type[BaseModel] | None, value: Any, path: str, allowed: bool, visit: Visit) -> Any:
    """A copy of `value` (the raw config of `model`) with `visit`'s answer in place of each reference."""
    if isinstance(value, str):
        return visit(path, value, allowed) if is_reference(value) else value
    if isinstance(value, list):
        return [_map_references(model, item, f"{path}[{index}]", allowed, visit) for index, item in enumerate(value)]
    if isinstance(value, dict):
        mapped = {}
        for key, child in value.items():
            info = model.model_fields.get(key) if model is not None and isinstance(key, str) else None
            mapped[key] = _map_references(_model_in(info.annotation) if info else None, child,
                                          f"{path}.{key}" if path else str(key), allowed or _marked(info), visit)
        return mapped
    return value


def referenceable_fields(model: type[BaseModel], path: str = "") -> list[str]:
    """The dotted names of the fields of `model` (nested records included) that take references."""
    names = []
    for name, info in model.model_fields.items():
        where = f"{path}.{name}" if path else name
        nested = _model_in(info.annotation)
        names += [where] if _marked(info) else referenceable_fields(nested, where) if nested else []
    return names


def _misplaced(model: type[BaseModel]) -> str:
    fields = referenceable_fields(model)
    where = f"only {', '.join(fields)} do" if fields else "none of this plugin's fields do"
    return f"vault references are only allowed in secret fields ({where})"


def check_references(model: type[BaseModel], config: Any, path: str = "") -> list[FieldError]:
    """Misplaced and malformed references in `config`, the raw config of `model` (what every validation
    of a plugin runs: the control plane's, kong.yml's, the data plane's)."""
    errors: list[FieldError] = []

    def visit(where: str, reference: str, allowed: bool) -> str:
        try:
            if not allowed:
                raise ValueError(_misplaced(model))
            parse(reference)
        except ValueError as exc:
            errors.append(FieldError(where, str(exc)))
        return reference

    _map_references(model, config, path, False, visit)
    return errors


@dataclass(frozen=True)
class EnvVault:
    """Kong's env vault on one data plane: a reference reads `<prefix><NAME>` from `environ`."""

    prefix: str = DEFAULT_ENV_PREFIX
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def variable(self, reference: Reference) -> str:
        return (self.prefix + reference.name).upper().replace("-", "_")

    def resolve(self, model: type[BaseModel], config: Any, path: str = "") -> Any:
        """A copy of `config` (the raw config of `model`) with every reference replaced by its secret;
        ConfigError lists every failure, each with its path and without any secret value."""
        errors: list[FieldError] = []

        def visit(where: str, reference: str, allowed: bool) -> str:
            try:
                if not allowed:
                    raise ValueError(_misplaced(model))
                return self._lookup(parse(reference))
            except ValueError as exc:
                errors.append(FieldError(where, str(exc)))
                return reference

        resolved = _map_references(model, config, path, False, visit)
        if errors:
            raise ConfigError(errors)
        return resolved

    def _lookup(self, ref: Reference) -> str:
        variable = self.variable(ref)
        secret = self.environ.get(variable)
        if secret is None:
            raise ValueError(f"vault reference: environment variable {variable} is not set (the env vault "
                             f"reads {self.prefix}<NAME>)")
        if ref.key is None:
            return secret
        try:
            data = json.loads(secret)
        except ValueError:
            raise ValueError(f"vault reference: {variable} is not a JSON object (key '{ref.key}' wanted)") from None
        if not isinstance(data, dict) or ref.key not in data or not isinstance(data[ref.key], str | int | float):
            raise ValueError(f"vault reference: {variable} has no key '{ref.key}'")
        return str(data[ref.key])
