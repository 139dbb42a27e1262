"""HTTP calls to identity providers: one httpx.AsyncClient per worker process, bounded in time and size.

Every call is counted in `oidcgate_oidc_provider_requests_total{endpoint=...}` (discovery, jwks,
token, introspection; plugins.counters, summed over workers on `/metrics`), which is how tests and
operators see that caching works. Failures to reach
the provider, timeouts, 5xx answers and unparseable bodies all become `ProviderUnavailable` (502):
they are the provider's or the network's fault, not the client's.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from oidcgate.plugins.counters import Counter
from oidcgate.plugins.openid_connect.errors import ProviderUnavailable
from oidcgate.plugins.pdk import PluginEnv
from oidcgate.plugins.tracing import client_span
from oidcgate.tls.trust import provider_verify

log = logging.getLogger("oidcgate.plugins.openid_connect")

MAX_RESPONSE_BYTES = 1 << 20
ENDPOINTS = ("discovery", "jwks", "token", "introspection", "userinfo", "revocation")

# Zeros are exported for every endpoint, so a scrape shows the series before the first call.
PROVIDER_REQUESTS = Counter("oidcgate_oidc_provider_requests_total",
                            "HTTP requests sent by the openid-connect plugin to identity providers",
                            ("endpoint",), [(endpoint,) for endpoint in ENDPOINTS])
PROVIDER_FAILURES = Counter("oidcgate_oidc_provider_failures_total",
                            "Identity provider requests that failed (unreachable, timeout, 5xx, bad body)",
                            ("endpoint",), [(endpoint,) for endpoint in ENDPOINTS])


def provider_requests(endpoint: str) -> int:
    """This process's count of requests to `endpoint` (for tests and the bench)."""
    return int(PROVIDER_REQUESTS.get(endpoint))


class ProviderHTTP:
    """The plugin's HTTP client for one TLS verification setting."""

    def __init__(self, verify: bool) -> None:
        self.client = httpx.AsyncClient(
            verify=provider_verify(verify), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30),
            headers={"Accept": "application/json", "User-Agent": "oidcgate-openid-connect"},
        )

    async def request(self, endpoint: str, method: str, url: str, timeout: float, *,
                      data: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None, json_body: bool = True) -> tuple[int, Any]:
        """(status, parsed JSON body or None); raises ProviderUnavailable when no usable answer came.

        `json_body=False` for endpoints whose success has no body to speak of (RFC 7009 revocation).
        A span when the calling plugin phase is traced (plugins.tracing)."""
        PROVIDER_REQUESTS.inc(endpoint)
        with client_span(method, url) as span:
            span.status_code, parsed = await self._request(endpoint, method, url, timeout, data, headers, json_body)
            return span.status_code, parsed

    async def _request(self, endpoint: str, method: str, url: str, timeout: float, data: dict[str, str] | None,
                       headers: dict[str, str] | None, json_body: bool) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(timeout):
                async with self.client.stream(method, url, data=data, headers=headers,
                                              timeout=httpx.Timeout(timeout)) as response:
                    body = await self._read(response)
        except (TimeoutError, httpx.TimeoutException):
            raise _failed(endpoint, url, f"did not answer within {timeout:g} s") from None
        except _TooLarge:
            raise _failed(endpoint, url, "answered too much data") from None
        except (httpx.HTTPError, OSError) as exc:
            raise _failed(endpoint, url, "could not be reached", detail=_why(exc)) from None
        status = response.status_code
        if status >= 500 or (status >= 300 and status < 400):
            raise _failed(endpoint, url, f"answered HTTP {status}")
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        if status < 300 and json_body and not isinstance(parsed, dict):
            raise _failed(endpoint, url, "answered something other than a JSON object")
        return status, parsed

    async def get_json(self, endpoint: str, url: str, timeout: float) -> dict[str, Any]:
        status, body = await self.request(endpoint, "GET", url, timeout)
        if status != 200:
            raise _failed(endpoint, url, f"answered HTTP {status}")
        return body

    @staticmethod
    async def _read(response: httpx.Response) -> bytes:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        await self.client.aclose()


class _TooLarge(Exception):
    pass


def _why(exc: BaseException) -> str:
    """The exception's name, or what certificate verification said: the one cause an operator can fix here
    (a provider with a private CA needs it in the CA bundle, `--lua-ssl-trusted-certificate`)."""
    cause: BaseException | None = exc
    for _ in range(8):  # httpx wraps the ssl error a few levels deep; bounded
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message}; is its CA in --lua-ssl-trusted-certificate?"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def _failed(endpoint: str, url: str, reason: str, detail: str = "") -> ProviderUnavailable:
    """Count and log a failed provider call; the URL is logged without credentials, query or fragment."""
    PROVIDER_FAILURES.inc(endpoint)
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
    log.warning("openid-connect: %s request to %s failed: %s%s", endpoint, where, reason,
                f" ({detail})" if detail else "")
    return ProviderUnavailable(f"the identity provider {reason} ({endpoint})")


def http_client(env: PluginEnv, state: dict[str, Any], verify: bool) -> ProviderHTTP:
    """The process-wide client for this TLS setting, created on first use and closed with the env."""
    clients: dict[bool, ProviderHTTP] = state.setdefault("http_clients", {})
    client = clients.get(verify)
    if client is None:
        client = clients[verify] = ProviderHTTP(verify)
        env.on_close(client.aclose)
    return client
