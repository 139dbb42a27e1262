"""How the declarative loader checks a plugin's `config` without knowing the plugins.

`config` sits below `plugins` (every plugin schema builds on `config.types`), so the loader cannot
import the plugin registry: whoever loads a configuration hands it a `PluginSchemas` lookup
(`oidcgate.plugins.registry.config_schema` for the installed plugins).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from oidcgate.config.errors import FieldError, from_pydantic
from oidcgate.config.vault import check_references

PluginSchemas = Callable[[str], type[BaseModel]]
"""A plugin's `config` schema by plugin name; LookupError, saying which plugins exist, for an unknown name."""


def validate_plugin_config(schemas: PluginSchemas, name: str, config: Any,
                           path: str = "") -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The plugin's config with its defaults filled, or None, and every error (paths under `path`)."""
    prefix = f"{path}." if path else ""
    try:
        schema = schemas(name)
    except LookupError as exc:
        return None, [FieldError(f"{prefix}name", str(exc))]
    errors = check_references(schema, config, f"{prefix}config")
    try:
        validated = schema.model_validate(config).model_dump(mode="json")
    except ValidationError as exc:
        return None, [*errors, *from_pydantic(exc, f"{prefix}config")]
    return validated, errors
