"""Sending a queue's batch to a collector over HTTP (http-log's JSON, opentelemetry's OTLP protobuf).

One request per batch on a kept-alive connection; a status of 300 or more, a timeout or a connection
failure raises `SendFailed`, and the queue retries the batch (plugins.queue). User information in the
URL becomes a Basic Authorization header, and the URL in messages has no user information and no query,
so a collector's credentials are never logged. TLS certificates of an https collector are verified.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx


class SendFailed(Exception):
    pass


def collector_url(value: str) -> str:
    """A collector's URL for a config field: http(s) with a host (the message never repeats the value,
    which may hold credentials)."""
    parts = urlsplit(value)
    try:
        if parts.scheme in ("http", "https") and parts.hostname and (parts.port is None or parts.port > 0):
            return value
    except ValueError:
        pass
    raise ValueError("expected an http or https URL with a host (and a valid port)")


def public_url(url: str) -> str:
    """`url` without user information, query or fragment (what may be logged)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))


class HttpSink:
    """A collector's address, request settings and client; `encode` makes a batch the request body."""

    def __init__(self, url: str, method: str, headers: Mapping[str, str], timeout: httpx.Timeout, keepalive: float,
                 encode: Callable[[list[Any]], bytes]) -> None:
        """`keepalive` in seconds; `headers` are sent with every request."""
        parts = urlsplit(url)
        self.url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path or "/", parts.query, ""))
        self.where = public_url(url)
        self.method, self.timeout, self.keepalive, self.encode = method, timeout, keepalive, encode
        self.headers = dict(headers)
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.client: httpx.AsyncClient | None = None

    async def send(self, batch: list[Any]) -> None:
        if self.client is None:
            self.client = httpx.AsyncClient(trust_env=False, follow_redirects=False, limits=httpx.Limits(
                max_connections=4, max_keepalive_connections=1, keepalive_expiry=self.keepalive))
        try:
            response = await self.client.request(self.method, self.url, content=self.encode(batch),
                                                 headers=self.headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise SendFailed(f"{self.where} timed out ({type(exc).__name__})") from None
        except (httpx.HTTPError, OSError) as exc:
            raise SendFailed(f"{self.where} could not be reached ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise SendFailed(f"{self.where} answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
