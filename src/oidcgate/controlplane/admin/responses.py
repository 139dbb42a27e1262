"""JSON responses (orjson) and the entity shape Kong answers with (foreign keys as {"id": ...})."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from oidcgate.controlplane.store import REFERENCES, Entity


class JSON(JSONResponse):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def present(kind: str, entity: Entity) -> Entity:
    """The stored entity as the Admin API shows it: every field, references as {"id": ...}."""
    shown = dict(entity)
    for ref in REFERENCES.get(kind, ()):
        if shown.get(ref) is not None:
            shown[ref] = {"id": shown[ref]}
    return shown
