"""Kong's `snis` shorthand on `/certificates` (kong/api/routes/certificates.lua, kong/db/dao/certificates.lua).

A certificate write may carry `snis: ["a.example", ...]`: the certificate then has exactly those SNIs
(created, kept or deleted in the same transaction). Every certificate is answered with its sorted
`snis`; `/certificates/{sni}` (and `/certificates/{sni}/snis`) name a certificate by one of its SNIs,
404 "SNI not found" otherwise, except `PUT /certificates/{new sni}`, which creates a certificate
with that SNI. SNIs stay entities of their own: `/snis` and kong.yml are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from oidcgate.config.certificates import sni_name
from oidcgate.config.errors import FieldError
from oidcgate.controlplane.admin.bodies import entity_body
from oidcgate.controlplane.admin.entities import Collection, Endpoints, run
from oidcgate.controlplane.admin.responses import JSON
from oidcgate.controlplane.errors import NotFound, SchemaViolation
from oidcgate.controlplane.store import Entity, Scope, Store, is_uuid

KIND = "certificates"


def take_snis(body: dict[str, Any]) -> list[str] | None:
    """Remove `snis` from a certificate body: None when absent, else its names normalized (null clears
    them, as in Kong; a form's single `snis=` value is one name). Duplicates are refused like Kong's."""
    if "snis" not in body:
        return None
    value = body.pop("snis")
    values = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SchemaViolation([FieldError("snis", "expected an array of host names")])
    names: list[str] = []
    for raw in values:
        try:
            name = sni_name(raw)
        except ValueError as exc:
            raise SchemaViolation([FieldError("snis", str(exc))]) from None
        if name in names:
            raise SchemaViolation([FieldError("snis", f"{name} is duplicated")])
        names.append(name)
    return names


async def certificate_id(store: Store, key: str) -> str | None:
    """The id a URL names: an id as given, an SNI name as its certificate's id, None for an unknown SNI."""
    if is_uuid(key):
        return key
    page = await run(store.page, "snis", size=1, where={"name": key.lower()})
    return page.data[0]["certificate"] if page.data else None


async def known_certificate_id(store: Store, key: str) -> str:
    found = await certificate_id(store, key)
    if found is None:
        raise NotFound("SNI not found")
    return found


class Certificates(Endpoints):
    """`/certificates` and `/certificates/{id or sni}` with the `snis` shorthand."""

    async def shown(self, entities: list[Entity]) -> list[Entity]:
        names = await run(self.store.sni_names, [e["id"] for e in entities])
        return [{**e, "snis": names[e["id"]]} for e in entities]

    async def collection(self, request: Request) -> Response:
        if request.method != "POST":
            return await self.page(request, None)
        body = await entity_body(request, KIND)
        snis = take_snis(body)
        return JSON(await run(self.store.save_certificate, None, body, snis), 201)

    async def item(self, request: Request) -> Response:
        key = request.path_params["key"]
        if request.method == "PUT":
            body = await entity_body(request, KIND)
            snis = take_snis(body)
            found = await certificate_id(self.store, key)
            if found is None:  # PUT /certificates/{new sni}: a new certificate answering that name
                snis = take_snis({"snis": [*(n for n in snis or () if n != key.lower()), key]})
            return JSON(await run(self.store.save_certificate, found, body, snis))
        found = await known_certificate_id(self.store, key)
        if request.method == "GET":
            return JSON((await self.shown([await run(self.store.get, KIND, found)]))[0])
        if request.method == "DELETE":
            await run(self.store.delete, KIND, found)
            return Response(status_code=204)
        body = await entity_body(request, KIND)
        snis = take_snis(body)
        return JSON(await run(self.store.save_certificate, found, body, snis, patch=True))


class CertificateSNIs(Endpoints):
    """`/certificates/{id or sni}/snis`: the parent may be named by one of its SNIs."""

    async def scope(self, request: Request) -> Scope | None:
        parent = await run(self.store.get, KIND, await known_certificate_id(self.store, request.path_params["parent"]))
        return {"certificate": parent["id"]}


ENDPOINTS: Mapping[Collection, type[Endpoints]] = {
    Collection(KIND): Certificates,
    Collection("snis", (KIND, "certificate")): CertificateSNIs,
}
