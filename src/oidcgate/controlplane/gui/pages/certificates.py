"""Certificates and CA certificates: lists and details from what the certificates say (subject, SANs,
expiry, key type: `tls.pem.summary`), the SNIs that select them, delete. Keys are never read into a
page: each entity is reduced to its public fields before a template sees it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.admin_client import segment
from oidcgate.controlplane.gui.pages.editing import delete_entity
from oidcgate.controlplane.gui.web import admin, render
from oidcgate.tls import pem

SECTION = "certificates"
SOON_DAYS = 30  # an expiry this close is flagged


@dataclass(frozen=True)
class Shown:
    """One certificate PEM as a page shows it."""

    summary: pem.Summary
    seconds_left: float

    @property
    def days_left(self) -> int:
        return math.ceil(self.seconds_left / 86400)

    @property
    def expiry_state(self) -> str:
        return "expired" if self.seconds_left <= 0 else "soon" if self.days_left <= SOON_DAYS else "ok"


def shown(cert_pem: str, now: float | None = None) -> Shown:
    summary = pem.summary(cert_pem)
    return Shown(summary, summary.not_after.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class View:
    """The public face of a certificate or CA certificate entity: no `key`, no `key_alt`."""

    id: str
    pems: list[Shown]  # the certificate, then its alternative one
    tags: list[str] | None
    created_at: int | None
    snis: list[str] | None = None  # certificates only
    digest: str | None = None  # CA certificates only

    @property
    def title(self) -> str:
        return self.pems[0].summary.common_name or self.pems[0].summary.subject or self.id


def certificate_view(entity: dict[str, Any]) -> View:
    pems = [entity["cert"], *([entity["cert_alt"]] if entity.get("cert_alt") else [])]
    return View(entity["id"], [shown(p) for p in pems], entity.get("tags"), entity.get("created_at"),
                snis=entity.get("snis") or [])


def ca_view(entity: dict[str, Any]) -> View:
    return View(entity["id"], [shown(entity["cert"])], entity.get("tags"), entity.get("created_at"),
                digest=entity.get("cert_digest"))


async def certificate_list(request: Request) -> Response:
    client = admin(request)
    certificates = [certificate_view(e) for e in await client.list_all("/certificates")]
    cas = [ca_view(e) for e in await client.list_all("/ca_certificates")]
    return render(request, "certificates/list.html", {"title": "Certificates", "certificates": certificates,
                                                      "cas": cas}, section=SECTION)


async def _show(request: Request, kind: str, entity_id: str, *, error: str | None = None,
                status: int = 200) -> Response:
    client = admin(request)
    entity = await client.get(f"/{kind}/{segment(entity_id)}")
    used_by = [s for s in await client.list_all("/services")
               if entity["id"] in (s.get("ca_certificates") or ())
               or (s.get("client_certificate") or {}).get("id") == entity["id"]]
    view = certificate_view(entity) if kind == "certificates" else ca_view(entity)
    return render(request, "certificates/detail.html", {
        "title": view.title, "kind": kind, "item": view, "services": used_by, "error": error,
    }, section=SECTION, status=status)


async def certificate_detail(request: Request) -> Response:
    return await _show(request, "certificates", request.path_params["id"])


async def ca_detail(request: Request) -> Response:
    return await _show(request, "ca_certificates", request.path_params["id"])


async def _delete(request: Request, kind: str) -> Response:
    entity_id = request.path_params["id"]

    async def refused(message: str, status: int) -> Response:
        return await _show(request, kind, entity_id, error=message, status=status)

    return await delete_entity(request, f"/{kind}/{segment(entity_id)}", refused, "/certificates")


async def certificate_delete(request: Request) -> Response:
    return await _delete(request, "certificates")


async def ca_delete(request: Request) -> Response:
    return await _delete(request, "ca_certificates")


routes = [
    Route("/certificates", certificate_list),
    Route("/certificates/{id}", certificate_detail),
    Route("/certificates/{id}/delete", certificate_delete, methods=["POST"]),
    Route("/ca_certificates/{id}", ca_detail),
    Route("/ca_certificates/{id}/delete", ca_delete, methods=["POST"]),
]
