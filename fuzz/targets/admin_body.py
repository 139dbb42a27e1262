"""Admin API form bodies (Kong's `curl --data` syntax): decoded, typed by the entity's schema and validated
as the Admin API does (`bodies.form_items` → `forms.decode` → `forms.coerce` → `validate_entity`).

Refusals are the Admin API's 400s (BadRequest, SchemaViolation); any other exception would be a 500.
Oracle: an accepted entity validates again, unchanged, from its own JSON form (what the store keeps and
what `GET` returns), so a form body cannot produce an entity the JSON API would refuse.
"""

from __future__ import annotations

import asyncio

from fuzz.harness import ACCEPTED, REFUSED, Target, WrongAccept

KINDS = ("services", "routes", "consumers", "plugins", "upstreams", "targets")
SEEDS = [
    b"\x00name=httpbin&url=http://127.0.0.1:9090/anything&retries=3&tags[]=a&tags[]=b",
    b"\x01name=r&paths[]=/a&paths[2]=~/x$&methods=GET&hosts=*.example.com&strip_path=false",
    b"\x02username=alice&custom_id=7",
    b"\x03name=openid-connect&config.issuer=http://127.0.0.1:9000/oauth2/default"
    b"&config.auth_methods=bearer&config.upstream_headers_claims=iss&config.upstream_headers_names=Issuer_Header",
    b"\x03name=request-transformer&config.add.headers=x-a:1&config.remove.headers[]=cookie",
    b"\x04name=pool&algorithm=round-robin",
    b"\x05target=127.0.0.1:9090&weight=10&upstream.id=6a7f9d24-0b9f-4b3a-9e0f-2b1c0c1b7e11",
]


def target() -> Target:
    from oidcgate.controlplane.admin import bodies, forms
    from oidcgate.controlplane.admin.schemas import entity_json_schema, plugin_json_schema
    from oidcgate.controlplane.errors import AdminError
    from oidcgate.controlplane.store import validate_entity
    from oidcgate.plugins import registry

    loop = asyncio.new_event_loop()
    schemas = {kind: entity_json_schema(kind) for kind in KINDS}

    def one(data: bytes) -> str:
        kind, raw = KINDS[data[0] % len(KINDS)] if data else KINDS[0], data[1:]
        try:
            items = loop.run_until_complete(bodies.form_items(None, raw, "application/x-www-form-urlencoded"))  # type: ignore[arg-type]
            document = forms.decode(items)
            schema = schemas[kind]
            name = document.get("name") if kind == "plugins" else None
            if isinstance(name, str) and name in registry.available():
                schema = plugin_json_schema(name)
            entity = validate_entity(kind, forms.coerce(document, schema, schema.get("$defs", {})))
        except AdminError:  # BadRequest, SchemaViolation: the Admin API's 400s
            return REFUSED
        if validate_entity(kind, entity) != entity:
            raise WrongAccept(f"a {kind} entity from a form changed when validated again: {raw[:200]!r}")
        return ACCEPTED

    return Target("admin_body", "Admin API form bodies, typed and validated", SEEDS, one)
