"""The create/edit flow every entity form shares: parse, send to the Admin API, or show its errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from oidcgate.controlplane.gui.admin_client import AdminError, segment
from oidcgate.controlplane.gui.forms import (
    FieldErrors,
    FormField,
    FormValues,
    initial_values,
    parse_form,
    place_errors,
    submitted_values,
)
from oidcgate.controlplane.gui.web import admin, form_errors, form_values, redirect, render

Send = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Refused = Callable[[str, int], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
Show = Callable[..., Awaitable[Response]]  # (request, entity id, *, error=, status=): an entity's page


@dataclass
class Section:
    """A titled part of a form (a plugin form has "General" and "Configuration")."""

    title: str | None
    fields: Sequence[FormField]


@dataclass
class FormState:
    """What a form page shows: its sections, each input's value, and the errors to put next to them."""

    sections: list[Section]
    values: dict[str, Any]
    errors: FieldErrors = field(default_factory=FieldErrors)
    saved: dict[str, Any] | None = None

    @property
    def fields(self) -> list[FormField]:
        return [f for section in self.sections for f in section.fields]


def blank_form(sections: list[Section], stored: Mapping[str, Any] | None = None) -> FormState:
    """A form showing `stored` (an entity from the Admin API), or the schema defaults."""
    all_fields = [f for s in sections for f in s.fields]
    return FormState(sections, initial_values(all_fields, stored))


async def submit_form(sections: list[Section], form: FormValues, send: Send, *,
                      stored: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> FormState:
    """Send the form's body (plus `extra`, e.g. the service a route belongs to); keep what was typed on refusal.

    Only 4xx refusals become form errors; anything else (the Admin API failing) propagates.
    """
    state = FormState(sections, {})
    local: dict[str, str] = {}
    body = parse_form(state.fields, form, stored, local) | dict(extra or {})
    if local:
        state.errors = place_errors(local, state.fields)
    else:
        try:
            state.saved = await send(body)
            return state
        except AdminError as exc:
            if not 400 <= exc.status < 500 or exc.status in (401, 403):
                raise
            state.errors = form_errors(exc, state.fields)
    state.values = submitted_values(state.fields, form, stored)
    return state


async def delete_entity(request: Request, path: str, refused: Refused, then: str, done: str = "deleted") -> Response:
    """Delete through the Admin API; a refusal it explains (e.g. routes still use a service) is shown."""
    try:
        await admin(request).delete(path)
    except AdminError as exc:
        if exc.status in (400, 409):
            return await refused(f"Not {done}: {exc.message}", exc.status)
        raise
    return redirect(then, done)


def creation_page(collection: str, noun: str, crumb: str, sections: list[Section]) -> Endpoint:
    """`/<collection>/new` of a top-level entity with one form (its GUI section is the collection): the
    blank form, then the created entity's page, or the form again with what the Admin API refused."""

    def form_page(request: Request, state: FormState) -> Response:
        return render(request, "form.html", {
            "title": f"New {noun}", "state": state, "action": f"/{collection}/new", "cancel": f"/{collection}",
            "submit": "Create", "crumbs": [(crumb, f"/{collection}")],
        }, section=collection, status=400 if state.errors else 200)

    async def new(request: Request) -> Response:
        if request.method == "GET":
            return form_page(request, blank_form(sections))
        state = await submit_form(sections, await form_values(request),
                                  lambda body: admin(request).create(f"/{collection}", body))
        if state.saved is not None:
            return redirect(f"/{collection}/{state.saved['id']}", "created")
        return form_page(request, state)

    return new


def deletion(collection: str, show: Show) -> Endpoint:
    """`/<collection>/{id}/delete`: back to the list, or the entity's page with the Admin API's refusal."""

    async def delete(request: Request) -> Response:
        entity_id = request.path_params["id"]

        async def refused(message: str, status: int) -> Response:
            return await show(request, entity_id, error=message, status=status)

        return await delete_entity(request, f"/{collection}/{segment(entity_id)}", refused, f"/{collection}")

    return delete
