"""Kong's Admin API errors (kong/db/errors.lua): a code, a name, a message and the fields involved.

The store raises these; the Admin API renders `body()` with `status` unchanged, so clients written
for Kong (deck, scripts parsing `code`/`fields`) see the shapes they expect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from oidcgate.config.errors import ConfigError, FieldError


def lua_pretty(value: Any) -> str:
    """Kong's `pl.pretty.write(value, "")`, used in its messages: {name="x",service={id="..."}}."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}={lua_pretty(value[key])}" for key in sorted(value)) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


class AdminError(Exception):
    """An error with Kong's JSON shape: {"code", "name", "message", "fields"}."""

    status = 400
    code: int | None = None
    name: str | None = None

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.code is not None:
            body.update(code=self.code, name=self.name)
        if self.fields is not None:
            body["fields"] = self.fields
        return body


class BadRequest(AdminError):
    """A request Kong answers with a bare message (unparsable body, wrong content type, ...)."""


class NotFound(AdminError):
    status = 404

    def __init__(self, message: str = "Not found") -> None:
        super().__init__(message)


class SchemaViolation(AdminError):
    code, name = 2, "schema violation"

    def __init__(self, errors: Iterable[FieldError]) -> None:
        # Parents before children: ConfigError.fields() then nests "a[0]" beside "a" instead of losing it.
        config_error = ConfigError(sorted(errors, key=lambda e: (e.path != "", e.path)))
        fields = config_error.fields()
        if isinstance(fields.get("@entity"), str):  # Kong lists entity-level checks
            fields["@entity"] = fields["@entity"].split("; ")
        parts = [f"{e.path}: {e.message}" if e.path else e.message for e in config_error.errors]
        message = (f"schema violation ({parts[0]})" if len(parts) == 1
                   else f"{len(parts)} schema violations ({'; '.join(parts)})")
        super().__init__(message, fields)
        self.errors = config_error.errors


class PrimaryKeyViolation(AdminError):
    status, code, name = 409, 3, "primary key violation"

    def __init__(self, entity_id: str) -> None:
        super().__init__(f"primary key violation on key '{lua_pretty({'id': entity_id})}'", {"id": entity_id})


class ForeignKeyViolation(AdminError):
    code, name = 4, "foreign key violation"

    @classmethod
    def invalid_reference(cls, field: str, key: dict[str, str], parent_kind: str) -> ForeignKeyViolation:
        return cls(f"the foreign key '{lua_pretty(key)}' does not reference an existing '{parent_kind}' entity.",
                   {field: key})

    @classmethod
    def restricted(cls, parent_kind: str, child_kind: str) -> ForeignKeyViolation:
        return cls(f"an existing '{child_kind}' entity references this '{parent_kind}' entity",
                   {"@referenced_by": child_kind})


class UniqueViolation(AdminError):
    status, code, name = 409, 5, "unique constraint violation"

    def __init__(self, unique_key: dict[str, Any]) -> None:
        super().__init__(f"UNIQUE violation detected on '{lua_pretty(unique_key)}'", unique_key)


class InvalidOffset(AdminError):
    code, name = 7, "invalid offset"

    def __init__(self, offset: str, reason: str) -> None:
        super().__init__(f"'{offset}' is not a valid offset: {reason}")


class InvalidSize(AdminError):
    code, name = 9, "invalid size"


class InvalidOptions(AdminError):
    code, name = 11, "invalid options"

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"invalid option ({option}: {message})")
        self.options = {option: message}

    def body(self) -> dict[str, Any]:
        return {**super().body(), "options": self.options}


class DeclarativeConfigError(AdminError):
    code, name = 14, "invalid declarative configuration"

    def __init__(self, error: ConfigError) -> None:
        fields = error.fields()
        super().__init__(f"declarative config is invalid: {lua_pretty(fields)}", fields)
        self.flattened = [{"path": e.path, "message": e.message} for e in error.errors]

    def body(self) -> dict[str, Any]:
        return {**super().body(), "flattened_errors": self.flattened}
