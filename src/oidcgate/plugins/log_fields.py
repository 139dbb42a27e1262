"""The config fields file-log and http-log share: Kong's `custom_fields_by_lua` has an oidcgate form.

Kong evaluates Lua expressions per request (`custom_fields_by_lua`); oidcgate runs no Lua, so it takes
`custom_fields`: a map from a field name (dotted for nested objects, as Kong's `set_serialize_value`)
to a JSON value, added to every entry. A configuration that still has `custom_fields_by_lua` is refused
with that advice rather than with "unknown field".
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from oidcgate.plugins.base import PluginConfig

FieldName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
JSONScalar = str | int | float | bool | None


class LogFieldsConfig(PluginConfig):
    custom_fields: dict[FieldName, JSONScalar | list[Any] | dict[str, Any]] | None = Field(
        default=None, description=(
            "Fields added to every log entry: a name (`a.b` for a field `b` in an object `a`) and a JSON "
            "value. oidcgate's form of Kong's `custom_fields_by_lua`, whose Lua it cannot run."))

    @model_validator(mode="before")
    @classmethod
    def _no_lua(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("custom_fields_by_lua") is not None:
            raise ValueError("custom_fields_by_lua: oidcgate runs no Lua; set `custom_fields` (a name and a "
                             "JSON value per field) instead")
        if isinstance(data, dict) and "custom_fields_by_lua" in data:  # null, as exported by Kong
            data = {key: value for key, value in data.items() if key != "custom_fields_by_lua"}
        return data
