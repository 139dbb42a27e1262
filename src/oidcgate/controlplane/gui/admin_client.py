"""The GUI's only way to the data: the Admin API's ASGI app, called in-process over httpx.

Going through the Admin API (not the store) means every rule it enforces (schemas, uniqueness,
references, the admin token) holds for the GUI too: nothing it refuses can be done here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from oidcgate.controlplane.gui.security import ASGIApp

PAGE_SIZE = 1000
MAX_PAGES = 100  # lists stop at 100,000 entities: a bound, not a limit anyone should meet in a browser


def segment(value: str) -> str:
    """One path segment for an id or name (consumer usernames may hold any text)."""
    return quote(value, safe="")


# Kong error codes whose `fields` hold the offending values (a clashing name, a missing reference),
# not messages: primary key, foreign key and unique violations.
VALUE_FIELD_CODES = frozenset({3, 4, 5})


class AdminError(Exception):
    """The Admin API refused a call: its status, Kong's `code`, `message` and per-field `fields`."""

    def __init__(self, status: int, message: str, fields: Mapping[str, Any] | None = None,
                 code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields: Mapping[str, Any] = fields or {}
        self.code = code
        self.body = body

    @property
    def fields_are_values(self) -> bool:
        return self.status == 409 or self.code in VALUE_FIELD_CODES


class AdminClient:
    def __init__(self, admin_app: ASGIApp, admin_token: str | None) -> None:
        headers = {"Kong-Admin-Token": admin_token} if admin_token else {}
        transport = httpx.ASGITransport(app=admin_app, raise_app_exceptions=False)
        self._http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers,
                                       timeout=30.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON body (None for 204); raises AdminError for any 4xx/5xx."""
        response = await self._http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def list_all(self, path: str) -> list[dict[str, Any]]:
        """Every entity of a collection, following Kong's `offset` pagination."""
        items: list[dict[str, Any]] = []
        params = {"size": str(PAGE_SIZE)}
        for _ in range(MAX_PAGES):
            page = await self.get(path, params)
            items.extend(page.get("data") or [])
            offset = page.get("offset")
            if not offset:
                break
            params = {"size": str(PAGE_SIZE), "offset": str(offset)}
        return items

    async def create(self, collection: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("POST", collection, json=dict(body))
        return result

    async def replace(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PUT", path, json=dict(body))
        return result

    async def update(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PATCH", path, json=dict(body))
        return result

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)


def _error(response: httpx.Response) -> AdminError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        fields = body.get("fields") if isinstance(body.get("fields"), dict) else None
        code = body.get("code") if isinstance(body.get("code"), int) else None
        return AdminError(response.status_code, str(body.get("message") or response.reason_phrase), fields,
                          code, body)
    return AdminError(response.status_code, response.text[:500] or response.reason_phrase)
