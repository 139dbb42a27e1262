"""The base of every entity schema, and Kong's foreign-key shorthand."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from oidcgate.config.types import Tags, UUIDStr


class Entity(BaseModel):
    """Common base: unknown fields are errors, ids are UUID strings, tags are free-form labels."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    KIND: ClassVar[str]  # Admin API collection name, e.g. "services"
    ENDPOINT_KEY: ClassVar[str | None] = "name"  # the field that can stand for the id in URLs and refs

    id: UUIDStr | None = None
    tags: Tags = None
    created_at: int | None = None
    updated_at: int | None = None


def foreign_key(value: Any) -> Any:
    """Kong accepts `{"id": ...}`, `{"name": ...}` or a bare name/id string as a foreign key."""
    if isinstance(value, dict):
        if set(value) - {"id", "name", "username"} or len(value) != 1:
            raise ValueError("a reference must be {'id': ...} or a name")
        return next(iter(value.values()))
    return value
