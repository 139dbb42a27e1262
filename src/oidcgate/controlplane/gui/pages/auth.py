"""Sign in with the admin token (when the control plane has one), and sign out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oidcgate.controlplane.gui.security import start_session
from oidcgate.controlplane.gui.web import form_values, gui, local_path, redirect, render


async def login(request: Request) -> Response:
    state = gui(request)
    target = local_path(request.query_params.get("next"), "/")
    if not state.token_required:
        return redirect(target)
    error = None
    if request.method == "POST":
        form = await form_values(request)
        if state.codec.check_admin_token(state.admin_token, form.first("token") or ""):
            start_session(request.scope, state.codec, authenticated=True)
            return redirect(target)
        error = "That is not the admin token of this control plane."
    return render(request, "login.html", {"title": "Sign in", "error": error, "next": target},
                  status=401 if error else 200)


async def logout(request: Request) -> Response:
    start_session(request.scope, gui(request).codec, authenticated=False)
    return redirect("/login", "signed-out" if gui(request).token_required else None)


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
]
