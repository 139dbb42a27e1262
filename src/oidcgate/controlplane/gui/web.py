"""What every page handler shares: the GUI state, page rendering, redirects and form errors."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from oidcgate import __version__
from oidcgate.controlplane.gui import charts
from oidcgate.controlplane.gui.admin_client import AdminClient, AdminError
from oidcgate.controlplane.gui.forms import (
    FieldErrors,
    FormField,
    FormValues,
    flatten_errors,
    label,
    place_errors,
)
from oidcgate.controlplane.gui.security import SessionCodec, session_of
from oidcgate.controlplane.gui.timefmt import absolute_time, relative_time

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"

NAV: tuple[tuple[str, str, str], ...] = (
    ("overview", "Overview", "/"),
    ("services", "Gateway Services", "/services"),
    ("routes", "Routes", "/routes"),
    ("consumers", "Consumers", "/consumers"),
    ("consumer_groups", "Consumer Groups", "/consumer_groups"),
    ("plugins", "Plugins", "/plugins"),
    ("certificates", "Certificates", "/certificates"),
    ("runtime", "Data Plane Nodes", "/runtime"),
    ("analytics", "Analytics", "/analytics"),
)

# Messages a redirect may ask the next page to show (`?done=created`): fixed texts, nothing reflected.
NOTICES: dict[str, str] = {
    "created": "Created.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "added": "Added.",
    "removed": "Removed.",
    "enabled": "Plugin enabled.",
    "disabled": "Plugin disabled.",
    "signed-out": "Signed out.",
}


@dataclass(frozen=True)
class Gui:
    """Everything the handlers need, kept on `app.state.gui`."""

    admin: AdminClient
    codec: SessionCodec
    env: jinja2.Environment
    admin_token: str | None

    @property
    def token_required(self) -> bool:
        return self.admin_token is not None


def gui(request: Request) -> Gui:
    state: Gui = request.app.state.gui
    return state


def admin(request: Request) -> AdminClient:
    return gui(request).admin


def _asset_versions() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in STATIC_DIR.iterdir() if p.is_file()}


def make_env() -> jinja2.Environment:
    """Templates with autoescaping always on: every value from the Admin API is user-supplied text."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    versions = _asset_versions()
    env.globals["static"] = lambda name: f"/static/{name}?v={versions.get(name, '0')}"
    env.globals["version"] = __version__
    env.filters["ago"] = lambda ts: relative_time(ts, time.time())
    env.filters["when"] = absolute_time
    env.globals["scope_label"] = scope_label
    env.filters["prose"] = prose
    env.filters["clock"] = charts.clock_time
    env.filters["amount"] = charts.number
    return env


def prose(text: str | None) -> Markup:
    """Schema descriptions as HTML: escaped first, then `code` spans (as the plugins write them) set as <code>."""
    escaped = str(escape(text or ""))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def render(request: Request, template: str, context: Mapping[str, Any], *, section: str | None = None,
           status: int = 200) -> HTMLResponse:
    state = gui(request)
    session = session_of(request.scope)
    page = {
        "request": request,
        "nav": NAV,
        "section": section,
        "csrf_token": state.codec.csrf_token(session),
        "token_required": state.token_required,
        "signed_in": session.authenticated,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "error": None,
        **context,
    }
    html = state.env.get_template(template).render(page)
    # Pages carry CSRF tokens and configuration: never kept by a shared cache or the back button's store.
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def redirect(path: str, done: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={done}" if done else path, status_code=303)


def local_path(value: str | None, fallback: str) -> str:
    """A same-site path to return to after an action; anything else (//evil, https://...) falls back."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


async def form_values(request: Request) -> FormValues:
    form = await request.form()
    return FormValues((k, v) for k, v in form.multi_items() if isinstance(v, str))


def form_errors(exc: AdminError, fields: Sequence[FormField]) -> FieldErrors:
    """The Admin API's refusal as messages next to the inputs they concern."""
    if exc.fields_are_values:  # e.g. {"name": "taken-name"}: the message goes next to each field named
        flat = {key: exc.message for key in exc.fields if not key.startswith("@")}
    else:
        flat = flatten_errors(exc.fields)
    placed = place_errors(flat, fields)
    if not flat or (exc.fields_are_values and exc.message not in placed.general):
        placed.general.insert(0, exc.message)
    return placed


SCOPES: tuple[str, ...] = ("service", "route", "consumer", "consumer_group")  # what a plugin may apply to


def scope_label(entity: Mapping[str, Any], names: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """[(kind as shown, page, display name)] of what a plugin applies to; [] for global."""
    found = []
    for kind in SCOPES:
        ref = entity.get(kind)
        if isinstance(ref, Mapping) and ref.get("id"):
            ref_id = str(ref["id"])
            found.append((label(kind), f"/{kind}s/{ref_id}", names.get(ref_id, ref_id)))
    return found
