"""Fixtures: the real Admin API on a real (SQLite) store, and the GUI app in front of it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from oidcgate.controlplane import database, migrate
from oidcgate.controlplane.admin.app import create_app as create_admin_app
from oidcgate.controlplane.gui.app import create_app as create_gui_app
from oidcgate.controlplane.store import Store

ADMIN_TOKEN = "gui-test-admin-token"
FORM = {"content-type": "application/x-www-form-urlencoded"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    engine = database.create(f"sqlite:///{tmp_path / 'cp.db'}")
    migrate.upgrade(engine)
    yield Store(engine)
    engine.dispose()


class Gui:
    """A browser-like client of the GUI (cookies kept, no redirects followed) and the Admin API beside it."""

    def __init__(self, app: Starlette, admin_app: Any, admin_token: str | None) -> None:
        self.app = app
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
        headers = {"Kong-Admin-Token": admin_token} if admin_token else {}
        self.admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=admin_app), base_url="http://127.0.0.1",
                                       headers=headers)

    async def token_for(self, path: str) -> str:
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    async def post_form(self, path: str, data: dict[str, Any] | list[tuple[str, str]],
                        *, form_page: str | None = None) -> httpx.Response:
        """Submit like a browser: fetch the page with the form first, then post with its CSRF token."""
        token = await self.token_for(form_page or path)
        items = list(data.items()) if isinstance(data, dict) else list(data)
        return await self.http.post(path, content=urlencode([("csrf_token", token), *items]), headers=FORM)

    async def count(self, collection: str) -> int:
        body = (await self.admin.get(collection)).json()
        return len(body["data"])

    async def close(self) -> None:
        await self.http.aclose()
        await self.admin.aclose()
        await self.app.state.gui.admin.aclose()


@pytest.fixture
async def gui(store: Store) -> AsyncIterator[Gui]:
    """The GUI without an admin token (the default loopback-only setup)."""
    admin_app = create_admin_app(store)
    client = Gui(create_gui_app(admin_app, admin_token=None), admin_app, None)
    yield client
    await client.close()


@pytest.fixture
async def guarded_gui(store: Store) -> AsyncIterator[Gui]:
    """The GUI of a control plane that has an admin token."""
    admin_app = create_admin_app(store, admin_token=ADMIN_TOKEN)
    client = Gui(create_gui_app(admin_app, admin_token=ADMIN_TOKEN), admin_app, ADMIN_TOKEN)
    yield client
    await client.close()
