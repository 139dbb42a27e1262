"""A cookie jar in front of the handler-level Gateway (what a browser keeps and sends back), and the
sign-in route's config against oauth2-mock-server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.plugins.openid_connect.harness import Gateway, Result
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider

SECRET = "handler-test-secret"


def config(mock: MockProvider, **changes: Any) -> dict[str, Any]:
    """A route at http://gw/orders where browsers sign in as the mock's `web` client."""
    return {"issuer": mock.issuer, "client_id": ["web"], "client_secret": [MOCK_CLIENTS["web"]["secret"]],
            "auth_methods": ["authorization_code", "session", "refresh_token"], "session_secret": SECRET,
            "redirect_uri": ["http://gw/orders"], "upstream_headers_claims": ["sub", "groups"],
            "upstream_headers_names": ["X-User", "X-Groups"], "upstream_id_token_header": "X-ID-Token", **changes}


@dataclass
class Jar:
    """Cookies as a browser keeps them from Set-Cookie (Max-Age=0 removes one)."""

    cookies: dict[str, str] = field(default_factory=dict)

    def take(self, result: Result) -> None:
        for name, value in result.ctx.response_header_items():
            if name.lower() != "set-cookie":
                continue
            pair = value.split(";")[0]
            key, _, val = pair.partition("=")
            if "Max-Age=0" in value:
                self.cookies.pop(key, None)
            else:
                self.cookies[key] = val

    def header(self) -> list[tuple[str, str]]:
        return [("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))] if self.cookies else []


async def visit(gw: Gateway, jar: Jar, query: str = "", method: str = "GET") -> Result:
    result = await gw.call(jar.header(), query=query, method=method)
    jar.take(result)
    return result


def location(result: Result) -> str:
    assert result.status == 302, (result.status, result.body)
    return (result.headers or {})["Location"]


async def sign_in(gw: Gateway, jar: Jar) -> tuple[Result, str]:
    """/orders → the provider's authorize (oauth2-mock-server answers at once) → the callback: its result,
    and the callback's query (to replay it)."""
    start = await visit(gw, jar)
    answer = httpx.get(location(start), timeout=10, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    query = urlsplit(answer.headers["location"]).query
    return await visit(gw, jar, query=query), query
